"""The cascade as plain functions: prepare a message, record its approval, deliver one variant exactly once.

The Prefect flows in `flows/` call these in the plan's order; nothing here imports Prefect, so the same
steps run (and are tested) without a server.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from pydantic import ValidationError

from budbringer import approval as approval_
from budbringer import checks, delivery_dates, message as message_, plan as plan_, render
from budbringer.approval import Approval
from budbringer.channel import Adapter
from budbringer.clock import Clock, default_clock
from budbringer.checks import Finding
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import (
    ApprovalError,
    DeliveryError,
    InputError,
    Problem,
    TransientDeliveryError,
    UncertainDeliveryError,
    mask_secrets,
)
from budbringer.ledger.states import OutcomeState, State
from budbringer.message import Message
from budbringer.plan import Plan
from budbringer.render import Variant

if TYPE_CHECKING:  # the stores load SQLAlchemy, which `check` never needs
    from budbringer.ledger import Ledger

log = logging.getLogger("budbringer")


@dataclass(frozen=True)
class Prepared:
    """A message checked and rendered for every forum: what an approver approves."""

    plan: Plan
    message: Message
    variants: list[Variant]
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def approval_hash(self) -> str:
        return approval_.approval_hash({v.forum: v.content_hash for v in self.variants})


def prepare(plan_path: str | Path | Plan | None, message_path: str | Path,
            environ: Mapping[str, str] | None = None) -> Prepared:
    """Load the plan (unless given loaded) and the message, render every variant and check it. Raises
    InputError on any error. `environ`: the entry point's `Settings.environ`, else the settings read now."""
    prepared = examine(plan_path, message_path, environ)
    if errors := checks.blocking_problems(str(prepared.message.path), prepared.findings):
        raise InputError(errors)
    return prepared


def examine(plan_path: str | Path | Plan | None, message_path: str | Path,
            environ: Mapping[str, str] | None = None, *, now: dt.datetime | None = None,
            text: str | None = None) -> Prepared:
    """What `prepare` finds, blocking findings included, without refusing them (the author's page shows them).
    Raises InputError only when the plan or the message cannot be read or rendered. `text`: the message's text,
    named `message_path`, instead of the file's; `now`: also check the approval deadline against the clock
    (`delivery_dates.findings`)."""
    plan = plan_path if isinstance(plan_path, Plan) else plan_.load(plan_path, environ=environ)
    message = message_.load(message_path, plan) if text is None else message_.loads(text, message_path, plan)
    variants = render.render_variants(plan, message)
    findings = checks.all_findings(plan, message, variants, channel_findings=(
        channel_findings(plan, variants, environ) + delivery_dates.findings(plan, message, variants, now=now)))
    return Prepared(plan, message, variants, findings)


def channel_findings(plan: Plan, variants: list[Variant], environ: Mapping[str, str] | None = None) -> list[Finding]:
    """What each variant's channel finds in it (e.g. LinkedIn measures a post after its own escaping), and what
    it finds given the environment (`review_with`: a token that expires soon); `environ`: the settings'
    snapshot, else the settings read now. No channel is built."""
    if environ is None:
        from budbringer import settings

        environ = settings.current().environ
    findings: list[Finding] = []
    for variant in variants:
        channel = plan.channels[variant.channel]
        cls = plan.registry.get(channel.type)
        if cls is not None:
            forum = plan.fora[variant.forum]
            findings += cls.review(variant, forum)
            try:
                environment = cls.environment_of(cls.Settings.model_validate(channel.settings), environ)
            except ValidationError:
                continue  # preflight names it
            findings += cls.review_with(environment, variant, forum)
    return findings


