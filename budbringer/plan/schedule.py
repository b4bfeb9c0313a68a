"""The plan's calendar: when the monthly briefing is due, and when approval is asked for, reminded of and
escalated."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any

from pydantic import Field, field_validator

from budbringer import yamlfile
from budbringer.plan.fields import Name, Strict, custom_error


class Calendar(Strict):
    """When the monthly OC briefing is due, when approval is asked for, reminded of and escalated.

    Working days are Danish working days (budbringer.deadlines). See config/README.md.
    """

    timezone: str = Field(default="Europe/Copenhagen", description="IANA time zone of every date and time.")
    meetings_forum: Name = Field(default="oc", description="The forum whose `meetings:` drive the briefing.")
    briefing_working_days_before: int = Field(
        default=5, ge=0, description="The briefing reaches the forum this many working days before its "
                                     "meeting: the approval deadline.")
    request_working_days_before_deadline: int = Field(
        default=5, ge=1, description="The monthly run asks for approval this many working days before the "
                                     "deadline.")
    reminders_working_days_before_deadline: list[Annotated[int, Field(ge=1)]] = Field(
        default=[2, 1], description="Reminders to the approvers who have not decided, in working days before "
                                    "the deadline.")
    reminder_time: dt.time = Field(default=dt.time(9, 0), description="Local time at which the request, the "
                                                                       "reminders and the escalation fall due.")
    escalate_to_chair: bool = Field(default=True, description="At the deadline the request goes to the chair.")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise custom_error(f"{yamlfile.quote(value)} is not a known time zone",
                          "use an IANA name such as Europe/Copenhagen") from None
        return value

    @field_validator("reminder_time", mode="before")
    @classmethod
    def _reminder_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 10:30 as the base-60 number 630.
            raise custom_error(f"{yamlfile.quote(value)} is not a time of day",
                          "write the time in quotes as \"HH:MM\", e.g. reminder_time: \"10:30\"")
        if isinstance(value, dt.time) and value.tzinfo is not None:
            raise custom_error("has a UTC offset", "write a local time without offset; `timezone:` says where")
        return value
