"""The Prefect flows: approval → cascade → publish, in the plan's order.

Thin on purpose: every step is a typed function in `budbringer.cascade`; this module says which steps run
as tasks, which retry, and in what order. It is the only place (with the rest of `flows/`) that imports
Prefect.

Who retries what: a channel retries a single HTTP call for seconds (tenacity, honouring Retry-After); the
delivery task retries a *transient* failure (nothing was delivered) for longer outages, twice, after 10 and
60 seconds. A permanent failure or an uncertain outcome is never retried here: the first needs a person to
fix something, the second must be looked up, not re-sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import wait

from budbringer import cascade
from budbringer.approval import Approval
from budbringer.cascade import Outcome, Prepared
from budbringer.delivery import Delivery
from budbringer.errors import TransientDeliveryError
from budbringer.ledger import Ledger
from budbringer.report import outcome_rows, summary_markdown


class CascadeFailed(RuntimeError):
    """A delivery did not succeed: later tiers were not started. The report says which and why."""


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except TransientDeliveryError:
        return True
    except Exception:
        return False
    return False


@task(name="prepare", cache_policy=NO_CACHE)
def prepare_task(plan_path: str | None, message_path: str) -> Prepared:
    prepared = cascade.prepare(plan_path, message_path)
    logger = get_run_logger()
    for finding in prepared.findings:
        logger.warning("%s: %s", finding.forum, finding.text)
    problems = cascade.preflight(prepared.plan)
    if problems:
        from budbringer.errors import InputError

        raise InputError(problems)
    return prepared


@task(name="record-approval", cache_policy=NO_CACHE)
def approval_task(prepared: Prepared, approved_by: str, reference: str, override_order: bool,
                  override_reason: str) -> Approval:
    approval = cascade.record_approval(prepared, Ledger(), approved_by, reference, override_order,
                                       override_reason)
    get_run_logger().info("Approval %s by %s (%s) covers %d variants, hash %s", approval.id,
                          approval.approved_by, approval.reference, len(approval.variant_hashes),
                          approval.hash[:12])
    return approval


@task(name="deliver", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=_transient, task_run_name="deliver-{delivery.variant.forum}")
def deliver_task(delivery: Delivery, plan_path: str) -> Outcome:
    from budbringer import plan as plan_

    plan = plan_.load(plan_path)
    adapter = cascade.channels(plan)[delivery.channel]
    outcome = cascade.deliver(delivery, adapter, Ledger())
    logger = get_run_logger()
    if outcome.ok:
        logger.info("%s: %s", outcome.forum, outcome.state)
    else:
        logger.error("%s: %s — %s", outcome.forum, outcome.state, outcome.error)
    return outcome


def _run_tiers(tiers: list[list[Delivery]], plan_path: str, release_all: bool) -> list[Outcome]:
    logger = get_run_logger()
    outcomes: list[Outcome] = []
    if release_all:
        logger.warning("Order overridden by the chair: every tier is released at once")
        futures = [deliver_task.submit(d, plan_path) for tier in tiers for d in tier]
        wait(futures)
        return [_result(f, d) for f, d in zip(futures, [d for tier in tiers for d in tier], strict=True)]
    for index, tier in enumerate(tiers):
        blocked = [o for o in outcomes if not o.ok]
        if blocked:
            reason = f"tier {tier[0].variant.tier} not started: {', '.join(o.forum for o in blocked)} not delivered"
            logger.error(reason)
            outcomes += [cascade.not_started(d, reason) for tiers_left in tiers[index:] for d in tiers_left]
            break
        logger.info("Tier %s: %s", tier[0].variant.tier, ", ".join(d.forum for d in tier))
        futures = [deliver_task.submit(d, plan_path) for d in tier]
        wait(futures)
        outcomes += [_result(f, d) for f, d in zip(futures, tier, strict=True)]
    return outcomes


def _result(future: Any, delivery: Delivery) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # the task gave up (e.g. transient failures past its retries)
        variant = delivery.variant
        return Outcome(delivery.key, variant.forum, variant.tier, variant.tier_index, delivery.channel, "failed",
                       error=str(exc))


@flow(name="cascade", log_prints=True)
def cascade_flow(deliveries: list[Delivery], plan_path: str, release_all: bool = False) -> list[Outcome]:
    """The internal cascade: OC, then HMU and the networks, then the employees — each tier after the last."""
    return _run_tiers(cascade.by_tier(deliveries), plan_path, release_all)


@flow(name="publish", log_prints=True)
def publish_flow(deliveries: list[Delivery], plan_path: str, release_all: bool = False) -> list[Outcome]:
    """The external channels, after every internal tier was delivered."""
    return _run_tiers(cascade.by_tier(deliveries), plan_path, release_all)


@flow(name="budbringer-send")
def send_flow(message: str, approved_by: str, approval_ref: str, plan: str | None = None,
              override_order: bool = False, reason: str = "") -> list[Outcome]:
    """Send one message the steering group approved: record the approval, then cascade, then publish."""
    from budbringer import plan as plan_

    plan_path = str(plan_.plan_path(plan).resolve())
    prepared = prepare_task(plan_path, str(Path(message).resolve()))
    approval = approval_task(prepared, approved_by, approval_ref, override_order, reason)
    everything = cascade.deliveries(prepared, approval)
    internal = [d for d in everything if d.variant.phase == "cascade"]
    external = [d for d in everything if d.variant.phase == "publish"]
    if override_order:
        outcomes = publish_flow(everything, plan_path, release_all=True)
    else:
        outcomes = cascade_flow(internal, plan_path)
        if all(o.ok for o in outcomes):
            outcomes += publish_flow(external, plan_path)
        else:
            reason_text = "the internal cascade did not finish: nothing was published"
            get_run_logger().error(reason_text)
            outcomes += [cascade.not_started(d, reason_text) for d in external]
    _report(prepared, approval, outcomes)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise CascadeFailed(f"{len(failed)} of {len(outcomes)} deliveries did not succeed: "
                            + "; ".join(f"{o.forum} {o.state}" for o in failed))
    return outcomes


def _report(prepared: Prepared, approval: Approval, outcomes: list[Outcome]) -> None:
    key = f"deliveries-{prepared.message.id}"
    create_table_artifact(key=key, table=outcome_rows(outcomes),
                          description=f"Deliveries of {prepared.message.id}")
    create_markdown_artifact(key=f"summary-{prepared.message.id}",
                             markdown=summary_markdown(prepared, approval, outcomes),
                             description=f"Summary of {prepared.message.id}")
