"""The Prefect flows: approval → cascade → publish, in the plan's order.

- `send_flow` (deployment `budbringer-send/manual`): a message the steering group approved in its meeting
  (`approved_by`, `approval_ref`); without them the run asks for approval and waits (see below).
- `monthly_briefing_flow` (deployment `budbringer-monthly/oc-briefing`, on a schedule): this month's message
  (`messages/YYYY-MM-*.md`) for the next OC meeting: checked, sent for approval, then cascaded.
- `approval_reminders_flow` (deployment `budbringer-reminders/daily`): reminders to approvers who have not
  decided, and the escalation to the chair at the deadline.

Approval inside a run: the run opens a request for exactly the rendered content, sends it to the steering
group once, and waits for the decision — suspended when it runs from a deployment (no process is held;
a resumed run starts again from the top and repeats nothing: every step is in the ledger), paused when it
runs locally against a server. Approvers decide in the Prefect UI's form or with `budbringer approve`.

Thin on purpose: every step is a typed function in `budbringer.cascade`, and the order (tiers, blocking,
calendar gates, the override, cascade before publish) is `budbringer.engine`'s, which drives the deliveries
through the Prefect executor (`flows/executor.py`: retried `deliver` tasks in the send's own flow run). The
send goes one way: this flow → the engine → the executor → `cascade.deliver` → the channel, and nothing calls
back up. This module holds the steps before the deliveries (prepare, approval) as tasks, and the artifacts.
It is the only place (with the rest of `flows/`) that imports Prefect. Flow parameters are paths and ids,
never rendered content: the flow loads the message from disk and the plan once, and the approval comes from
the ledger.

One runtime (`budbringer.runtime.Runtime`: the plan, the ledger, the channels with their sign-ins and limiters)
serves a whole send: the entry point builds it (the `budbringer` command, else the flow run itself) and hands
it to the flow it calls in this process with `using`, since flow parameters are paths and ids; the tasks get
it as a parameter. A flow run on its own (a deployment) builds its own. So is the message prepared once per
send: the command hands in what it checked and rendered (`using(run, prepared)`), and the flow renders only
when nothing was handed in for its message (a deployment's run).

A re-run with nothing left (`engine.already_delivered`, the same test the command answers from without
starting Prefect) reports the ledger's deliveries and returns before any approval is asked for.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_flow_run
from pydantic import Field

from budbringer import approval_request, cascade, comment, deadlines, engine, runtime
from budbringer.adapters.registry import REGISTRY
from budbringer.approval import Approval
from budbringer.approval_request import Decision, Status
from budbringer.cascade import Outcome, Prepared
from budbringer.ledger import Ledger
from budbringer.report import outcome_rows, summary_markdown
from budbringer.flows import limits, link_secret
from budbringer.flows.alerts import emit_uncertain
from budbringer.flows.executor import PrefectExecutor, transient

#: how often a paused run (the ephemeral or a local server, no deployment) asks whether it was resumed
PAUSE_POLL_SECONDS = 2


_handed_in: contextvars.ContextVar[runtime.Runtime | None] = contextvars.ContextVar("budbringer_runtime",
                                                                                default=None)
_prepared_in: contextvars.ContextVar[Prepared | None] = contextvars.ContextVar("budbringer_prepared", default=None)


@contextmanager
def using(run: runtime.Runtime, prepared: Prepared | None = None) -> Iterator[runtime.Runtime]:
    """Hand an entry point's runtime to the flows it calls in this process (and their subflows), so that one
    send loads the plan once, opens one ledger and signs in once per app registration; and the message it
    already checked and rendered with that plan (`prepared`), so that the send renders it once."""
    token = _handed_in.set(run)
    handed = _prepared_in.set(prepared)
    try:
        yield run
    finally:
        _prepared_in.reset(handed)
        _handed_in.reset(token)


def _handed_prepared(run: runtime.Runtime, message_path: str) -> Prepared | None:
    """The message the entry point prepared, when it is this flow's message with this run's plan."""
    prepared = _prepared_in.get()
    if prepared is None or prepared.plan is not run.plan:
        return None
    return prepared if str(Path(prepared.message.path).resolve()) == message_path else None


@contextmanager
def _runtime(plan: str | None) -> Iterator[runtime.Runtime]:
    """The runtime handed in for this plan (`using`), else one built (and closed) here, handed on to the
    subflows."""
    run = _handed_in.get()
    if run is not None and (plan is None or Path(plan).resolve() == run.settings.plan):
        yield run
        return
    run = runtime.build(plan, REGISTRY)
    try:
        with using(run):
            yield run
    finally:
        run.close()


class CascadeFailed(RuntimeError):
    """A delivery did not succeed: later tiers were not started. The report says which and why."""


class ApprovalInput(RunInput):
    """The form an approver fills in, in the Prefect UI, to decide on a message (Danish: approvers read it)."""

    beslutning: Literal["godkend", "afvis"] = Field(
        title="Beslutning", description="Godkend budskabet, som det er, eller afvis det.")
    navn: str = Field(title="Dit navn", description="Dit navn, som det står i styregruppens medlemsliste.",
                      min_length=2)
    bemaerkning: str = Field(default="", title="Bemærkning", max_length=comment.MAX_LENGTH,
                             description="Skal udfyldes ved afvisning: hvad skal ændres?")

    def decision(self) -> Decision:
        return Decision(approval_request.APPROVE if self.beslutning == "godkend" else approval_request.REJECT,
                        self.navn.strip(), self.bemaerkning.strip())

    @classmethod
    def of(cls, decision: Decision) -> ApprovalInput:
        return cls(beslutning="afvis" if decision.decision == approval_request.REJECT else "godkend",
                   navn=decision.by, bemaerkning=decision.comment)


def approval_form(prepared: Prepared, ledger: Ledger) -> type[ApprovalInput]:
    """The form for this message: approvers picked from the plan's member list, and a description that names
    the message and links to its page (a signed preview link, without buttons)."""
    import pydantic

    names = tuple(m.name for m in prepared.plan.approval.members)
    form = pydantic.create_model(
        "ApprovalInput", __base__=ApprovalInput,
        navn=(Literal[names], Field(title="Dit navn", description="Vælg dit navn på styregruppens medlemsliste.")))
    request = ledger.request(prepared.message.id, prepared.approval_hash)
    page = link_secret.preview_signer(prepared.plan).preview_url(prepared.plan, request) if request else ""
    form._description = (  # type: ignore[attr-defined]
        f"**Til godkendelse: {prepared.message.title}** (`{prepared.message.id}`, "
        f"{len(prepared.variants)} udgaver).\n\n"
        + (f"[Se alle udgaver, som de bliver sendt]({page})\n\n" if page else "")
        + "Vælg Godkend eller Afvis og dit navn. Afviser du, skal du skrive, hvad der skal ændres.")
    return form


def api_url() -> str | None:
    """The Prefect API this process talks to: $PREFECT_API_URL or the active profile (`prefect config set`);
    None in ephemeral mode, where no run can wait for a decision made elsewhere."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def resume_waiting_run(flow_run_id: str, decision: Decision, attempts: int = 30) -> str:
    """Hand a decision made on the command line or the approval page to the run that waits for it, as the
    UI's form would.

    The run records that it waits just before it pauses, so give it a moment to get there. Returns what
    happened, for the approver."""
    import time
    from uuid import UUID

    from prefect.exceptions import FlowPauseTimeout, NotPausedError
    from prefect.flow_runs import resume_flow_run

    from prefect import get_client

    for _ in range(attempts):
        try:
            resume_flow_run(UUID(flow_run_id), run_input=ApprovalInput.of(decision).model_dump())
        except NotPausedError:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(UUID(flow_run_id)).state
            if state is not None and state.is_final():
                return f"flow run {flow_run_id} has ended ({state.name}); `budbringer send` continues"
            time.sleep(2)
            continue
        except FlowPauseTimeout:
            return f"flow run {flow_run_id} waited too long and ended; `budbringer send` starts a new one"
        return f"resumed flow run {flow_run_id}"
    return f"flow run {flow_run_id} is not waiting; it reads the decision from the ledger when it next checks"


