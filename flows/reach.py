"""The reach collection as a Prefect flow: `budbringer-reach` (deployment `budbringer-reach/collect`, prefect.yaml).

Every day it reads each delivered forum whose next point has come (the plan's `reach.points`, days after its
delivery) and keeps the reading in the ledger (`budbringer.reach.collect`): a re-run stores nothing twice, and a
provider that refuses is recorded with its reason and read again at the next point, never failing the others.
A reading holds the same shared provider limits as the channel's deliveries (`Adapter.reach_limits`, through
flows/limits.py), so a collection never posts alongside a send beyond what the provider allows. Each collection
leaves a Markdown report artifact in the UI.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from budbringer import reach, runtime
from budbringer.adapters.registry import REGISTRY
from budbringer.channel import Adapter
from budbringer.delivery import Delivery
from budbringer.flows import limits
from budbringer.flows.send import using
from budbringer.render import Variant

#: every day at 06:30 Copenhagen time: readings are a day's figures, before the working day starts
DAILY_CRON = "30 6 * * *"


class _ReadingLimits:
    """The channel as flows/limits.py sees it for a reading: its name, and the limits a reading holds."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter, self.name = adapter, adapter.name

    def limits(self, delivery: Delivery) -> list[Any]:
        return self.adapter.reach_limits()


@contextlib.contextmanager
def shared_limits(adapter: Adapter, subject: reach.ReachSubject) -> Iterator[None]:
    """Hold the channel's shared provider limits while one reading is made (none for most channels)."""
    if not adapter.reach_limits():
        yield
        return
    # flows/limits.py keys its messages by a delivery: the reading's forum and channel, with no content.
    placeholder = Delivery(subject.message_id, Variant(
        forum=subject.forum, forum_title=subject.forum, tier="reach", tier_index=0, phase="reach", medium="post",
        channel=subject.channel, template="", stakeholder="others", subject="", body="", body_format="text",
        summary="", link=None), subject.channel, approval_id=0)
    with limits.hold(_ReadingLimits(adapter), placeholder, None):
        yield


@flow(name="budbringer-reach")
def reach_flow(plan: str | None = None, message: str | None = None) -> dict[str, int]:
    """Read what is due for every delivered forum (or one message's), keep it in the ledger, and report it."""
    run = runtime.build(plan, REGISTRY)
    try:
        with using(run):
            done = reach.collect(run.ledger, run.channels, run.clock, run.plan.reach.points, message,
                                 around=shared_limits)
            readings = run.ledger.reach(message)
    finally:
        run.close()
    logger = get_run_logger()
    for stored in done.stored:
        logger.info("%s %s day %d: %s", stored.message_id, stored.forum, stored.point, reach.describe(stored.reading))
    stamp = re.sub(r"[^0-9]", "", done.at.strftime("%Y%m%d%H%M"))
    create_markdown_artifact(key=f"reach-{stamp}", markdown=reach.report_markdown(done, readings),
                             description="What each delivered forum's reading said at this collection")
    return {"stored": len(done.stored), "refused": len(done.refused), "already": done.already,
            "not_due": done.not_due}
