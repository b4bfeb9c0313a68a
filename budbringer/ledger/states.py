"""Every state the ledger stores, and every outcome a run reports, as enums. StrEnum: the stored values are the
same strings as before, and a member compares equal to its string, so existing rows read back unchanged.

The changes of a delivery's or a notice's state are checked here, in one place (`State.may_become`): the
ledger refuses any other (see `attempts`)."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A delivery's state, and a notice's: both are kept by the same rule (`ledger.attempts`).

        (new)      → attempting       claimed: this run owns an attempt
        attempting → delivered        the provider took it (receipt kept)
        attempting → failed           the provider refused, or could not take it: nothing was delivered
        attempting → uncertain        it may have been delivered: looked up, or settled by the operator
        failed     → attempting       taken up again by the next claim (the next attempt)
        attempting, uncertain → attempting   taken up again after a lookup at the provider found nothing
        uncertain  → delivered        found at the provider, or settled `sent` by the operator
        uncertain  → failed           settled `resend` by the operator: the next run sends it
        uncertain  → uncertain        looked up again, still unknown
        delivered                     done: it never changes again
    """

    ATTEMPTING = "attempting"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNCERTAIN = "uncertain"

    def may_become(self, new: State) -> bool:
        return new in _NEXT[self]

    @classmethod
    def before(cls, new: State) -> tuple[State, ...]:
        """The states that may change to `new`."""
        return tuple(state for state in cls if new in _NEXT[state])


_NEXT: dict[State, frozenset[State]] = {
    State.ATTEMPTING: frozenset({State.ATTEMPTING, State.DELIVERED, State.FAILED, State.UNCERTAIN}),
    State.FAILED: frozenset({State.ATTEMPTING}),
    State.UNCERTAIN: frozenset({State.ATTEMPTING, State.DELIVERED, State.FAILED, State.UNCERTAIN}),
    State.DELIVERED: frozenset(),
}

DeliveryState = State
NoticeState = State


class OutcomeState(StrEnum):
    """How one delivery (or notice) ended in this run (`cascade.Outcome.state`); never stored."""

    DELIVERED = "delivered"  # delivered by this run
    ALREADY_DELIVERED = "already delivered"  # an earlier run delivered it (or a lookup found it arrived)
    FAILED = "failed"  # refused, or given up on: nothing was delivered
    UNCERTAIN = "uncertain"  # it may have been delivered: looked up by the next run, or settled by the operator
    NOT_STARTED = "not started"  # an earlier tier failed (blocking), so it was not tried
    WAITING = "waiting"  # its tier waits for a calendar gate: a later run delivers it

    @property
    def ok(self) -> bool:
        return self in (OutcomeState.DELIVERED, OutcomeState.ALREADY_DELIVERED)



class NoticeOutcome(StrEnum):
    """How sending one notice ended in this run (`approval_request.send_request` and the reminders); never
    stored. A notice that failed raises instead (kept as failed: the next run sends it)."""

    SENT = "sent"
    SENT_BEFORE = "sent before"  # an earlier run sent it, or a lookup found that an earlier attempt arrived
    UNCERTAIN = "uncertain"  # it may have arrived: left for the lookup or the operator, never resent blindly


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