def _name_waiting_run(prepared: Prepared) -> None:
    """A name an approver recognises in the UI's list of runs (not a random `unyielding-myna`)."""
    from prefect import get_client

    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(current_flow_run.id, name=f"godkendelse-{prepared.message.id}")
    except Exception as exc:  # noqa: BLE001 - a name is a convenience: never fail the run for it
        get_run_logger().debug("could not rename the run: %s", exc)


@task(name="prepare", cache_policy=NO_CACHE)
def prepare_task(message_path: str, run: runtime.Runtime, handed: Prepared | None = None) -> Prepared:
    """The message checked and rendered: the one the entry point handed in (`using`), else rendered here; its
    warnings in the run's log, and every channel's preflight."""
    prepared = handed if handed is not None else cascade.prepare(run.plan, message_path)
    logger = get_run_logger()
    for finding in prepared.findings:
        logger.warning("%s: %s", finding.forum, finding.text)
    problems = cascade.preflight(prepared.plan, run.channels)
    if problems:
        from budbringer.errors import InputError

        raise InputError(problems)
    return prepared


@task(name="record-approval", cache_policy=NO_CACHE)
def approval_task(prepared: Prepared, approved_by: str, reference: str, override_order: bool,
                  override_reason: str, run: runtime.Runtime) -> Approval:
    approval = cascade.record_approval(prepared, run.ledger, approved_by, reference, override_order,
                                       override_reason)
    get_run_logger().info("Approval %s by %s (%s) covers %d variants, hash %s", approval.id,
                          approval.approved_by, approval.reference, len(approval.variant_hashes),
                          approval.hash[:12])
    return approval


