"""The reach page (`budbringer web`, /raekkevidde/…): what each forum's delivery of a message reached, in Danish.

Opened from a signed link on the author's message page and on the approvers' page once the message is delivered
(`ReachSigner`, its own itsdangerous salt: no approval or author link opens it, and it opens nothing else). It
shows two charts drawn on the server as SVG (budbringer.reach_chart; no script, the approvers' CSP allows none):
each forum over the days after delivery, and this month's message against the months before; and a table per
forum with the latest figures, the change since the previous reading and against last month's message.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup

from budbringer import approval_links, reach, reach_chart
from budbringer.approval_links import LinkRefused
from budbringer.clock import Clock
from budbringer.ledger import Ledger
from budbringer.plan import Plan
from budbringer.runtime import Runtime
from budbringer.web import pages

#: itsdangerous salt: a reach link opens the reach page of one message, nothing else
REACH_SALT = "budbringer.reach-link.v1"
#: the figures go on for 30 days and are compared month by month: a link works for a year
MAX_AGE = dt.timedelta(days=400)
PREFIX = "/raekkevidde"
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                      "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"}
#: the metrics in Danish, for the people who read the page
METRICS = {"views": "visninger", "unique_viewers": "unikke læsere", "impressions": "visninger",
           "unique_impressions": "unikke visninger", "clicks": "klik", "reactions": "reaktioner",
           "comments": "kommentarer", "shares": "delinger", "reach": "nåede", "likes": "synes godt om",
           "saved": "gemt", "interactions": "interaktioner", "delivered": "leveret", "recipients": "modtagere",
           "accepted": "optaget", "readers": "læsere"}
STATUS = {"expired": 410, "tampered": 403, "unknown": 404}
REFUSALS = {
    "expired": ("Linket er udløbet", "Linket til tallene er for gammelt. Bed om et nyt link på forfatterens side."),
    "tampered": ("Linket er ikke gyldigt", "Linket kan ikke bruges. Måske er det blevet ændret eller klippet over, "
                 "da det blev kopieret."),
    "unknown": ("Budskabet er ikke sendt ud endnu", "Når budskabet er sendt ud, kan du her se, hvor mange det har "
                "nået i hvert forum."),
}


class ReachSigner:
    """Signs and checks links to one message's reach page."""

    def __init__(self, key: str | None = None) -> None:
        self._serializer = URLSafeTimedSerializer(key or approval_links.secret(), salt=REACH_SALT)

    def __repr__(self) -> str:
        return "ReachSigner(<secret>)"

    def token(self, message_id: str) -> str:
        return self._serializer.dumps({"m": message_id})

    def url(self, plan: Plan, message_id: str) -> str:
        return f"{approval_links.base_url(plan)}{PREFIX}/{self.token(message_id)}"

    def path(self, message_id: str) -> str:
        return f"{PREFIX}/{self.token(message_id)}"

    def message(self, token: str) -> str:
        """The message a genuine link names; LinkRefused("tampered" or "expired") otherwise."""
        data = approval_links.signed_data(self._serializer, token, MAX_AGE)
        message_id = data.get("m") if isinstance(data, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise LinkRefused("tampered")
        return message_id


def figures_da(reading: reach.ReachReading) -> str:
    """A reading in Danish: the figures, or why there are none."""
    if reading.measure is reach.Measure.NOT_MEASURED:
        return "Måles ikke"
    if reading.measure is reach.Measure.REFUSED:
        return "Ikke hentet – udbyderen afviste (prøves igen ved næste måling)"
    if not reading.figures:
        return "Ingen tal endnu"
    return ", ".join(f"{pages.thousands(value)} {METRICS.get(name, name)}" for name, value in reading.figures.items())


def change_da(now: reach.ReachReading, before: reach.ReachReading | None) -> str:
    if before is None or now.measure is not reach.Measure.MEASURED or before.measure is not reach.Measure.MEASURED:
        return "–"
    parts = [f"{now.figures[n] - before.figures[n]:+d} {METRICS.get(n, n)}" for n in now.figures if n in before.figures]
    return ", ".join(parts) or "–"


def page_html(plan: Plan, readings: list[reach.Reach], message_id: str, delivered: list[tuple[str, str]]) -> str:
    """The page for `message_id`: `readings` are every message's (for the months), `delivered` its (forum,
    channel) deliveries (a forum not read yet is listed too)."""
    titles = {name: forum.title for name, forum in plan.fora.items()}
    mine = [r for r in readings if r.message_id == message_id]
    earlier = reach.previous_message(readings, message_id)
    theirs = {(r.forum, r.point): r for r in readings if r.message_id == earlier}
    rows = []
    series = reach.latest_by_forum(mine)
    for forum, channel in sorted(set(delivered)):
        got = series.get(forum)
        if not got:
            rows.append({"forum": titles.get(forum, forum), "day": "–", "figures": "Ikke målt endnu",
                         "since": "–", "month": "–"})
            continue
        last = got[-1]
        before = got[-2].reading if len(got) > 1 else None
        other = theirs.get((forum, last.point))
        rows.append({"forum": titles.get(forum, forum), "day": f"dag {last.point}, "
                     + pages.danish_datetime(last.read_at, plan.calendar.timezone),
                     "figures": figures_da(last.reading), "since": change_da(last.reading, before),
                     "month": change_da(last.reading, other.reading) if other else "–"})
    days = Markup(reach_chart.over_days(mine, titles))  # noqa: S704 - built from escaped values (reach_chart)
    months = Markup(reach_chart.over_months(readings, message_id, labels=titles))  # noqa: S704 - as above
    return pages.render("reach.html.j2", title=f"Rækkevidde: {message_id}", message_id=message_id, rows=rows,
                        days=days, months=months, earlier=earlier or "", plan=plan)


def links(signer: ReachSigner, ledger: Ledger, message_id: str) -> dict[str, str]:
    """The link to the message's reach page, for the approvers' and the author's pages, once it is delivered."""
    if not any(str(r.state) == "delivered" for r in ledger.records(message_id)):
        return {}
    return {"Se hvor mange budskabet har nået": signer.path(message_id)}


def router(run: Runtime, key: str, clock: Clock) -> APIRouter:
    """The reach page, on the web app's runtime (its plan and its one ledger)."""
    routes = APIRouter()
    signer = ReachSigner(key)

    def refused(kind: str, contact: str) -> HTMLResponse:
        heading, text = REFUSALS[kind]
        return HTMLResponse(pages.render("refusal.html.j2", title=heading, heading=heading, text=text,
                                         contact=contact, detail=""), STATUS[kind], headers=HEADERS)

    @routes.get(PREFIX + "/{token}", response_class=HTMLResponse)
    def reach_page(token: str) -> HTMLResponse:
        shown = run.plan
        try:
            message_id = signer.message(token)
        except LinkRefused as exc:
            return refused(exc.kind, shown.narrative.contact)
        delivered = [(r.forum, r.channel) for r in run.ledger.records(message_id) if str(r.state) == "delivered"]
        if not delivered:
            return refused("unknown", shown.narrative.contact)
        return HTMLResponse(page_html(shown, run.ledger.reach(), message_id, delivered), headers=HEADERS)

    return routes
