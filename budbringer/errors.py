"""Errors that Budbringer shows to a person.

Every error raised on bad input names the file, the field and the fix, so that an operator can act on it
without reading code. Delivery errors say whether the outcome is known: a permanent failure means the
provider refused (nothing was delivered), an uncertain one means it may have been delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Problem:
    """One thing wrong with the input: where it is, what is wrong, and what to do about it."""

    file: str
    field: str
    what: str
    fix: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field}: {self.what}\n    fix: {self.fix}"


class BudbringerError(Exception):
    """Base of every error Budbringer raises on purpose."""


@dataclass
class InputError(BudbringerError):
    """The plan, a message or a template is wrong. Nothing has been sent."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found; nothing was sent:"
        return "\n".join([head, *(f"  - {problem}" for problem in self.problems)])


class ApprovalError(BudbringerError):
    """A delivery was attempted without an approval that covers its exact content."""


class DeliveryError(BudbringerError):
    """A channel could not deliver. Subclasses say whether the outcome is known."""

    def __init__(self, channel: str, forum: str, reason: str, fix: str = "") -> None:
        self.channel, self.forum, self.reason, self.fix = channel, forum, reason, fix
        text = f"{channel} → {forum}: {reason}"
        super().__init__(text + (f" ({fix})" if fix else ""))


class PermanentDeliveryError(DeliveryError):
    """The provider refused (400/401/403/404 and the like): nothing was delivered, retrying will not help."""


class TransientDeliveryError(DeliveryError):
    """The provider could not take it now (429, 503, a refused connection): nothing was delivered."""


class UncertainDeliveryError(DeliveryError):
    """The request may have reached the provider (a timeout after sending, a 5xx): it may have been delivered.

    Never re-sent blindly: reconciled with the provider where it can be looked up, otherwise shown to the
    operator to settle.
    """
