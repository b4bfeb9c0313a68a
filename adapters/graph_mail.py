"""Microsoft 365 mail through Graph (`type: graph_mail`): OC, HMU and the networks are briefed by e-mail.

One delivery is `POST {graph}/users/{sender}/sendMail` with the variant's HTML, its recipients, the header
`x-budbringer-delivery: <delivery key>` and a copy in the sender's Sent Items. Exchange's limits are held
here: at most 500 recipients per message (a longer list is sent in parts, each its own step), and per
sending mailbox 30 messages a minute and 4 requests at a time, shared by every delivery of the run
(`MailboxLimiter`: the run's channels that send from one mailbox share one, see `bind`) and, through
`limits()`, by every run and worker (Prefect global concurrency limits
named after a hash of the mailbox, taken by the flow; see docs/operations.md).

sendMail has no idempotency key: a 5xx, a timeout or a broken connection after the request went out may
still have sent the mail. Such an outcome is never re-sent blindly. With `lookup: {enabled: true}` the
adapter looks the mail up in the sender's mailbox and sends again only when it is not there; without it the
delivery is left *uncertain* for the operator. The lookup cannot use the header: Graph does not filter on
`internetMessageHeaders`, and the copy in Sent Items does not even carry them (microsoftgraph/
microsoft-graph-docs#2716). So every mail also carries the delivery key in a named extended property of
Budbringer's own (`singleValueExtendedProperties`), which Graph filters on server-side:

    GET /users/{sender}/messages?$filter=singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq '{key}')

That lookup needs the application permission `Mail.Read` (Mail.ReadBasic.All does not cover extended
properties); scope it to the sending mailbox with Exchange's RBAC for Applications or an application access
policy. The whole mailbox is searched, not only Sent Items, so a mail still in the Outbox or moved by a
person is found too. Which layer retries what: see adapters/graph.py.

A notice with a written text (`Variant.text`) goes in MIME form instead (Content-Type: text/plain, the
base64 of `mailformat.build_mail`'s multipart/alternative), which cannot carry the extended property: it is
looked up by its stable Message-ID (`internetMessageId eq '…'`); see docs/microsoft365.md.
"""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from budbringer.adapters.addressing import MailOrNewsletter
from budbringer.adapters.base import Adapter, ChannelSettings, ForumAddressing, SharedLimit
from budbringer.adapters.graph import GraphClient, GraphEnvironment, RetrySettings, clients, odata_string, query, token_fix
from budbringer.adapters.mailformat import build_mail, domain_of
from budbringer.delivery import Delivery, Receipt
from budbringer.adapters import reach_readers
from budbringer.reach_reading import ReachReading, ReachSubject
from budbringer.errors import (
    DeliveryError,
    PermanentDeliveryError,
    Problem,
    TransientDeliveryError,
    UncertainDeliveryError,
)
from budbringer.plan import Email, Plan

log = logging.getLogger("budbringer.graph_mail")

HEADER = "x-budbringer-delivery"
PART_HEADER = "x-budbringer-part"
#: a named MAPI property in Budbringer's own property set: the delivery key, filterable in the mailbox
PROPERTY_ID = "String {6f1d2c83-5b7a-4e0c-9d41-b7a3c2e95f10} Name BudbringerDelivery"
MAX_RECIPIENTS = 500



class SentItemsLookup(ChannelSettings):
    """Look a mail up in the sender's mailbox after an unknown outcome (needs Mail.Read; see the docstring)."""

    enabled: bool = False
    settle: float = Field(default=20.0, ge=0, description="Seconds to wait before the first look: Exchange "
                                                          "files the sent copy a few seconds after accepting.")
    checks: int = Field(default=3, ge=1, description="How many times to look before concluding it is not there.")
    interval: float = Field(default=10.0, ge=0, description="Seconds between looks.")
    resends: int = Field(default=1, ge=0, description="Sends after a lookup found nothing, per part.")


class GraphMailSettings(ChannelSettings):
    sender: Email = Field(description="The mailbox that sends (and keeps the copy in Sent Items).")
    max_recipients: int = Field(default=MAX_RECIPIENTS, ge=1, le=MAX_RECIPIENTS)
    messages_per_minute: int = Field(default=30, ge=1, description="Exchange: per sending mailbox.")
    concurrent_requests: int = Field(default=4, ge=1, description="Exchange: per sending mailbox.")
    lookup: SentItemsLookup = SentItemsLookup()
    retry: RetrySettings = RetrySettings()


