"""Where a plan's message goes: the channels, the fora (with their channel's addressing) and the tiers of the
cascade."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from budbringer import yamlfile
from budbringer.channel_types import ForumAddressing
from budbringer.plan.fields import Email, Medium, Name, Phase, Stakeholder, Strict, custom_error


class Channel(BaseModel):
    """A named way of delivering: an adapter type and its settings (checked by the adapter's own model)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NewsletterIssue(Strict):
    date: dt.date
    deadline: dt.date


class Newsletter(Strict):
    """A newsletter edited by people: items go to the editor before the deadline of an issue."""

    editor: Email
    word_limit: int = Field(gt=0)
    issues: list[NewsletterIssue] = []


class Forum(Strict):
    """A group that must be informed, how it is reached, and what it reads.

    Beside the fields below, a forum gives the addressing fields its channel declares (`recipients`, `sites`,
    `newsletter`, … : `Adapter.Addressing`); they are checked against the channel's declaration from the registry
    the plan is loaded with, and read through `address`."""

    title: str
    description: str = ""
    stakeholder: Stakeholder
    medium: Medium
    channel: Name
    template: str
    enabled: bool = True
    informs: list[str] = Field(default=[], description="Who this forum passes the message on to (e.g. LMU).")
    meetings: list[dt.date] = Field(default=[], description="Meeting dates (OC's monthly meetings).")
    max_chars: int | None = Field(default=None, gt=0)
    max_words: int | None = Field(default=None, gt=0)
    disabled_reason: str = ""
    group_text: bool = Field(
        default=False, description="The message's text for this forum's stakeholder group (`groups.<group>`) "
                                   "is written for this forum's readers (the employees' text for the staff "
                                   "intranet). Any other forum needs its own text, or `shares_text_with`.")
    shares_text_with: Name | None = Field(
        default=None, description="This forum deliberately reads the text written for another forum (the "
                                  "local intranet pages read the main page's text).")

    #: the keys beside the fields above, as written: the channel's addressing, checked by load()
    addressing_fields: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    #: the addressing fields, checked by the channel's model (set by load())
    _address: ForumAddressing | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _addressing(cls, data: Any) -> Any:
        """Keep the keys that are not a forum's own fields apart, for the channel's model to check."""
        if not isinstance(data, dict):
            return data
        own = set(cls.model_fields) - {"addressing_fields"}
        return {**{k: v for k, v in data.items() if k in own},
                "addressing_fields": {k: v for k, v in data.items() if k not in own}}

    @property
    def address(self) -> ForumAddressing:
        """Where this forum's variant goes, as its channel declares it (`Adapter.Addressing`)."""
        return self._address if self._address is not None else ForumAddressing()

    @property
    def newsletter(self) -> Newsletter | None:
        """The newsletter this forum submits to (its editor, word limit and issues), if its channel takes one."""
        value = getattr(self.address, "newsletter", None)
        return value if isinstance(value, Newsletter) else None


class Tier(Strict):
    """One step of the cascade: the fora informed together."""

    name: Name
    title: str
    phase: Phase = "cascade"
    fora: list[Name] = Field(min_length=1)
    not_before: Literal["meeting"] | dt.date | None = Field(
        default=None, description="Calendar gate: `meeting` (not before the OC meeting the message is for) or a "
                                  "date; the tier starts on that day at the earliest.")

    @field_validator("not_before", mode="before")
    @classmethod
    def _not_before(cls, value: Any) -> Any:
        if value is None or value == "meeting":
            return value
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise custom_error(f"{yamlfile.quote(value)} is neither `meeting` nor a date",
                      "write `not_before: meeting` (not before the OC meeting the message is for) or a date "
                      "as YYYY-MM-DD, or leave it out")
