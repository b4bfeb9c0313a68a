"""`budbringer serve`: the deployments of prefect.yaml, served from one long-running process.

For a small install: no work pool and no worker, just this process (and a Prefect server, or Prefect Cloud).
It registers the same deployments as `prefect deploy --all` — the manual send, the monthly OC briefing on
the 20th at 08:00 Copenhagen time, the approval
reminders every working day, the check-and-preview run, and the daily reach collection — and runs their flow runs itself, in the
folder it was started in. Stop it with Ctrl-C (its schedules are paused on the way out).
"""

from __future__ import annotations

from typing import Any

#: the same schedule as prefect.yaml's oc-briefing: the 20th of each month, 08:00 in Copenhagen
MONTHLY_CRON = "0 8 20 * *"
#: the same schedule as prefect.yaml's reminders: every working day at 09:05 (reminders fall due at 09:00)
REMINDERS_CRON = "5 9 * * 1-5"
#: the same schedule as prefect.yaml's reach collection: every day at 06:30
REACH_CRON = "30 6 * * *"
TIMEZONE = "Europe/Copenhagen"
EXAMPLE_MESSAGE = "messages/2026-11-status-udbud.md"


def deployments(message: str = EXAMPLE_MESSAGE, plan: str | None = None) -> list[Any]:
    """The runner deployments, named as in prefect.yaml (flow name / deployment name); `plan`: their plan
    parameter (else each run's settings choose: $BUDBRINGER_PLAN, config/plan.yaml)."""
    from prefect.schedules import Cron

    from budbringer.flows import send
    from budbringer.flows.check import check_flow
    from budbringer.flows.reach import reach_flow

    planned = {"plan": plan} if plan else {}
    found = [
        send.send_flow.to_deployment(
            name="manual", parameters={"message": message, **planned}, tags=["budbringer"],
            description="Send one approved message through every tier of the plan, then publish it."),
        check_flow.to_deployment(
            name="preview", parameters={"message": message, **planned}, tags=["budbringer"],
            description="Check a message against the plan and show every variant in the UI. Sends nothing."),
    ]
    found.append(send.monthly_briefing_flow.to_deployment(
        name="oc-briefing", parameters=planned, schedules=[Cron(MONTHLY_CRON, timezone=TIMEZONE)], tags=["budbringer"],
        description="The monthly written briefing of OC-kredsen ahead of its next meeting."))
    found.append(send.approval_reminders_flow.to_deployment(
        name="daily", parameters=planned, schedules=[Cron(REMINDERS_CRON, timezone=TIMEZONE)], tags=["budbringer"],
        description="Remind the steering group of messages waiting for approval; escalate to the chair at "
                    "the deadline."))
    found.append(reach_flow.to_deployment(
        name="collect", parameters=planned, schedules=[Cron(REACH_CRON, timezone=TIMEZONE)], tags=["budbringer"],
        description="Read each delivered forum's reach at the plan's points (1, 7, 30 days) into the ledger."))
    return found


def serve(message: str = EXAMPLE_MESSAGE, limit: int | None = None, plan: str | None = None) -> None:
    """Register the deployments and run their flow runs here until interrupted."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(message, plan), limit=limit)