def preflight(plan: Plan, built: Mapping[str, Adapter] | None = None,
              environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Every channel the plan uses is built as the send would build it (from the plan and `environ`, the
    settings' snapshot) and checks its credentials and settings, without delivering anything (`built`: the
    run's channels, else they are built here). A channel that cannot be built is a problem naming the plan file,
    the channel's field and the fix."""
    used = {plan.fora[v].channel for tier in plan.tiers for v in plan.active_fora(tier)}
    problems: list[Problem] = []
    adapters: Mapping[str, Adapter]
    if built is None:
        adapters, problems = build_channels(plan, environ=environ)
    else:
        adapters = built
    try:
        checked = [adapter for name, adapter in adapters.items() if name in used]
        # Each channel's checks are provider calls (a sign-in, a mailbox or site lookup): side by side, the
        # problems in the plan's order of channels.
        with ThreadPoolExecutor(max_workers=max(1, len(checked)), thread_name_prefix="preflight") as pool:
            for found in pool.map(lambda adapter: adapter.preflight(), checked):
                problems += [p for p in (_in_plan(plan, problem) for problem in found)
                             if p not in problems]  # a transport's, once
    finally:
        if built is None:
            for adapter in adapters.values():
                adapter.close()
    return problems


_VARIABLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _in_plan(plan: Plan, problem: Problem) -> Problem:
    """An adapter's problem (`channels.<name>` or `environment`, a field or a variable) as one of the plan file:
    `plan.yaml: channels.website ($BUDBRINGER_WEBSITE_WEBHOOK_URL): is not set`."""
    if problem.file != "environment" and not problem.file.startswith("channels."):
        return problem
    variable = _VARIABLE.match(problem.field) is not None
    if problem.file == "environment":
        field = f"${problem.field}" if variable else problem.field
    else:
        field = f"{problem.file} (${problem.field})" if variable else f"{problem.file}.{problem.field}"
    return Problem(str(plan.path or "the plan"), field, problem.what, problem.fix, problem.line)


def channels(plan: Plan, clock: Clock = default_clock, environ: Mapping[str, str] | None = None) -> dict[str, Adapter]:
    """Build one adapter object per channel of the plan, from the registry the plan was loaded with and the
    variables each declares, taken from `environ` (the entry point's `Settings.environ`; else the settings read
    now). The runtime (`budbringer.runtime`) builds them once per run and keeps them, so that tokens and rate
    limits are shared by the run. Raises InputError (file, field, fix) when one cannot be built."""
    built, problems = build_channels(plan, clock, environ)
    if problems:
        for adapter in built.values():
            adapter.close()
        raise InputError(problems)
    return built


def build_channels(plan: Plan, clock: Clock = default_clock, environ: Mapping[str, str] | None = None,
                   ) -> tuple[dict[str, Adapter], list[Problem]]:
    """The plan's channels as `channels` builds them, and the problems of those that could not be built."""
    if environ is None:
        from budbringer import settings

        environ = settings.current().environ
    where = str(plan.path or "the plan")
    out: dict[str, Adapter] = {}
    problems: list[Problem] = []
    for name, channel in plan.channels.items():
        cls: type[Adapter] | None = plan.registry.get(channel.type)
        assert cls is not None, "plan.load() checked every channel type"
        try:
            out[name] = cls.from_config(name, channel.settings, environ)
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"]) or "(settings)"
                problems.append(Problem(where, f"channels.{name}.{field}", error["msg"],
                                        f"fix the channel's `{field}` (or the variable it names)"))
            continue
        except (ValueError, OSError) as exc:
            problems.append(Problem(where, f"channels.{name}", f"cannot be built: {mask_secrets(str(exc))}",
                                    "fix the channel's settings or the variables it reads"))
            continue
        out[name].clock = clock
    for adapter in out.values():
        adapter.bind(plan, out)
    return out, problems


def record_approval(prepared: Prepared, ledger: Ledger, approved_by: str, reference: str,
                    override_order: bool = False, override_reason: str = "") -> Approval:
    """Record who approved exactly these variants. Refuses approvers outside the policy, and a message that
    was already delivered with other content (an edit after delivery is a new message)."""
    refuse_edit_after_delivery(prepared, ledger)
    granted = approval_.grant(prepared.plan.approval, prepared.message.id, prepared.variants, approved_by,
                              reference, override_order, override_reason)
    return ledger.record_approval(granted)


def refuse_edit_after_delivery(prepared: Prepared, ledger: Ledger) -> None:
    """Raise ApprovalError when some forum already got this message with other content: re-sending the
    edited text would serve that forum twice. A changed message is a new message (a new id)."""
    earlier = ledger.delivered_hashes(prepared.message.id)
    current = {f"{v.forum}={v.content_hash}" for v in prepared.variants}
    changed = sorted({entry.split("=")[0] for entry in earlier - current})
    if changed:
        raise ApprovalError(
            f"message {prepared.message.id!r} was already delivered to {', '.join(changed)} with other content; "
            f"a changed message is a new message: give it a new id (and a new approval)")


def deliveries(prepared: Prepared, approval: Approval) -> list[Delivery]:
    return [Delivery(prepared.message.id, v, v.channel, approval.id) for v in prepared.variants]  # type: ignore[arg-type]


@dataclass(frozen=True)
class Outcome:
    """How one delivery ended in this run."""

    key: str
    forum: str
    tier: str
    tier_index: int
    channel: str
    state: OutcomeState
    receipt: Receipt | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return OutcomeState(self.state).ok


def deliver(delivery: Delivery, adapter: Adapter, ledger: Ledger) -> Outcome:
    """Deliver one approved variant exactly once (`attempt`, the path notices take too).

    Refuses a variant the recorded approval does not cover. An earlier delivery is reported, not repeated;
    an earlier attempt whose outcome is unknown is looked up at the provider and otherwise left for the
    operator. Raises TransientDeliveryError (after recording it) so the caller may retry.
    """
    approval = ledger.approval(delivery.approval_id)
    if approval is None or approval.message_id != delivery.message_id:
        raise ApprovalError(f"delivery {delivery.key} has no recorded approval: nothing was sent")
    if not approval.covers(delivery.variant):
        raise ApprovalError(
            f"the content for {delivery.forum} differs from what was approved (approval {approval.id} by "
            f"{approval.approved_by}): nothing was sent; the changed message needs a new approval")

    return attempt(delivery, adapter, ledger)


class Entry(Protocol):
    """What the delivery path reads of a delivery's or a notice's record (`ledger.Record`, `ledger.NoticeRecord`)."""

    @property
    def key(self) -> str: ...

    @property
    def state(self) -> State: ...

    @property
    def attempts(self) -> int: ...

    @property
    def receipt(self) -> Receipt | None: ...

    @property
    def error(self) -> str | None: ...


E = TypeVar("E", bound=Entry)


class Book(Protocol[E]):
    """Where the attempts at one kind of envelope are recorded, by one rule (`ledger.attempts`) with the states
    of `ledger.State`: the ledger's deliveries (`Ledger`, or its `delivery_store`) or one notice
    (`Ledger.notice_book`)."""

    def hold(self, key: str) -> AbstractContextManager[bool]: ...

    def claim(self, delivery: Delivery) -> tuple[E, bool]: ...

    def retake(self, record: E) -> bool: ...

    def delivered(self, key: str, receipt: Receipt, detail: str = "") -> None: ...

    def failed(self, key: str, error: str) -> None: ...

    def uncertain(self, key: str, error: str) -> None: ...

    def record(self, key: str) -> E | None: ...


def attempt(delivery: Delivery, adapter: Adapter, book: Book[E]) -> Outcome:
    """Deliver one envelope exactly once, recorded in `book`: the path of every delivery and every notice.

    An earlier delivery is reported, not repeated; an earlier attempt whose outcome is unknown (it never
    finished, or ended uncertain) is looked up at the channel before any resend, and otherwise left for the
    operator. Raises TransientDeliveryError (after recording it) so the caller may retry.
    """

    def outcome(state: OutcomeState, record: Entry | None = None, error: str = "") -> Outcome:
        variant = delivery.variant
        return Outcome(delivery.key, variant.forum, variant.tier, variant.tier_index, delivery.channel, state,
                       record.receipt if record else None, error)

    with book.hold(delivery.key) as held:
        if not held:
            # Another run is delivering this very variant now (a second trigger, a parallel worker): never both.
            raise TransientDeliveryError(adapter.name, delivery.forum, "another run is delivering this right now",
                                         "nothing was sent by this run; it looks again on its next attempt")
        return _deliver_held(delivery, adapter, book, outcome)


def _deliver_held(delivery: Delivery, adapter: Adapter, book: Book[E], outcome: Callable[..., Outcome]) -> Outcome:
    record, owned = book.claim(delivery)
    if record.state == State.DELIVERED:
        log.info("%s: already delivered (%s)", delivery.key, record.receipt.provider_id if record.receipt else "")
        return outcome(OutcomeState.ALREADY_DELIVERED, record)
    if not owned:
        # An earlier attempt never finished (a crash: nobody holds it now), or ended uncertain: ask the provider.
        record = _reconcile(delivery, adapter, book, record)
        if record.state != State.ATTEMPTING:
            return outcome(OutcomeState.ALREADY_DELIVERED if record.state == State.DELIVERED
                           else OutcomeState.UNCERTAIN, record,
                           record.error or "")
    log.info("%s: delivering over %s", delivery.key, adapter.name)
    try:
        receipt = adapter.deliver(delivery)
    except UncertainDeliveryError as exc:
        book.uncertain(delivery.key, str(exc))
        return outcome(OutcomeState.UNCERTAIN, book.record(delivery.key), str(exc))
    except TransientDeliveryError as exc:
        book.failed(delivery.key, str(exc))
        raise
    except DeliveryError as exc:
        book.failed(delivery.key, str(exc))
        return outcome(OutcomeState.FAILED, book.record(delivery.key), str(exc))
    except Exception as exc:
        # An unexpected error inside a channel: the request may have gone out. Never guess.
        text = f"{adapter.name} → {delivery.forum}: unexpected {type(exc).__name__}: {exc}"
        book.uncertain(delivery.key, text)
        return outcome(OutcomeState.UNCERTAIN, book.record(delivery.key), text)
    book.delivered(delivery.key, receipt)
    return outcome(OutcomeState.DELIVERED, book.record(delivery.key))


def _reconcile(delivery: Delivery, adapter: Adapter, book: Book[E], record: E) -> E:
    """An earlier attempt never finished (a crash) or ended uncertain: ask the provider whether it arrived.

    Found → delivered. Certainly not there → this run takes the delivery up again. The provider cannot be
    asked → uncertain, for the operator to settle (`budbringer resolve`). The lookup failing now → transient.
    """
    try:
        receipt = adapter.find(delivery)
    except NotImplementedError:
        if record.state != State.UNCERTAIN:
            book.uncertain(delivery.key, f"{adapter.name} → {delivery.forum}: an earlier attempt did not finish "
                                           "and this channel cannot be asked whether it arrived; check with the "
                                           "provider, then settle it with `budbringer resolve`")
        return book.record(delivery.key)  # type: ignore[return-value]
    except UncertainDeliveryError as exc:
        # A lookup that itself cannot tell (e.g. LinkedIn: a duplicate it cannot find): the operator settles.
        book.uncertain(delivery.key, str(exc))
        return book.record(delivery.key)  # type: ignore[return-value]
    if receipt is not None:
        book.delivered(delivery.key, receipt, "found at the provider after an unfinished or uncertain attempt")
        return book.record(delivery.key)  # type: ignore[return-value]
    if not book.retake(record):
        raise TransientDeliveryError(adapter.name, delivery.forum, "another run took this delivery up first")
    return book.record(delivery.key)  # type: ignore[return-value]


def not_started(delivery: Delivery, reason: str) -> Outcome:
    variant = delivery.variant
    return Outcome(delivery.key, variant.forum, variant.tier, variant.tier_index, delivery.channel,
                   OutcomeState.NOT_STARTED,
                   error=reason)


def failed(delivery: Delivery, error: str) -> Outcome:
    """A delivery whose attempt gave up (its task raised): failed, with what it said."""
    variant = delivery.variant
    return Outcome(delivery.key, variant.forum, variant.tier, variant.tier_index, delivery.channel, OutcomeState.FAILED,
                   error=error)


def waiting(delivery: Delivery, reason: str) -> Outcome:
    """Not started yet, on purpose: its tier waits for a calendar gate (a later run delivers it)."""
    variant = delivery.variant
    return Outcome(delivery.key, variant.forum, variant.tier, variant.tier_index, delivery.channel,
                   OutcomeState.WAITING,
                   error=reason)


def by_tier(items: Iterable[Delivery]) -> list[list[Delivery]]:
    tiers: dict[int, list[Delivery]] = {}
    for item in items:
        tiers.setdefault(item.variant.tier_index, []).append(item)
    return [tiers[index] for index in sorted(tiers)]