class MailboxLimiter:
    """Exchange's per-mailbox limits: `per_window` messages per `window` seconds, `concurrent` requests at once.

    Every request to the mailbox takes a slot; a sendMail also takes a place in the window, from when it starts
    (so a throttled attempt counts too, which errs on the safe side) until `window` seconds after its answer
    came back. Exchange counts a message from when it *arrives*, which is after it started and before its
    answer: a place counted from the start would be freed up to one round trip before Exchange frees it, and
    the next message could arrive while Exchange still counts `per_window` (a 429 at every window's edge). Counted
    from the answer, a place is never freed before Exchange's, and it costs one round trip per window (0.1 % of
    Exchange's 60 s window at 50 ms).
    """

    def __init__(self, per_window: int, concurrent: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_window, self.concurrent, self.window = per_window, concurrent, window
        self._clock, self._sleep = clock, sleep
        self._slots = threading.BoundedSemaphore(concurrent)
        #: one place per message in the window: [when it is freed], infinity while its request is out
        self._places: deque[list[float]] = deque()
        self._lock = threading.Lock()

    @contextmanager
    def request(self) -> Iterator[None]:
        with self._slots:
            yield

    @contextmanager
    def message(self) -> Iterator[None]:
        place = self._take_place()
        try:
            with self.request():
                yield
        finally:
            with self._lock:
                place[0] = self._clock() + self.window  # answered (or given up): Exchange has counted it by now

    def _take_place(self) -> list[float]:
        while True:
            with self._lock:
                now = self._clock()
                # places are freed in any order (answers come back out of order): drop every freed one
                if any(until <= now for until, in self._places):
                    self._places = deque(p for p in self._places if p[0] > now)
                if len(self._places) < self.per_window:
                    place = [float("inf")]
                    self._places.append(place)
                    return place
                wait = min(until for until, in self._places) - now
            if wait == float("inf"):  # every place is held by a request still out: wait for an answer
                wait = min(self.window / self.per_window, 1.0)
            log.info("holding a message for %.1f s: %d messages in the last %.0f s", wait, self.per_window,
                     self.window)
            self._sleep(wait)


def mailbox_limit_name(mailbox: str) -> str:
    """The shared limit of one sending mailbox: stable, case-insensitive like Exchange, without the address."""
    return f"budbringer-graph-mailbox-{hashlib.sha256(mailbox.casefold().encode()).hexdigest()[:12]}"


def part_key(key: str, part: int, parts: int) -> str:
    return key if parts == 1 else f"{key}#{part}/{parts}"


def split(recipients: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    return [recipients[i:i + size] for i in range(0, len(recipients), size)]


def sendmail_body(delivery: Delivery, recipients: tuple[str, ...], part: int = 1, parts: int = 1) -> dict[str, Any]:
    """The sendMail request body for one part (pure)."""
    variant = delivery.variant
    headers = [{"name": HEADER, "value": delivery.key}]
    if parts > 1:
        headers.append({"name": PART_HEADER, "value": f"{part}/{parts}"})
    return {
        "message": {
            "subject": variant.subject,
            "body": {"contentType": "HTML" if variant.body_format == "html" else "Text", "content": variant.body},
            "toRecipients": [{"emailAddress": {"address": address}} for address in recipients],
            "internetMessageHeaders": headers,
            "singleValueExtendedProperties": [{"id": PROPERTY_ID, "value": part_key(delivery.key, part, parts)}],
        },
        "saveToSentItems": True,
    }


def is_mime(delivery: Delivery) -> bool:
    """A notice with a written text goes as MIME (multipart/alternative, as SMTP sends it): sendMail's JSON
    takes one body only."""
    return delivery.variant.body_format == "html" and bool(delivery.variant.text)


def mime_message_id(delivery: Delivery, sender: str, part: int = 1, parts: int = 1) -> str:
    """The Message-ID of one part in MIME form: stable per delivery and part, so the mailbox lookup can find it
    by `internetMessageId` (a MIME message cannot carry the extended property)."""
    suffix = "" if parts == 1 else f"-{part}of{parts}"
    return f"<budbringer-{delivery.short_key}{suffix}@{domain_of(sender)}>"


def sendmail_mime(delivery: Delivery, sender: str, recipients: tuple[str, ...], part: int = 1,
                  parts: int = 1) -> bytes:
    """The sendMail request body in MIME form (pure): the mail `mailformat.build_mail` builds for SMTP, with
    the part header when in parts, base64-encoded as Graph wants it (Content-Type: text/plain)."""
    mail = build_mail(delivery, sender, sent_at=dt.datetime.now(dt.UTC),
                      message_id=mime_message_id(delivery, sender, part, parts), recipients=recipients)
    if parts > 1:
        mail[PART_HEADER] = f"{part}/{parts}"
    return base64.b64encode(mail.as_bytes())


class GraphMailAdapter(Adapter):
    type: ClassVar[str] = "graph_mail"
    label: ClassVar[str] = "Microsoft 365-mail"
    Addressing: ClassVar[builtins.type[ForumAddressing]] = MailOrNewsletter
    media: ClassVar[frozenset[str]] = frozenset({"mail", "submission"})
    measures_reach: ClassVar[bool] = True
    max_concurrency: ClassVar[int] = 4
    Settings = GraphMailSettings
    settings: GraphMailSettings
    Environment = GraphEnvironment
    environment: GraphEnvironment

    def __init__(self, name: str, settings: GraphMailSettings,
                 environment: GraphEnvironment | None = None) -> None:
        super().__init__(name, settings, environment)
        self.graph = GraphClient(name, settings.retry, self.environment)
        self.limiter = MailboxLimiter(settings.messages_per_minute, settings.concurrent_requests)
        # The parts sendMail accepted through this channel object, by part key. A mail in parts whose later part
        # failed transiently is retried by the Prefect task, in the same run and so over this same object: the
        # retry must not send the accepted parts again, and the mailbox lookup cannot be trusted to show a
        # part that was accepted a moment ago. A new run (a new object) has only the lookup to go by.
        self._accepted: dict[str, dict[str, Any]] = {}
        self._accepted_lock = threading.Lock()
        self._fora: dict[str, tuple[str, ...]] = {}  # the plan's mail fora on this channel → their addresses

    def bind(self, plan: Plan, channels: Mapping[str, Adapter]) -> None:
        """Share with the run's other channels: the sign-in of the same app registration, and the limiter of the
        same sending mailbox (the first channel of the plan that sends from it sets its limits)."""
        self.graph.share_sign_in(clients(channels))
        if plan is not None:  # some callers bind the channels alone
            self._fora = {n: f.address.mail_to() for n, f in plan.fora.items() if f.channel == self.name}
        mailbox = self.settings.sender.casefold()
        same = [other for other in channels.values()
                if isinstance(other, GraphMailAdapter) and other.settings.sender.casefold() == mailbox]
        if same:
            self.limiter = same[0].limiter

    @property
    def _mailbox(self) -> str:
        return f"/users/{quote(self.settings.sender, safe='@')}"

    # delivering ------------------------------------------------------------------------------------------

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        """The sending mailbox's limits across runs: a delivery makes one request at a time (its parts and
        lookups go in turn), so it holds one of `concurrent_requests` slots; each sendMail part is one of the
        `messages_per_minute` (a part already accepted is counted anyway, which errs on the safe side)."""
        parts = len(split(delivery.variant.recipients, self.settings.max_recipients)) or 1
        return [SharedLimit(mailbox_limit_name(self.settings.sender), self.settings.concurrent_requests,
                            self.settings.messages_per_minute, weight=parts)]

    def deliver(self, delivery: Delivery) -> Receipt:
        forum = delivery.forum
        recipients = delivery.variant.recipients
        if not recipients:
            raise PermanentDeliveryError(self.name, forum, "the forum has no recipients",
                                         "list its addresses under the forum's `recipients`")
        chunks = split(recipients, self.settings.max_recipients)
        parts: list[dict[str, Any]] = []
        for number, chunk in enumerate(chunks, start=1):
            key = part_key(delivery.key, number, len(chunks))
            try:
                mime_id = mime_message_id(delivery, self.settings.sender, number, len(chunks)) if is_mime(delivery) \
                    else None
                part = (self._known(key, forum, len(chunks), len(chunk), mime_id)
                        or self._send(delivery, chunk, number, len(chunks), mime_id))
            except DeliveryError as exc:
                raise self._partial(exc, parts, number, len(chunks)) from None
            with self._accepted_lock:
                self._accepted[key] = part
            parts.append(part)
        return self._receipt(parts)

    def _known(self, key: str, forum: str, parts: int, recipients: int,
               mime_id: str | None = None) -> dict[str, Any] | None:
        """A part already delivered: accepted earlier through this channel object (this run), or (for a mail in
        parts, with the lookup on) found in the mailbox, as after a run that stopped half-way."""
        with self._accepted_lock:
            if key in self._accepted:
                return self._accepted[key]
        if parts > 1 and self.settings.lookup.enabled:
            found = self._look_up(key, forum, mime_id)
            if found:
                log.info("%s → %s: %s is already in %s's mailbox; not sent again", self.name, forum, key,
                         self.settings.sender)
                return _part(key, recipients, found=found, sends=0)
        return None

    def _send(self, delivery: Delivery, chunk: tuple[str, ...], number: int, parts: int,
              mime_id: str | None = None) -> dict[str, Any]:
        forum = delivery.forum
        key = part_key(delivery.key, number, parts)
        if mime_id:  # Graph: the MIME message base64-encoded, as text/plain (docs/microsoft365.md)
            payload: dict[str, Any] = {"data": sendmail_mime(delivery, self.settings.sender, chunk, number, parts),
                                       "headers": {"Content-Type": "text/plain"}}
        else:
            payload = {"json": sendmail_body(delivery, chunk, number, parts), "headers": {}}
        lookup = self.settings.lookup
        sends = 0
        while True:
            sends += 1
            try:
                with self.limiter.message():
                    # A 429 on sendMail has been seen where the mail went out: an unknown outcome, like a 503.
                    response = self.graph.request(
                        "POST", f"{self._mailbox}/sendMail", forum=forum, safe=False, fix=self._send_fix,
                        expect=(202,), throttle_may_act=True,
                        headers={**payload["headers"], "client-request-id": str(uuid.uuid4())},
                        **{k: v for k, v in payload.items() if k != "headers"})
            except UncertainDeliveryError as exc:
                if not lookup.enabled:
                    raise UncertainDeliveryError(
                        self.name, forum, exc.reason,
                        f"look for the header {HEADER}: {key} in {self.settings.sender}'s Sent Items and settle the "
                        "delivery by hand (see `budbringer status`); with `lookup: {enabled: true}` Budbringer "
                        "looks by itself") from None
                found = self._await(key, forum, exc, mime_id)
                if found:
                    log.info("%s → %s: %s was delivered after all (found in the mailbox)", self.name, forum, key)
                    return _part(key, len(chunk), found=found, sends=sends)
                if sends > lookup.resends:
                    raise TransientDeliveryError(
                        self.name, forum, f"{exc.reason}; sent {sends} times and not found in {self.settings.sender}'s "
                        f"mailbox after {lookup.checks} looks each", "the run tries again later") from None
                log.warning("%s → %s: %s is not in %s's mailbox after the unknown outcome; sending it again",
                            self.name, forum, key, self.settings.sender)
                wait = getattr(exc, "wait", None)
                if wait:  # the provider's Retry-After, beyond the time the lookup already took
                    time.sleep(max(0.0, min(wait, self.graph.policy.max_retry_after) - lookup.settle))
                continue
            log.info("%s → %s: sendMail accepted (%d recipients, part %d of %d)", self.name, forum, len(chunk),
                     number, parts)
            return _part(key, len(chunk), request_id=response.headers.get("request-id", ""), sends=sends)

    def _await(self, key: str, forum: str, cause: UncertainDeliveryError,
               mime_id: str | None = None) -> dict[str, Any] | None:
        """After an unknown outcome: give Exchange time to file the mail, then look a few times."""
        lookup = self.settings.lookup
        time.sleep(lookup.settle)
        for check in range(lookup.checks):
            try:
                found = self._look_up(key, forum, mime_id)
            except DeliveryError as exc:
                raise UncertainDeliveryError(self.name, forum, f"{cause.reason}; the lookup failed too: {exc.reason}",
                                             exc.fix or "check Sent Items by hand, then settle it") from None
            if found:
                return found
            if check < lookup.checks - 1:
                time.sleep(lookup.interval)
        return None

    def _look_up(self, key: str, forum: str, mime_id: str | None = None) -> dict[str, Any] | None:
        """By the extended property; a mail sent as MIME by its Message-ID (`internetMessageId`) instead."""
        condition = (f"internetMessageId eq {odata_string(mime_id)}" if mime_id else
                     f"singleValueExtendedProperties/Any(ep: ep/id eq {odata_string(PROPERTY_ID)} "
                     f"and ep/value eq {odata_string(key)})")
        path = f"{self._mailbox}/messages" + query(filter=condition, select="id,internetMessageId,sentDateTime",
                                                   top="5")
        with self.limiter.request():
            response = self.graph.request("GET", path, forum=forum, safe=True, fix=self._lookup_fix)
        found = response.json().get("value") or []
        if len(found) > 1:
            log.error("%s → %s: %s is in %s's mailbox %d times", self.name, forum, key, self.settings.sender,
                      len(found))
        if not found:
            return None
        first = found[0]
        return {"id": first.get("id", ""), "internetMessageId": first.get("internetMessageId", ""),
                "sentDateTime": first.get("sentDateTime", ""), "copies": len(found)}

    def _partial(self, exc: DeliveryError, parts: list[dict[str, Any]], number: int, total: int) -> DeliveryError:
        """A later part failed after earlier parts went out: never report that as "nothing was delivered"."""
        if not parts:
            return exc
        done = f"parts 1–{len(parts)} of {total} were delivered; part {number} failed: {exc.reason}"
        if isinstance(exc, TransientDeliveryError) and self.settings.lookup.enabled:
            return TransientDeliveryError(self.name, exc.forum, done,
                                          "a retry sends only the parts that are not in the mailbox")
        return UncertainDeliveryError(self.name, exc.forum, done,
                                      (exc.fix + "; then " if exc.fix else "") + "settle it: sending again would "
                                      "repeat the delivered parts")

    def _receipt(self, parts: list[dict[str, Any]]) -> Receipt:
        ids = [p["request_id"] or (p["found"] or {}).get("internetMessageId", "") for p in parts]
        return Receipt(provider="graph_mail", provider_id=",".join(i for i in ids if i),
                       details={"sender": self.settings.sender, "parts": parts,
                                "recipients": sum(p["recipients"] for p in parts)})

    # reconciling -----------------------------------------------------------------------------------------

    def find(self, delivery: Delivery) -> Receipt | None:
        """Every part found in the sender's mailbox → its receipt; otherwise None (the missing parts are sent,
        the found ones are skipped). Without the lookup the provider cannot be asked."""
        if not self.settings.lookup.enabled:
            raise NotImplementedError
        chunks = split(delivery.variant.recipients, self.settings.max_recipients) or [()]
        parts = []
        for number, chunk in enumerate(chunks, start=1):
            key = part_key(delivery.key, number, len(chunks))
            mime_id = mime_message_id(delivery, self.settings.sender, number, len(chunks)) if is_mime(delivery) \
                else None
            found = self._look_up(key, delivery.forum, mime_id)
            if not found:
                return None
            parts.append(_part(key, len(chunk), found=found, sends=0))
        return self._receipt(parts)

    # checking --------------------------------------------------------------------------------------------

    def reach(self, subject: ReachSubject) -> ReachReading:
        """Delivered, to how many recipients, and the members of those that are groups (docs/reach.md)."""
        return reach_readers.mail(self.graph, subject, self._fora.get(subject.forum, ()))

    def preflight(self) -> list[Problem]:
        """Sign in (a wrong or missing credential shows here), and with the lookup on, ask the mailbox once:
        that finds a wrong `sender` and a missing Mail.Read before anything is sent."""
        where = f"channels.{self.name}"
        problems = self.graph.preflight()
        if problems:
            return problems
        if self.settings.lookup.enabled:
            try:
                self._look_up(f"preflight-{uuid.uuid4()}", "(preflight)")
            except DeliveryError as exc:
                return [Problem(where, "lookup", exc.reason, exc.fix)]
        return []

    def _send_fix(self, status: int, code: str) -> str:
        sender = self.settings.sender
        if code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "ResourceNotFound") or status == 404:
            return f"mailbox {sender} was not found: check `sender` in the channel's settings"
        return token_fix(status, code) or {
            403: "grant the application permission Mail.Send to the app (API permissions → Microsoft Graph → "
                 f"Application permissions) and give admin consent; if the app is scoped to some mailboxes, include "
                 f"{sender}",
            400: "Graph refused the message: check the forum's recipients and the template's output",
            413: "the message is too large for Exchange: shorten it",
        }.get(status, "see Graph's message above")

    def _lookup_fix(self, status: int, code: str) -> str:
        sender = self.settings.sender
        if status == 404 or code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI"):
            return f"mailbox {sender} was not found: check `sender` in the channel's settings"
        return token_fix(status, code) or {
            403: f"grant the application permission Mail.Read (scoped to {sender}) for the Sent Items lookup, or turn "
                 "`lookup` off in the channel's settings",
        }.get(status, "see Graph's message above")

    def close(self) -> None:
        self.graph.close()


def _part(key: str, recipients: int, *, request_id: str = "", found: dict[str, Any] | None = None,
          sends: int) -> dict[str, Any]:
    return {"key": key, "recipients": recipients, "request_id": request_id, "found": found, "sends": sends,
            "accepted_at": dt.datetime.now(dt.UTC).isoformat()}