@task(name="request-approval", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=transient)
def request_task(prepared: Prepared, run: runtime.Runtime) -> Status:
    """Open the request for this exact content and send it to the approvers — once, however often this runs.
    The mails take the delivery path: the run's channel, its shared limits, the delivery states."""
    ledger = run.ledger
    request, created = approval_request.open_request(prepared, ledger, run.clock())
    status = approval_request.evaluate(prepared, ledger, request)
    logger = get_run_logger()
    if status.decided:
        return status
    sent = approval_request.send_request(prepared, ledger, request, run.channels, limits=_limits(ledger),
                                         signer=link_secret.signer(prepared.plan), now=run.clock())
    deadline = approval_request.local(prepared.plan, request.deadline)
    logger.info("Approval request %s for %s (hash %s): %s%s", request.id, prepared.message.id,
                prepared.approval_hash[:12], sent, f"; deadline {deadline:%Y-%m-%d %H:%M}" if deadline else "")
    return status


@task(name="record-decision", cache_policy=NO_CACHE)
def decision_task(prepared: Prepared, status: Status, decision: Decision, run: runtime.Runtime) -> Status:
    return approval_request.decide(prepared, run.ledger, status.request, decision, source="prefect-ui",
                                   now=run.clock())


@task(name="tell-author", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=transient)
def rejection_task(prepared: Prepared, status: Status, run: runtime.Runtime) -> str:
    return approval_request.send_rejection(prepared, run.ledger, status, run.channels, limits=_limits(run.ledger))


def _limits(ledger: Ledger) -> approval_request.HoldLimits:
    """A notice takes its channel's shared limits as a delivery does (`limits.hold`)."""
    return lambda adapter, notice: limits.hold(adapter, notice, ledger)


def _await_approval(prepared: Prepared, run: runtime.Runtime, wait_for_decision: bool,
                    wait_hours: float | None) -> Status:
    """Ask for approval (once) and wait for decisions until the policy is satisfied or someone rejects.

    Decisions already in the ledger count (from `budbringer approve` or an earlier run). Under a deployment
    the run suspends (no process is held) and starts again from the top when resumed: the request is not
    sent again and earlier decisions are read back, so each round's pause key is stable.
    """
    logger = get_run_logger()
    ledger = run.ledger
    status = request_task(prepared, run)
    suspend = current_deployment.id is not None
    timeout = int((wait_hours if wait_hours is not None else (24 * 31 if suspend else 24)) * 3600)
    form = approval_form(prepared, ledger) if wait_for_decision and not status.decided else ApprovalInput
    if wait_for_decision and not status.decided:
        _name_waiting_run(prepared)
    for round_ in range(len(prepared.plan.approval.members) * 3 + 1):
        if status.decided or not wait_for_decision:
            return status
        ledger.waiting_run(status.request.id, str(current_flow_run.id))
        # A decision may have come in (from `budbringer approve`) before this run was known to be waiting.
        status = approval_request.evaluate(prepared, ledger, status.request)
        if status.decided:
            return status
        logger.info("Waiting for approval of %s: %s. Approvers decide on their personal page (link in the "
                    "request mail), in this run's form or with `budbringer approve %s --by NAME`",
                    prepared.message.id, status.needed, prepared.message.id)
        key = f"approval-{prepared.approval_hash[:12]}-{round_}"
        if suspend:
            answer = suspend_flow_run(wait_for_input=form, timeout=timeout, key=key)
        else:
            # A paused run asks the API every few seconds whether it was resumed (Prefect's default is 10 s):
            # an approver's click on the page shows its effect at once, and it costs one small request.
            answer = pause_flow_run(wait_for_input=form, timeout=timeout, key=key, poll_interval=PAUSE_POLL_SECONDS)
        try:
            status = decision_task(prepared, status, answer.decision(), run)
        except Exception as exc:  # an approver outside the policy, a rejection without a comment
            logger.error("Decision refused: %s", exc)
            status = approval_request.evaluate(prepared, ledger, status.request)
    logger.error("Too many decisions without approval or rejection; the request stays open")
    return status


