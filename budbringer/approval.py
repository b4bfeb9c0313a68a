"""Approval: who approved which exact content, when, and under which reference.

An approval binds the hash of every rendered variant. Delivery refuses a variant whose hash the approval
does not cover, so any change to the message, a template or the plan's wording after approval needs a new
approval.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from budbringer.errors import ApprovalError
from budbringer.plan import ApprovalPolicy
from budbringer.render import Variant
from budbringer.clock import default_clock


def approval_hash(variant_hashes: dict[str, str]) -> str:
    """One hash over every variant's hash: what an approver approves as a whole."""
    lines = "\n".join(f"{forum}={digest}" for forum, digest in sorted(variant_hashes.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


@dataclass(frozen=True)
class Approval:
    message_id: str
    variant_hashes: dict[str, str]
    approved_by: str
    reference: str
    approved_at: dt.datetime = field(default_factory=default_clock)
    override_order: bool = False
    override_reason: str = ""
    id: int | None = None

    @property
    def hash(self) -> str:
        return approval_hash(self.variant_hashes)

    def covers(self, variant: Variant) -> bool:
        return self.variant_hashes.get(variant.forum) == variant.content_hash


def approvers(text: str) -> list[str]:
    """'Mette Lund' or 'Jens Kragh, Sofie Dahl' → the names."""
    return [name.strip() for name in text.replace(";", ",").split(",") if name.strip()]


def check_approvers(policy: ApprovalPolicy, approved_by: str) -> None:
    """Raise ApprovalError unless the policy allows these people to approve.

    Allowed: the chair alone (when the policy says so); enough members; or the group itself ("Styregruppen"),
    whose decision the reference (the minutes) documents.
    """
    names = approvers(approved_by)
    if not names:
        raise ApprovalError("no approver given: pass --approved-by with the chair, members or the group")
    if len(names) == 1 and names[0].casefold() == policy.title.casefold():
        return
    unknown = [name for name in names if policy.member(name) is None]
    if unknown:
        raise ApprovalError(
            f"{', '.join(unknown)} may not approve: only members of {policy.title} "
            f"({', '.join(m.name for m in policy.members)}) or the group itself may")
    members = {policy.member(name).name for name in names}  # type: ignore[union-attr]
    if policy.chair_may_approve_alone and policy.member(policy.chair).name in members:  # type: ignore[union-attr]
        return
    if len(members) < policy.members_required:
        raise ApprovalError(
            f"{len(members)} of {policy.members_required} required members approved; "
            f"the chair ({policy.chair}) may approve alone")


def as_spelled(policy: ApprovalPolicy, approved_by: str) -> str:
    """The approvers as the plan spells them ("mette lund" or her e-mail address → "Mette Lund"; the group
    → its title), so that the ledger and every report name the same person the same way."""
    spelled = []
    for name in approvers(approved_by):
        member = policy.member(name)
        spelled.append(member.name if member is not None else
                       policy.title if name.casefold() == policy.title.casefold() else name)
    return ", ".join(dict.fromkeys(spelled))


def check_override(policy: ApprovalPolicy, approved_by: str, reason: str) -> None:
    """The one rule for overriding the plan's order (releasing every tier at once, calendar gates too):
    only the chair may, so the chair must be among the approvers, and the reason is recorded.

    Every path applies it: `send --override-order`, a deployment's `override_order` parameter (both through
    `grant`), and an approval collected in the run (`approval_request.with_override`). The group's own
    decision ("Styregruppen") does not name the chair, so it does not carry an override."""
    chair = policy.member(policy.chair)
    names = {name.casefold() for name in approvers(as_spelled(policy, approved_by))}
    if chair is None or chair.name.casefold() not in names:
        raise ApprovalError(f"only the chair ({policy.chair}) may override the order, and the chair is not among "
                            f"the approvers ({approved_by.strip() or 'none'}): send without --override-order, or "
                            f"let the chair approve")
    if not reason.strip():
        raise ApprovalError("overriding the order needs a reason: pass --reason TEXT")


def grant(policy: ApprovalPolicy, message_id: str, variants: Iterable[Variant], approved_by: str,
          reference: str, override_order: bool = False, override_reason: str = "") -> Approval:
    """An approval of exactly these variants, refused unless the policy allows the approvers (and, for an
    override of the order, unless the chair is among them)."""
    check_approvers(policy, approved_by)
    if override_order:
        check_override(policy, approved_by, override_reason)
    if not reference.strip():
        raise ApprovalError("an approval needs a reference (the minutes, a case number): pass --approval-ref")
    return Approval(message_id=message_id, variant_hashes={v.forum: v.content_hash for v in variants},
                    approved_by=as_spelled(policy, approved_by), reference=reference.strip(),
                    override_order=override_order, override_reason=override_reason.strip())
