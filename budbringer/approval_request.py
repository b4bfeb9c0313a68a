"""Approval inside a run: ask the steering group, collect its decisions, remind, escalate, tell the author.

The flow renders every variant and opens a *request* for exactly that content (its approval hash). The
request goes to the approvers once; each approver decides (approve, or reject with a comment) in the
Prefect UI's form or with `budbringer approve`. Decisions are kept in the ledger, so a run that is resumed,
retried or started again finds them. When the decisions satisfy the policy (the chair alone, or enough
members) an `Approval` is recorded that binds every variant's hash, exactly as an approval given up front.
A rejection closes the request: nothing is sent and the author is told why. A changed message has another
approval hash, so it opens a new request and voids the old one.

Every notice (the request, each reminder, the escalation to the chair, the rejection) is keyed in the
ledger and sent at most once however often a run is resumed. Plain Python: no Prefect here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from budbringer.channel import Adapter
from budbringer import approval as approval_
from budbringer import cascade, deadlines, notice_mail, readability, render
from budbringer import comment as comment_
from budbringer.approval import Approval
from budbringer.cascade import Prepared
from budbringer.delivery import Delivery, Notice
from budbringer.errors import (
    ApprovalError,
    BudbringerError,
    DeliveryError,
    InputError,
    PermanentDeliveryError,
    Problem,
)
from budbringer.ledger import (Account, ApprovalRequest, Ledger, NoticeKind, NoticeOutcome, OutcomeState, RequestClosed,
                               RequestState, State, Vote, VoteDecision)
from budbringer.plan import Plan
from budbringer.render import Variant
from budbringer.approval_links import LinkSigner, expiry, is_late
from budbringer.web_address import base_url
from budbringer.clock import default_clock

log = logging.getLogger("budbringer")

APPROVE, REJECT = VoteDecision.APPROVE, VoteDecision.REJECT

#: takes a channel's shared limits (`Adapter.limits`) around one attempt; the flows hand in Prefect's
HoldLimits = Callable[[Adapter, Delivery], AbstractContextManager[object]]


@dataclass(frozen=True)
class Decision:
    """One approver's decision, from the Prefect UI's form or from `budbringer approve`."""

    decision: str  # approve or reject
    by: str
    comment: str = ""

    def __post_init__(self) -> None:
        # every path (page, command line, Prefect form) cleans the comment by the one rule, before anything
        object.__setattr__(self, "comment", comment_.clean(self.comment))


class AlreadyDecided(ApprovalError):
    """The request was closed (approved, rejected or replaced) before this decision: it was not recorded."""

    def __init__(self, request: ApprovalRequest, by: str, earlier: Vote | None = None) -> None:
        self.request, self.earlier = request, earlier
        outcome = {RequestState.APPROVED: "approved", RequestState.REJECTED: "rejected"}.get(
            request.state, "replaced by a newer request (the message changed)")
        if earlier is not None:
            super().__init__(f"{by} had already decided ({earlier.decision}) on {request.message_id}, which is "
                             f"{outcome}; the first decision stands: see `budbringer status`")
        else:
            super().__init__(f"{request.message_id} was already {outcome} before {by}'s decision, which was not "
                             "recorded: see `budbringer status`")


class NudgeFailed(BudbringerError):
    """Some reminders could not be sent (they are retried on the next run); the others were."""

    def __init__(self, failures: list[str], sent: list[str]) -> None:
        self.failures, self.sent = failures, sent
        super().__init__("; ".join(failures))


class LateDecision(ApprovalError):
    """A decision after the approval deadline, where the plan refuses late decisions."""

    def __init__(self, plan: Plan, request: ApprovalRequest) -> None:
        self.request = request
        deadline = local(plan, request.deadline)
        super().__init__(
            f"the approval deadline for {request.message_id} passed at {deadline:%Y-%m-%d %H:%M %Z} and the plan "
            "refuses late decisions (approval.late_decisions: refuse in the plan): nothing was recorded. Ask for "
            "approval for the next meeting (give the message the next month's `date:` and run `budbringer send` "
            "again), or set `late_decisions: accept` to record late decisions marked as late")


class ExpiredRequest(ApprovalError):
    """A request whose links would be dead on arrival: nothing is mailed."""


@dataclass(frozen=True)
class Status:
    """Where a request stands after the decisions so far."""

    request: ApprovalRequest
    votes: list[Vote]
    approval: Approval | None = None
    rejected: bool = False
    needed: str = ""  # what is still needed, while neither approved nor rejected

    @property
    def decided(self) -> bool:
        return self.approval is not None or self.rejected

    @property
    def late(self) -> bool:
        """The request was decided after its approval deadline (accepted: `approval.late_decisions`)."""
        return self.request.decided_at is not None and is_late(self.request, self.request.decided_at)

    def late_votes(self) -> list[Vote]:
        return [v for v in self.votes if is_late(self.request, v.at)]

    def late_note(self, plan: Plan) -> str:
        """One line for the run's report and `status` when the request was decided after its deadline."""
        if not self.late:
            return ""
        who = ", ".join(f"{v.voter} {local(plan, v.at):%Y-%m-%d %H:%M}" for v in self.late_votes())
        return (f"decided after the approval deadline {local(plan, self.request.deadline):%Y-%m-%d %H:%M %Z}"
                + (f" (late: {who})" if who else ""))