@flow(name="budbringer-send")
def send_flow(message: str, approved_by: str | None = None, approval_ref: str | None = None,
              plan: str | None = None, override_order: bool = False, reason: str = "",
              wait_for_approval: bool = True, wait_hours: float | None = None) -> list[Outcome]:
    """Send one message: with `approved_by` and `approval_ref` as approved in the steering group's meeting;
    without them, ask the steering group for approval and wait for it. Then cascade, then publish."""
    follow_up = {"message": message, "approved_by": approved_by, "approval_ref": approval_ref, "plan": plan,
                 "override_order": override_order, "reason": reason, "wait_for_approval": wait_for_approval,
                 "wait_hours": wait_hours}
    with _runtime(plan) as run:
        return _send(run, message, approved_by, approval_ref, override_order, reason, wait_for_approval,
                     wait_hours, follow_up)


@flow(name="budbringer-monthly-briefing")
def monthly_briefing_flow(plan: str | None = None, month: str | None = None, messages: str = "messages",
                          wait_hours: float | None = None) -> list[Outcome]:
    """The monthly OC briefing: this month's message for the next OC meeting, checked, approved, cascaded.

    Convention: the message for the month is the one file `messages/YYYY-MM-*.md` (e.g.
    `messages/2026-11-status-udbud.md`); `month` (YYYY-MM) defaults to the current month in the plan's
    time zone. The run asks the steering group for approval and waits (suspended) for it.
    """
    with _runtime(plan) as run:
        month = month or deadlines.local_now(run.plan).strftime("%Y-%m")
        found = monthly_message(Path(messages), month)
        get_run_logger().info("Monthly briefing for %s: %s", month, found)
        follow_up = {"plan": plan, "month": month, "messages": messages, "wait_hours": wait_hours}
        return _send(run, str(found), None, None, False, "", True, wait_hours, follow_up)


def monthly_message(folder: Path, month: str) -> Path:
    """The one message of a month (`YYYY-MM-*.md`), or an InputError that says what to do."""
    from budbringer.errors import InputError, Problem

    found = sorted(folder.glob(f"{month}-*.md"))
    if len(found) != 1:
        what = "has no message" if not found else f"has {len(found)} messages ({', '.join(f.name for f in found)})"
        raise InputError([Problem(str(folder), f"{month}-*.md", f"{what} for {month}",
                                  f"write exactly one message for the month as {folder}/{month}-<topic>.md")])
    return found[0]


@flow(name="budbringer-approval-reminders")
def approval_reminders_flow(plan: str | None = None) -> list[str]:
    """Remind the approvers who have not decided, and escalate to the chair at the deadline — each once."""
    with _runtime(plan) as run:
        sent = approval_request.send_due_nudges(run.plan, run.ledger, run.channels, now=run.clock(),
                                                limits=_limits(run.ledger), signer=link_secret.signer(run.plan))
    for line in sent:
        get_run_logger().info(line)
    return sent


