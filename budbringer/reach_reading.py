"""What a provider says about how far one delivery reached (the model of `budbringer.reach`): a reading
(figures by metric, "not measured", or a refusal with its reason), the subject a channel is asked about, and a
stored reading at a point. Kept apart from the collection so that the channel contract (`channel.Adapter.reach`)
and the ledger's store can name it without importing either.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from budbringer.delivery import Receipt


class Measure(StrEnum):
    """What a reading holds: figures, nothing the provider can tell, or the provider's refusal."""

    MEASURED = "measured"
    NOT_MEASURED = "not measured"
    REFUSED = "refused"


@dataclass(frozen=True)
class ReachReading:
    """What a provider said about one delivery at one moment: metric → number, or why there is none."""

    measure: Measure
    figures: Mapping[str, int] = field(default_factory=dict)
    reason: str = ""

    @classmethod
    def measured(cls, figures: Mapping[str, int], note: str = "") -> ReachReading:
        return cls(Measure.MEASURED, {name: int(value) for name, value in figures.items()}, note)

    @classmethod
    def not_measured(cls, why: str) -> ReachReading:
        return cls(Measure.NOT_MEASURED, {}, why)

    @classmethod
    def refused(cls, why: str) -> ReachReading:
        return cls(Measure.REFUSED, {}, why)


class ReachRefused(Exception):
    """The provider would not give figures now (permission, a deleted post, throttling): tried at the next point."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ReachSubject:
    """One delivered forum, as a channel is asked about it: its receipt, and the editor's answer (newsletters)."""

    key: str
    message_id: str
    forum: str
    channel: str
    receipt: Receipt
    delivered_at: dt.datetime
    answer: str = ""
    answer_note: str = ""


@dataclass(frozen=True)
class Reach:
    """One stored reading: a delivery's figures at a point (days after delivery), and when they were read."""

    key: str
    message_id: str
    forum: str
    channel: str
    point: int
    read_at: dt.datetime
    delivered_at: dt.datetime
    reading: ReachReading

    @property
    def figures(self) -> Mapping[str, int]:
        return self.reading.figures