def open_request(prepared: Prepared, ledger: Ledger, now: dt.datetime | None = None) -> tuple[ApprovalRequest, bool]:
    """The request for the prepared content, opened once (with its deadline from the OC calendar). A new
    request whose deadline has passed at `now` (the runtime's clock) is refused: its links would be dead."""
    plan, message = prepared.plan, prepared.message
    cascade.refuse_edit_after_delivery(prepared, ledger)
    refuse_late_request(prepared, ledger, now or default_clock())
    schedule = deadlines.schedule_for_message_date(plan, message.date)
    return ledger.open_request(message.id, prepared.approval_hash, message.title,
                               schedule.meeting if schedule else None, schedule.deadline if schedule else None)


def current(prepared: Prepared, ledger: Ledger) -> ApprovalRequest:
    """The open request for exactly the prepared content; refuses when the message changed since."""
    request = ledger.request(prepared.message.id, prepared.approval_hash)
    if request is None:
        latest = ledger.request(prepared.message.id)
        if latest is None:
            raise ApprovalError(f"no approval has been requested for {prepared.message.id}: start a run with "
                                f"`budbringer send {prepared.message.path}` first")
        raise ApprovalError(
            f"{prepared.message.id} has changed since approval was requested (hash {latest.approval_hash[:12]}, "
            f"now {prepared.approval_hash[:12]}): an approval covers exactly what the approvers were sent; run "
            f"`budbringer send {prepared.message.path}` again to request approval of the new content")
    return request


def decide(prepared: Prepared, ledger: Ledger, request: ApprovalRequest, decision: Decision,
           source: str, now: dt.datetime | None = None, signer: Account | None = None) -> Status:
    """Record one approver's decision (with the Entra ID account that signed in for it, if one did) and see
    where the request stands. Refuses anyone outside the policy.

    A decision after the request's deadline (`now`: the runtime's clock) is refused when the plan says
    `approval.late_decisions: refuse`; otherwise it is recorded and the request, once decided, is late
    (`Status.late`). The page, `budbringer approve` and the Prefect form all come here."""
    policy = prepared.plan.approval
    now = now or default_clock()
    if request.approval_hash != prepared.approval_hash:
        raise ApprovalError(f"the decision is for other content than {prepared.message.id} has now: "
                            "the message changed after approval was requested; nothing was approved")
    member = policy.member(decision.by)
    if member is None:
        raise ApprovalError(
            f"{decision.by or '(no name)'} may not decide on {prepared.message.id}: only the members of "
            f"{policy.title} ({', '.join(m.name for m in policy.members)}) may; give your own name as in the plan")
    if decision.decision not in (APPROVE, REJECT):
        raise ApprovalError(f"a decision is {APPROVE} or {REJECT}, not {decision.decision!r}")
    if decision.decision == REJECT and not decision.comment:
        raise ApprovalError("a rejection needs a comment that tells the author what to change: "
                            "pass --comment TEXT (or fill in the comment in the form)")
    if request.state == RequestState.OPEN and is_late(request, now) and policy.late_decisions == "refuse":
        raise LateDecision(prepared.plan, request)
    if comment_.too_long(decision.comment):
        raise ApprovalError(f"the comment has {len(decision.comment):,} characters; a comment is at most "
                            f"{comment_.MAX_LENGTH:,}: shorten it to what the author must change")
    try:
        if not ledger.vote(request.id, member.name, decision.decision, decision.comment, source, signer):
            log.info("%s had already decided on %s; the first decision stands", member.name, request.message_id)
    except RequestClosed:
        earlier = next((v for v in ledger.votes(request.id) if v.voter.casefold() == member.name.casefold()), None)
        fresh = ledger.request(request.message_id, request.approval_hash) or request
        if earlier is not None and earlier.decision == decision.decision:
            # the same decision again (a waiting run resumed with the decision the page or `approve` recorded)
            log.info("%s had already decided on %s; the first decision stands", member.name, request.message_id)
            return evaluate(prepared, ledger, fresh)
        raise AlreadyDecided(fresh, member.name, earlier) from None
    return evaluate(prepared, ledger, request)


