"""How a send run gets the approval it delivers under: recorded as the steering group gave it in its meeting, or
asked for and waited on inside the run (the Prefect tier of `budbringer.approval_request`).

The run opens a request for exactly the rendered content, sends it to the steering group once, and waits for
the decision — suspended when it runs from a deployment (no process is held; a resumed run starts again from
the top and repeats nothing: every step is in the ledger), paused when it runs locally against a server.
Approvers decide on their personal page, in the Prefect UI's form or with `budbringer approve`; `resume_waiting_run`
hands a decision made elsewhere to the run that waits for it.

`obtain` is the send flow's one call here: it returns the approval, or None (rejected, or not yet approved)
with the run's summary written.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_flow_run
from pydantic import Field

from budbringer import approval_request, author_links, cascade, comment, notice_mail, runtime, web_address
from budbringer.approval import Approval
from budbringer.approval_request import Decision, Status
from budbringer.cascade import Prepared
from budbringer.ledger import Ledger
from budbringer.flows import limits, link_secret
from budbringer.flows.executor import transient

#: the command line's progress lines (budbringer.engine's logger): a waiting send says who, by when and where
PROGRESS = logging.getLogger("budbringer.progress")

#: how often a paused run (the ephemeral or a local server, no deployment) asks whether it was resumed
PAUSE_POLL_SECONDS = 2


def obtain(prepared: Prepared, run: runtime.Runtime, approved_by: str | None, approval_ref: str | None,
           override_order: bool, reason: str, wait_for_decision: bool,
           wait_hours: float | None) -> tuple[Approval | None, str]:
    """The approval this run delivers under, and a note when it came after its deadline: recorded as the
    steering group gave it in its meeting (`approved_by`), else asked for and waited on. None when nothing may
    be sent: rejected (the author is told) or not (yet) approved; the run's summary then says which."""
    if approved_by:
        return approval_task(prepared, approved_by, approval_ref or "", override_order, reason, run), ""
    logger = get_run_logger()
    status = _await_approval(prepared, run, wait_for_decision, wait_hours)
    if status.rejected:
        told = rejection_task(prepared, status, run)
        logger.warning("%s was rejected (%s); nothing was sent; the author: %s", prepared.message.id,
                       status.request.comment, told)
        _report_decision(prepared, status)
        return None, ""
    if status.approval is None:
        logger.warning("%s waits for approval (%s): nothing was sent yet", prepared.message.id, status.needed)
        _report_decision(prepared, status)
        return None, ""
    approval = status.approval
    late = status.late_note(prepared.plan)
    if late:
        logger.warning("%s was approved late: %s", prepared.message.id, late)
    if override_order:
        approval = approval_request.with_override(approval, prepared.plan, run.ledger, reason)
    return approval, late


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
    form._description = (
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
    unreachable = web_address.warning(prepared.plan)
    if unreachable:  # a worker's run has no `serve` or `check` to say it: its log does
        logger.warning("%s", unreachable.removeprefix("WARNING: "))
    sent = approval_request.send_request(prepared, ledger, request, run.channels, limits=notice_limits(ledger),
                                         signer=link_secret.signer(prepared.plan, run.settings), now=run.clock())
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
    plan, message = prepared.plan, prepared.message
    address, _ = notice_mail.author(plan, message)
    page = author_links.author_url(plan, message.id, run.clock(), address, link_secret.author_signer(plan, run.settings))
    return approval_request.send_rejection(prepared, run.ledger, status, run.channels, limits=notice_limits(run.ledger),
                                           author_url=page)


def notice_limits(ledger: Ledger) -> approval_request.HoldLimits:
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
        # One line on the terminal of a command-line send (and in the run's log): who, by when, where.
        PROGRESS.info("%s", approval_request.waiting_line(prepared.plan, status, prepared.message.path))
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