def _send(run: runtime.Runtime, message: str, approved_by: str | None, approval_ref: str | None,
          override_order: bool, reason: str, wait_for_approval: bool, wait_hours: float | None,
          follow_up: dict[str, Any]) -> list[Outcome]:
    logger = get_run_logger()
    message_path = str(Path(message).resolve())
    prepared = prepare_task(message_path, run, _handed_prepared(run, message_path))
    done = engine.already_delivered(prepared, run.ledger)
    if done is not None:
        logger.info("Nothing to deliver: all %d deliveries of %s were delivered before (the ledger)", len(done),
                    prepared.message.id)
        create_table_artifact(key=f"deliveries-{prepared.message.id}", table=outcome_rows(done),
                              description=f"Deliveries of {prepared.message.id} (all delivered before)")
        return done
    late = ""
    if approved_by:
        approval = approval_task(prepared, approved_by, approval_ref or "", override_order, reason, run)
    else:
        status = _await_approval(prepared, run, wait_for_approval, wait_hours)
        if status.rejected:
            told = rejection_task(prepared, status, run)
            logger.warning("%s was rejected (%s); nothing was sent; the author: %s", prepared.message.id,
                           status.request.comment, told)
            _report_decision(prepared, status)
            return []
        if status.approval is None:
            logger.warning("%s waits for approval (%s): nothing was sent yet", prepared.message.id, status.needed)
            _report_decision(prepared, status)
            return []
        approval = status.approval
        late = status.late_note(prepared.plan)
        if late:
            logger.warning("%s was approved late: %s", prepared.message.id, late)
        if override_order:
            approval = approval_request.with_override(approval, prepared.plan, run.ledger, reason)
    outcomes = engine.run(prepared, approval, PrefectExecutor(run), run.clock, logger)
    _report(prepared, approval, outcomes, late)
    waiting = [o for o in outcomes if o.state == "waiting"]
    if waiting:
        _schedule_follow_up(prepared, waiting[0].tier, follow_up)
    for outcome in outcomes:
        if outcome.state == "uncertain":
            emit_uncertain(prepared.message.id, outcome.forum, outcome.error, outcome.key, outcome.channel)
    failed = [o for o in outcomes if not o.ok and o.state != "waiting"]
    if failed:
        failure = CascadeFailed(f"{len(failed)} of {len(outcomes)} deliveries did not succeed: "
                                + "; ".join(f"{o.forum} {o.state}" for o in failed))
        failure.outcomes = outcomes  # type: ignore[attr-defined]  # what this run did, for `send`'s report
        raise failure
    return outcomes


def _schedule_follow_up(prepared: Prepared, tier: str, parameters: dict[str, Any]) -> None:
    """A tier waits for its calendar gate: under a deployment, schedule the same run for the gate's day (once,
    however often this run is repeated). The follow-up delivers nothing twice: it finds the rest in the ledger."""
    logger = get_run_logger()
    gate = deadlines.gate(prepared.plan, tier, prepared.message.date)
    if gate is None:
        return
    if current_deployment.id is None:
        logger.warning("Tier %s waits until %s: run this again from then (a deployment would schedule it)",
                       tier, gate)
        return
    from prefect.deployments import run_deployment

    at = dt.datetime.combine(gate, prepared.plan.calendar.reminder_time,
                             tzinfo=ZoneInfo(prepared.plan.calendar.timezone))
    run = run_deployment(current_deployment.id, parameters=parameters, scheduled_time=at, timeout=0,
                         as_subflow=False, idempotency_key=f"{prepared.message.id}/{prepared.approval_hash[:16]}/"
                                                           f"{tier}/{gate.isoformat()}")
    logger.info("Tier %s waits until %s: the follow-up run %s is scheduled for %s", tier, gate, run.id,
                at.isoformat())


def _report(prepared: Prepared, approval: Approval, outcomes: list[Outcome], late: str = "") -> None:
    key = f"deliveries-{prepared.message.id}"
    create_table_artifact(key=key, table=outcome_rows(outcomes),
                          description=f"Deliveries of {prepared.message.id}")
    create_markdown_artifact(key=f"summary-{prepared.message.id}",
                             markdown=summary_markdown(prepared, approval, outcomes, late),
                             description=f"Summary of {prepared.message.id}")


def _where(vote: Any) -> str:
    """How a decision was given; with sign-in, the account that signed in (its UPN at the time, object id)."""
    if vote.signer is None:
        return str(vote.source)
    return f"{vote.source} as {vote.signer.upn or '?'} ({vote.signer.oid})"


def _report_decision(prepared: Prepared, status: Status) -> None:
    """The run's summary when nothing was sent: waiting for approval, or rejected (and why)."""
    request = status.request
    lines = [f"# {prepared.message.title}", "",
             f"Approval request {request.id} for `{prepared.message.id}` (hash `{request.approval_hash[:12]}`): "
             f"**{request.state}**."]
    if request.deadline:
        lines.append(f"Deadline: {approval_request.local(prepared.plan, request.deadline):%Y-%m-%d %H:%M}"
                     f" (OC meeting {request.meeting}).")
    lines += ["", "| Approver | Decision | Comment | Where |", "|---|---|---|---|"]
    lines += [f"| {v.voter} | {v.decision} | {v.comment} | {_where(v)} |" for v in status.votes] or ["| — | | | |"]
    if status.needed:
        lines += ["", f"Still needed: {status.needed}."]
    lines += ["", "Nothing was sent."]
    create_markdown_artifact(key=f"summary-{prepared.message.id}", markdown="\n".join(lines),
                             description=f"Approval of {prepared.message.id}")