def evaluate(prepared: Prepared, ledger: Ledger, request: ApprovalRequest) -> Status:
    """Approved when the approving members satisfy the policy; rejected as soon as one of them rejects.

    An approval of exactly this content recorded earlier (e.g. given up front in the steering group's
    meeting) counts: the request is closed with it."""
    votes = ledger.votes(request.id)
    fresh = ledger.request(request.message_id, request.approval_hash) or request
    if fresh.state == RequestState.OPEN:
        earlier = [a for a in ledger.approvals_for(fresh.message_id) if a.hash == fresh.approval_hash]
        if earlier:
            ledger.decide(fresh.id, RequestState.APPROVED, comment=f"approved earlier: {earlier[0].reference}",
                          approval_id=earlier[0].id)
            fresh = ledger.request(fresh.message_id, fresh.approval_hash) or fresh
    if fresh.state == RequestState.APPROVED and fresh.approval_id is not None:
        return Status(fresh, votes, approval=ledger.approval(fresh.approval_id))
    if fresh.state == RequestState.REJECTED:
        return Status(fresh, votes, rejected=True)
    if fresh.state == RequestState.VOID:
        raise ApprovalError(f"the approval request {fresh.id} for {fresh.message_id} was replaced by a newer one "
                            "(the message changed)")
    rejections = [v for v in votes if v.decision == REJECT]
    if rejections:
        reasons = "; ".join(f"{v.voter}: {v.comment}" for v in rejections)
        if not ledger.decide(fresh.id, RequestState.REJECTED, comment=reasons, votes_seen=len(votes)):
            return evaluate(prepared, ledger, fresh)  # another decision came first: look again
        return Status(ledger.request(fresh.message_id, fresh.approval_hash) or fresh, votes, rejected=True)
    approvers = [v.voter for v in votes if v.decision == APPROVE]
    if not approvers:
        return Status(fresh, votes, needed=_needed(prepared.plan))
    try:
        approval_.check_approvers(prepared.plan.approval, ", ".join(approvers))
    except ApprovalError as exc:
        return Status(fresh, votes, needed=str(exc))
    cascade.refuse_edit_after_delivery(prepared, ledger)
    granted = Approval(message_id=fresh.message_id,
                       variant_hashes={v.forum: v.content_hash for v in prepared.variants},
                       approved_by=", ".join(approvers),
                       reference=f"Budbringer approval request {fresh.id} ({', '.join(_sources(votes))})")
    # The approval is recorded with the closing of the request, in one transaction, and only if no vote came
    # in since the votes were counted (a rejection racing this approval wins, and its author is told the truth)
    recorded = ledger.decide(fresh.id, RequestState.APPROVED, approval=granted, votes_seen=len(votes))
    if not isinstance(recorded, Approval):
        return evaluate(prepared, ledger, fresh)  # another decision came first: look again
    return Status(ledger.request(fresh.message_id, fresh.approval_hash) or fresh, votes,
                  approval=recorded)


