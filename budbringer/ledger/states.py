"""Every state the ledger stores, as enums. StrEnum: the stored values are the same strings as before, and a
member compares equal to its string, so callers and existing rows need no change."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A delivery's state, and a notice's (notices take the same states).

        attempting → delivered        the provider took it (receipt kept)
        attempting → failed           the provider refused, or could not take it: nothing was delivered
        attempting → uncertain        it may have been delivered: reconciled, or settled by the operator
    """

    ATTEMPTING = "attempting"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


DeliveryState = State


class Resolution(StrEnum):
    """How the operator settles an uncertain delivery (`budbringer resolve`)."""

    SENT = "sent"  # it arrived: delivered
    RESEND = "resend"  # it did not arrive: failed, so the next run delivers it again


class RequestState(StrEnum):
    """An approval request: open until decided; void when the message changed and a new request replaced it."""

    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    VOID = "void"


class VoteDecision(StrEnum):
    """One approver's decision on a request."""

    APPROVE = "approve"
    REJECT = "reject"


class Answer(StrEnum):
    """A newsletter editor's answer to a submission that was delivered (`budbringer mark`)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


class NoticeKind(StrEnum):
    """What a notice about an approval request is. Reminders are numbered when stored: `reminder-1`, …"""

    REQUEST = "request"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    REJECTION = "rejection"

    @classmethod
    def of(cls, stored: str) -> NoticeKind:
        """The kind of a stored notice kind (`reminder-2` → REMINDER). A notice sent to one member carries the
        member after a colon (`request:mette-lund`, `reminder-1:jens-kragh`). ValueError for anything else."""
        stored, _, member = stored.partition(":")
        if member != "" and not all(c.isascii() and (c.isalnum() or c == "-") for c in member):
            raise ValueError(f"a notice's member key is lower-case letters, digits and -, not {member!r}")
        family, _, number = stored.partition("-")
        if family == cls.REMINDER and number.isdigit():
            return cls.REMINDER
        if not number and stored in cls._value2member_map_ and stored != cls.REMINDER:
            return cls(stored)
        raise ValueError(f"a notice is one of request, reminder-N, escalation, rejection, not {stored!r}")

