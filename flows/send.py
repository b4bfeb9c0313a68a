"""The Prefect flows: approval → cascade → publish, in the plan's order.

- `send_flow` (deployment `budbringer-send/manual`): a message the steering group approved in its meeting
  (`approved_by`, `approval_ref`); without them the run asks for approval and waits (see below).
- `monthly_briefing_flow` (deployment `budbringer-monthly/oc-briefing`, on a schedule): this month's message
  (`messages/YYYY-MM-*.md`) for the next OC meeting: checked, sent for approval, then cascaded.
- `approval_reminders_flow` (deployment `budbringer-reminders/daily`): reminders to approvers who have not
  decided, and the escalation to the chair at the deadline.

A send, in order, each step once: prepare (`prepare_task`), the approval (`flows/approval.py`: recorded from
the meeting, or asked for and waited on inside the run), then the deliveries: the engine
(`budbringer.engine`: tiers, blocking, calendar gates, the override, cascade before publish) drives them
through the Prefect executor (`flows/executor.py`: retried `deliver` tasks in the send's own flow run). The send
goes one way: this flow → the engine → the executor → `cascade.deliver` → the channel, and nothing calls back
up. Every step is a typed function of the domain; this module holds the flows, the order of their steps and
the artifacts. `flows/` is the only place that imports Prefect. Flow parameters are paths and ids,
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
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import deployment as current_deployment

from budbringer import approval_request, cascade, deadlines, engine, runtime, settings
from budbringer.adapters.registry import REGISTRY
from budbringer.approval import Approval
from budbringer.cascade import Outcome, Prepared
from budbringer.ledger import OutcomeState
from budbringer.report import outcome_rows, summary_markdown
from budbringer.flows.approval import notice_limits, obtain
from budbringer.flows import link_secret
from budbringer.flows.alerts import emit_uncertain
from budbringer.flows.executor import PrefectExecutor


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
        with settings.installed(run.settings):  # what the domain asks of `settings.current()`: the run's
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


@task(name="prepare", cache_policy=NO_CACHE, persist_result=False)  # its variants stay in this process
def prepare_task(message_path: str, run: runtime.Runtime) -> Prepared:
    """The message checked and rendered: the one the entry point handed in (`using`), else rendered here; its
    warnings in the run's log, and every channel's preflight."""
    prepared = _handed_prepared(run, message_path) or cascade.prepare(run.plan, message_path, run.settings.environ)
    logger = get_run_logger()
    for finding in prepared.findings:
        logger.warning("%s: %s", finding.forum, finding.text)
    problems = cascade.preflight(prepared.plan, run.channels)
    if problems:
        from budbringer.errors import InputError

        raise InputError(problems)
    return prepared


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
                                                limits=notice_limits(run.ledger),
                                                signer=link_secret.signer(run.plan, run.settings))
    for line in sent:
        get_run_logger().info(line)
    return sent


def _send(run: runtime.Runtime, message: str, approved_by: str | None, approval_ref: str | None,
          override_order: bool, reason: str, wait_for_approval: bool, wait_hours: float | None,
          follow_up: dict[str, Any]) -> list[Outcome]:
    logger = get_run_logger()
    message_path = str(Path(message).resolve())
    prepared = prepare_task(message_path, run)
    done = engine.already_delivered(prepared, run.ledger)
    if done is not None:
        logger.info("Nothing to deliver: all %d deliveries of %s were delivered before (the ledger)", len(done),
                    prepared.message.id)
        create_table_artifact(key=f"deliveries-{prepared.message.id}", table=outcome_rows(done),
                              description=f"Deliveries of {prepared.message.id} (all delivered before)")
        return done
    approval, late = obtain(prepared, run, approved_by, approval_ref, override_order, reason, wait_for_approval,
                            wait_hours)
    if approval is None:
        return []
    outcomes = engine.run(prepared, approval, PrefectExecutor(run), run.clock, logger)
    _report(prepared, approval, outcomes, late)
    waiting = [o for o in outcomes if o.state == OutcomeState.WAITING]
    if waiting:
        _schedule_follow_up(prepared, waiting[0].tier, follow_up)
    for outcome in outcomes:
        if outcome.state == OutcomeState.UNCERTAIN:
            emit_uncertain(prepared.message.id, outcome.forum, outcome.error, outcome.key, outcome.channel)
    failed = [o for o in outcomes if not o.ok and o.state != OutcomeState.WAITING]
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