def waiting_line(plan: Plan, status: Status, message_path: Path) -> str:
    """What a run that waits for approval says, in one line: who must decide, by when, and where."""
    policy = plan.approval
    decided = {v.voter.casefold() for v in status.votes}
    waiting = [m.name for m in policy.members if m.name.casefold() not in decided]
    deadline = local(plan, status.request.deadline)
    when = f" by {deadline:%Y-%m-%d %H:%M %Z}" if deadline else ""
    approved = [v.voter for v in status.votes if v.decision == APPROVE]
    so_far = f"; approved so far: {', '.join(approved)}" if approved else ""
    return (f"Waiting for {policy.title} to decide on {status.request.message_id}{when}: "
            f"{status.needed or _needed(plan)}{so_far}; not decided: {', '.join(waiting) or 'nobody'}. "
            f"They decide on their personal page at {base_url(plan)}/ (the link in their request mail), or with "
            f"`budbringer approve {_shown(message_path)} --by NAME`.")


def _needed(plan: Plan) -> str:
    policy = plan.approval
    alone = f"the chair ({policy.chair}) alone, or " if policy.chair_may_approve_alone else ""
    return f"approval by {alone}{policy.members_required} members of {policy.title}"


#: how a decision was given, as the approval's reference names it
SOURCES = {"prefect-ui": "Prefect UI", "cli": "command line", "link": "personal link", "sign-in": "sign-in"}


def _sources(votes: list[Vote]) -> list[str]:
    return sorted({SOURCES.get(v.source, v.source) for v in votes})


def with_override(approval: Approval, plan: Plan, ledger: Ledger, reason: str) -> Approval:
    """The chair's override of the order, on an approval given in the run: only the chair may give it
    (`approval.check_override`, the rule every path uses)."""
    approval_.check_override(plan.approval, approval.approved_by, reason)
    return ledger.record_approval(replace(approval, id=None, override_order=True, override_reason=reason.strip(),
                                          approved_at=default_clock()))


# Notices ------------------------------------------------------------------------------------------------


def notice_channel(plan: Plan, channels: Mapping[str, Adapter]) -> Adapter:
    name = plan.approval.channel
    if not name or name not in channels:
        raise InputError([Problem(str(plan.path), "approval.channel", "no channel carries approval requests",
                                  "name the mail channel, e.g. `channel: mail` under `approval:`")])
    return channels[name]


def send_request(prepared: Prepared, ledger: Ledger, request: ApprovalRequest,
                 channels: Mapping[str, Adapter], signer: LinkSigner | None = None,
                 limits: HoldLimits | None = None, now: dt.datetime | None = None) -> str:
    """Send the request to each approver once: one mail per member, with the member's personal link to the
    approval page and the text of every variant. Returns NoticeOutcome.SENT, SENT_BEFORE, or what stopped a mail
    (UNCERTAIN: it may have arrived, and is not sent again)."""
    plan, message = prepared.plan, prepared.message
    signer = signer or LinkSigner()
    adapter = notice_channel(plan, channels)
    refuse_late_request(prepared, ledger, now or default_clock())
    quality = {forum: figures.line_da()
               for forum, figures in readability.figures(plan, list(prepared.variants)).items()}
    states = []
    for member in plan.approval.members:
        variant = render.render_approval_request(
            plan, message, prepared.variants, prepared.findings, prepared.approval_hash,
            deadline=local(plan, request.deadline), meeting=request.meeting, member=member,
            link=signer.url(plan, request, member), quality=quality)
        variant = replace(variant, forum=f"approval-request-{slug(member.name)}")
        states.append(_send(ledger, adapter, request, f"request:{slug(member.name)}", variant, limits))
    return states[0] if len(set(states)) == 1 else ", ".join(states)


