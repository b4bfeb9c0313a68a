"""Newsletter submissions (`type: newsletter`, medium `submission`): MidtNyt and Perspektiv.

A newsletter is edited by people, so a submission is a mail to its editor (the forum's `newsletter.editor`)
with the item in the newsletter's format (the forum's template: a cover note and the item). This channel
does not send mail itself: `transport:` names another channel of the plan that does (the plan's mail
channel: the local outbox with nothing configured, Microsoft 365 or SMTP when they are). The submission keeps
its delivery key, so the transport's own lookup (a mail header, a file) finds it after a lost answer.

Issues and deadlines are plan facts (`newsletter.issues`). The approved cover note names the issue due
after the message's date, so the approval does not depend on the day it is given. At delivery the issue is
chosen again from today's date (Europe/Copenhagen): if the named issue's deadline has passed, the
submission targets the next issue and says so in a short note above the approved text (Danish, about
timing only; the item itself is unchanged).

Whether the editor took it is recorded afterwards: `budbringer mark MESSAGE FORUM accepted|declined`.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field

from budbringer.adapters.addressing import NewsletterEditor
from budbringer.adapters.base import Adapter, ChannelSettings, ForumAddressing, SharedLimit
from budbringer.checks import Finding
from budbringer.delivery import Delivery, Receipt
from budbringer.reach_reading import ReachReading, ReachSubject
from budbringer.errors import PermanentDeliveryError, Problem
from budbringer.render import Variant, danish_date
from budbringer.clock import default_clock

if TYPE_CHECKING:
    from budbringer.plan import Newsletter, NewsletterIssue, Plan


#: an editor's readers figure in the answer's note: "4.200 læsere", "readers: 4200"
_READERS = re.compile(r"(\d[\d.,]*)\s*(?:læsere|readers|modtagere)|(?:læsere|readers|modtagere)\s*[:=]?\s*(\d[\d.,]*)",
                      re.IGNORECASE)


class NewsletterSettings(ChannelSettings):
    transport: str = Field(default="mail", pattern=r"^[a-z][a-z0-9_]*$",
                           description="The plan's channel that carries the submission mail.")
    timezone: str = Field(default="Europe/Copenhagen", description="Where a deadline day begins and ends.")


@dataclass(frozen=True)
class Timing:
    """Which issue a submission is for, decided on the day it is sent."""

    target: NewsletterIssue | None  # the first issue whose deadline is today or later; None: none planned
    named: NewsletterIssue | None  # the issue the approved cover note names, if any
    late: bool  # the named issue's deadline has passed

    def note(self, title: str) -> str:
        """The Danish note above the approved text, or "" when the cover note already says it all."""
        target, named = self.target, self.named
        if named is not None and not self.late:
            return ""
        if named is None and target is None:
            return ""
        if named is None:
            assert target is not None
            return (f"<p><strong>Bemærk:</strong> Forslaget er til nummeret af {title} den "
                    f"{danish_date(target.date)}, som har deadline den {danish_date(target.deadline)}.</p>\n")
        missed = (f"Forslaget kommer efter deadline den {danish_date(named.deadline)} for nummeret den "
                  f"{danish_date(named.date)}.")
        if target is None:
            return (f"<p><strong>Bemærk:</strong> {missed} Vi kender endnu ikke datoen for det næste nummer af "
                    f"{title}, så vi foreslår det til det første nummer, hvor der er plads.</p>\n")
        return (f"<p><strong>Bemærk:</strong> {missed} Vi foreslår det derfor i stedet til nummeret den "
                f"{danish_date(target.date)}, som har deadline den {danish_date(target.deadline)}.</p>\n")


def timing(newsletter: Newsletter, body: str, today: dt.date) -> Timing:
    issues = sorted(newsletter.issues, key=lambda issue: issue.date)
    target = next((issue for issue in issues if issue.deadline >= today), None)
    cover = " ".join(re.split(r"<article\b", body, maxsplit=1)[0].split())
    named = next((issue for issue in issues if f"den {danish_date(issue.date)}" in cover), None)
    late = named is not None and named.deadline < today
    if named is not None and not late:
        target = named  # the approved cover note offers a later issue (after the approval deadline): keep it
    return Timing(target, named, late=late)


@dataclass(frozen=True)
class Submission(Delivery):
    """The submission mail handed to the transport. It keeps the newsletter delivery's key, so the transport
    marks and finds it by that key whatever the note above the text says."""

    newsletter_key: str = ""

    @property
    def key(self) -> str:
        return self.newsletter_key


class NewsletterAdapter(Adapter):
    type: ClassVar[str] = "newsletter"
    label: ClassVar[str] = "forslag til nyhedsbrev"
    Addressing: ClassVar[builtins.type[ForumAddressing]] = NewsletterEditor
    media: ClassVar[frozenset[str]] = frozenset({"submission"})
    measures_reach: ClassVar[bool] = True
    Settings = NewsletterSettings
    settings: NewsletterSettings

    def __init__(self, name: str, settings: NewsletterSettings) -> None:
        super().__init__(name, settings)
        self.newsletters: dict[str, Newsletter] = {}
        self.titles: dict[str, str] = {}
        self.transport: Adapter | None = None
        self._unbound = "the channel was not given its plan"

    def bind(self, plan: Plan, channels: Mapping[str, Adapter]) -> None:
        self.newsletters = {name: forum.newsletter for name, forum in plan.fora.items()
                            if forum.channel == self.name and forum.newsletter is not None}
        self.titles = {name: plan.fora[name].title for name in self.newsletters}
        transport = channels.get(self.settings.transport)
        if transport is None:
            self._unbound = f"transport {self.settings.transport!r} is not a channel of the plan"
        elif transport is self or "mail" not in transport.media:
            self._unbound = (f"transport {self.settings.transport!r} ({transport.type}) does not send mail")
        else:
            self._unbound = ""
            self.transport = transport

    def today(self) -> dt.date:
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()

    def submission(self, delivery: Delivery) -> tuple[Submission, Timing]:
        """The mail the transport sends for this delivery, and the issue it is for."""
        newsletter = self.newsletters.get(delivery.forum)
        if newsletter is None:
            raise PermanentDeliveryError(self.name, delivery.forum, "the forum has no newsletter settings",
                                         "add `newsletter:` (editor, word_limit, issues) to the forum")
        variant = delivery.variant
        when = timing(newsletter, variant.body, self.today())
        mail = dataclasses.replace(variant, medium="mail",
                                   body=when.note(self.titles.get(delivery.forum, delivery.forum)) + variant.body)
        return Submission(delivery.message_id, mail, self.settings.transport, delivery.approval_id,
                          newsletter_key=delivery.key), when

    def deliver(self, delivery: Delivery) -> Receipt:
        transport = self._transport(delivery.forum)
        mail, when = self.submission(delivery)
        receipt = transport.deliver(mail)
        details: dict[str, Any] = {**receipt.details, "transport": transport.name,
                                   "editor": ", ".join(delivery.variant.recipients), "late": when.late,
                                   "issue": when.target.date.isoformat() if when.target else None,
                                   "deadline": when.target.deadline.isoformat() if when.target else None}
        return dataclasses.replace(receipt, details=details)

    def find(self, delivery: Delivery) -> Receipt | None:
        """The transport's lookup, by the submission's key (the newsletter delivery's)."""
        transport = self._transport(delivery.forum)
        mail, _ = self.submission(delivery)
        return transport.find(mail)

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        """The transport's limits for the submission mail (e.g. the Graph sending mailbox's), so a submission
        counts against the mailbox like any other mail. None while the channel cannot deliver anyway."""
        if self.transport is None or delivery.forum not in self.newsletters:
            return []
        mail, _ = self.submission(delivery)
        return self.transport.limits(mail)

    def reach(self, subject: ReachSubject) -> ReachReading:
        """The editor's answer (`budbringer mark`): accepted 1 or 0, and the editor's readers figure if the note
        gives one ("4.200 læsere", "readers: 4200"); nothing before the editor has answered."""
        if not subject.answer:
            return ReachReading.not_measured("the editor has not answered yet (`budbringer mark`)")
        figures = {"accepted": 1 if subject.answer == "accepted" else 0}
        readers = _READERS.search(subject.answer_note)
        if readers:
            figures["readers"] = int(re.sub(r"\D", "", readers.group(1) or readers.group(2)))
        issue = subject.receipt.details.get("issue")
        return ReachReading.measured(figures, f"issue {issue}" if issue else "")

    def preflight(self) -> list[Problem]:
        """Its own settings, then the transport's preflight (its credentials and mailbox)."""
        if self._unbound:
            return [Problem(f"channels.{self.name}", "transport", self._unbound,
                            "name the plan's mail channel, e.g. `transport: mail`")]
        try:
            ZoneInfo(self.settings.timezone)
        except (ValueError, KeyError):
            return [Problem(f"channels.{self.name}", "timezone", f"{self.settings.timezone!r} is not a time zone",
                            "use a name like Europe/Copenhagen")]
        return self._transport("(preflight)").preflight()

    @classmethod
    def review(cls, variant: Variant, forum: Any) -> list[Finding]:
        if forum.newsletter is None:
            return []
        today = default_clock().astimezone(ZoneInfo("Europe/Copenhagen")).date()
        when = timing(forum.newsletter, variant.body, today)
        if not when.late or when.named is None:
            return []
        after = (f"it goes to the issue of {when.target.date.isoformat()} instead" if when.target else
                 "no later issue is planned")
        after_da = (f"Sendes det, foreslås det i stedet til nummeret den {danish_date(when.target.date)}."
                    if when.target else "Der er endnu ikke planlagt et senere nummer.")
        return [Finding(variant.forum, "warning",
                        f"the deadline for {forum.title} of {when.named.date.isoformat()} was "
                        f"{when.named.deadline.isoformat()}; {after}, and the mail to the editor says so",
                        f"Fristen for {forum.title} den {danish_date(when.named.date)} var den "
                        f"{danish_date(when.named.deadline)}. {after_da}")]

    def _transport(self, forum: str) -> Adapter:
        if self.transport is None:
            raise PermanentDeliveryError(self.name, forum, self._unbound,
                                         "name the plan's mail channel, e.g. `transport: mail`")
        return self.transport