def refuse_late_request(prepared: Prepared, ledger: Ledger, now: dt.datetime) -> None:
    """ExpiredRequest when a request mail is still to go out and the approval deadline has passed at `now`
    (the runtime's clock): it would reach the steering group too late, with links that are dead or die at once.
    Called before anything is recorded or mailed (the command line, then the flow's request task). Nothing to
    refuse when this content is approved already or every request mail went out (in time) before."""
    plan, message = prepared.plan, prepared.message
    if any(a.hash == prepared.approval_hash for a in ledger.approvals_for(message.id)):
        return
    request = ledger.request(message.id, prepared.approval_hash)
    if request is not None:
        notices = ledger.notices_for(request.id)
        if all(notices.get(f"request:{slug(m.name)}") == State.DELIVERED for m in plan.approval.members):
            return
        deadline = request.deadline
    else:
        schedule = deadlines.schedule_for_message_date(plan, message.date)
        deadline = schedule.deadline if schedule else None
    if deadline is None or now < deadline:
        return
    upcoming = deadlines.next_meeting_in_time(plan, now)
    where = f"`date:` in {_shown(message.path)}"
    nxt = (f" (the next {plan.calendar.meetings_forum.upper()} meeting whose deadline is still ahead is "
           f"{upcoming.meeting:%Y-%m-%d}, deadline {local(plan, upcoming.deadline):%Y-%m-%d %H:%M})"
           if upcoming else "")
    raise ExpiredRequest(
        f"the approval deadline for {message.id} passed at {local(plan, deadline):%Y-%m-%d %H:%M %Z}: a request "
        f"now would mail the steering group links that no longer work, so nothing was sent. Give the message "
        f"the date of the month it is for ({where}){nxt} and send again, or, if the steering group approved it "
        f"in its meeting, send it with --approved-by NAME --approval-ref REF")


def slug(name: str) -> str:
    """A member's name as a short key for a notice and a file name: 'Søren Ærø' → 'soeren-aeroe'."""
    text = name.casefold().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    text = "".join(c if c.isascii() and c.isalnum() else "-" for c in text)
    return "-".join(part for part in text.split("-") if part)[:28] or "medlem"


def send_rejection(prepared: Prepared, ledger: Ledger, status: Status, channels: Mapping[str, Adapter],
                   limits: HoldLimits | None = None, author_url: str | None = None) -> str:
    """Tell the author, once, who rejected the message and why: greeted by name, each comment quoted, and a
    link to the author's page when `author_url` is given (else the mail says to edit and send again)."""
    plan, message = prepared.plan, prepared.message
    author, _ = notice_mail.author(plan, message)
    variant = _notice(plan, "approval_rejected.html.j2", "rejection", (author,), {
        "request": status.request, "votes": status.votes, "message_title": message.title,
        "message_id": message.id, "message_path": _shown(message.path),
        **notice_mail.rejection_context(plan, message, status.votes, author_url)})
    return _send(ledger, notice_channel(plan, channels), status.request, "rejection", variant, limits)


def send_due_nudges(plan: Plan, ledger: Ledger, channels: Mapping[str, Adapter],
                    now: dt.datetime | None = None, signer: LinkSigner | None = None,
                    limits: HoldLimits | None = None) -> list[str]:
    """Reminders to the approvers who have not decided, and the escalation to the chair at the deadline.

    Each goes to one member with that member's personal link. Run on a schedule (the `approval-reminders`
    flow); each nudge is sent once to each member. A nudge not yet delivered to every member is taken up
    again: failed ones are sent, unfinished or uncertain ones are looked up at the channel first (never sent
    twice). Returns what was sent."""
    now = now or default_clock()
    signer = signer or LinkSigner()
    sent: list[str] = []
    failures: list[str] = []
    for request in ledger.open_requests():
        if request.meeting is None:
            continue
        if now >= expiry(plan, request):
            log.info("%s: no reminder: decisions on request %s are no longer taken (approval.late_decisions)",
                     request.message_id, request.id)
            continue  # never mail a link that is already dead
        schedule = deadlines.schedule_for(plan, request.meeting)
        notices = ledger.notices_for(request.id)
        unsettled = {kind.split(":")[0] for kind, state in notices.items() if state != State.DELIVERED}
        done = {kind.split(":")[0] for kind in notices} - unsettled
        for nudge in schedule.due(now, done):
            voters = [v.voter for v in ledger.votes(request.id)]
            decided = {name.casefold() for name in voters}
            chair = plan.approval.member(plan.approval.chair)
            if nudge.kind == "escalation":
                if chair is None or chair.name.casefold() in decided:
                    continue  # the chair has decided already: escalating to the chair says nothing new
                members = [chair]
            else:
                members = [m for m in plan.approval.members if m.name.casefold() not in decided]
            for member in members:
                variant = _notice(plan, "approval_reminder.html.j2", f"{nudge.key}-{slug(member.name)}",
                                  (member.email,), {
                    "request": request, "deadline": local(plan, request.deadline),
                    "requested_at": local(plan, request.requested_at), "nudge": nudge,
                    "escalation": nudge.kind == "escalation", "decided": voters, "message_id": request.message_id,
                    "message_title": request.title, "member": member,
                    "link": signer.url(plan, request, member)})
                try:
                    state = _send(ledger, notice_channel(plan, channels), request,
                                  f"{nudge.key}:{slug(member.name)}", variant, limits)
                except DeliveryError as exc:  # kept as failed: the next run tries again
                    failures.append(f"{request.message_id}: {nudge.key} to {member.name} failed: {exc}")
                    continue
                if state == NoticeOutcome.UNCERTAIN:  # kept as uncertain: the next run looks it up, never resends blindly
                    failures.append(f"{request.message_id}: {nudge.key} to {member.name} may or may not have "
                                    "arrived; it is not sent again")
                    continue
                sent.append(f"{request.message_id}: {nudge.key} to {member.name} {state}")
    if failures:
        raise NudgeFailed(failures, sent)
    return sent


def _shown(path: Path) -> str:
    """A message's path as the author knows it (relative to the checkout), never the server's layout."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return f"messages/{path.name}"


def local(plan: Plan, moment: dt.datetime | None) -> dt.datetime | None:
    """A stored moment (UTC) in the plan's time zone, as approvers read it."""
    return moment.astimezone(ZoneInfo(plan.calendar.timezone)) if moment else None


def _notice(plan: Plan, template: str, kind: str, recipients: tuple[str, ...], extra: dict[str, object]) -> Variant:
    ctx = {"plan": plan, "narrative": plan.narrative, "approval": plan.approval, **extra}
    subject, body = render.render_template(plan, template, ctx)
    text = render.text_alternative(plan, template, {**ctx, "subject": subject})
    return Variant(forum=f"approval-{kind}", forum_title=plan.approval.title, tier="approval", tier_index=0,
                   phase="approval", medium="mail", channel=plan.approval.channel or "", template=template,
                   stakeholder="management", subject=subject, body=body, body_format="html", summary="",
                   link=None, recipients=recipients, text=text)


def notice_key(request: ApprovalRequest, kind: str) -> str:
    """The ledger key of one notice: the same however often the notice is rendered again."""
    return f"notice/{request.message_id}/{request.approval_hash[:16]}/{kind}"


def _send(ledger: Ledger, adapter: Adapter, request: ApprovalRequest, kind: str, variant: Variant,
          limits: HoldLimits | None = None) -> NoticeOutcome:
    """Send one notice at most once, on the delivery path (`cascade.attempt`) with the delivery states: an
    attempt whose outcome is unknown is `uncertain`, and is looked up at the channel before any resend (never
    taken up again blindly). `limits` takes the channel's shared limits around the attempt, as for a delivery.

    Returns NoticeOutcome.SENT, SENT_BEFORE (also when the lookup found an earlier attempt arrived), or UNCERTAIN
    (it may have arrived: left for the operator, never resent). Raises the DeliveryError of an attempt that failed
    (kept as failed: the next run sends it) or a TransientDeliveryError."""
    NoticeKind.of(kind)  # ValueError for a kind that is none of ours
    variant = notice_mail.as_mail(variant)  # a whole document with a viewport, its text part beside it
    notice = Notice(request.message_id, variant, adapter.name, approval_id=0, notice_key=notice_key(request, kind))
    with limits(adapter, notice) if limits is not None else nullcontext():
        outcome = cascade.attempt(notice, adapter, ledger.notice_book(request.id, kind))
    if outcome.state == OutcomeState.FAILED:
        raise PermanentDeliveryError(adapter.name, variant.forum,
                                     outcome.error.removeprefix(f"{adapter.name} → {variant.forum}: "))
    if outcome.state == OutcomeState.UNCERTAIN:
        log.error("%s: the %s may or may not have reached %s (%s); it is not sent again", request.message_id,
                  kind, ", ".join(variant.recipients), outcome.error)
        return NoticeOutcome.UNCERTAIN
    if outcome.state == OutcomeState.ALREADY_DELIVERED:
        return NoticeOutcome.SENT_BEFORE
    log.info("%s: %s sent to %s", request.message_id, kind, ", ".join(variant.recipients))
    return NoticeOutcome.SENT
