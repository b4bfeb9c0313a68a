"""The communication plan as a Danish document, rendered from the configuration itself (`budbringer plan
--format html|md`, and `/plan` in the web app): purpose, fora and stakeholder groups, channels, the order as a
diagram, the approval policy and the calendar. It is made from the plan that runs, so it cannot drift: the
channels' labels and whom each forum reaches come from the channel registry the plan was loaded with
(`Adapter.label`, `Adapter.Addressing`), the groups' labels from `plan.STAKEHOLDER_LABELS`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from budbringer import deadlines
from budbringer.errors import mask_secrets
from budbringer.plan import STAKEHOLDER_LABELS, Forum, Plan
from budbringer.web.pages import MEDIA, danish_date, danish_datetime, environment



@dataclass(frozen=True)
class ForumRow:
    name: str
    title: str
    description: str
    stakeholder: str
    medium: str
    channel: str
    reach: str
    informs: str
    enabled: bool


def _context(plan: Plan) -> dict[str, Any]:
    forum: Forum | None  # a tier's forum in the loop, then the forum that holds the meetings
    tiers = []
    for index, tier in enumerate(plan.tiers, start=1):
        rows = []
        for name in tier.fora:
            forum = plan.fora[name]
            channel = plan.channels.get(forum.channel)
            reach = ", ".join(forum.address.reach())
            kind = plan.registry.label(channel.type) if channel else forum.channel
            rows.append(ForumRow(name, forum.title, forum.description, STAKEHOLDER_LABELS.get(forum.stakeholder,
                                 forum.stakeholder), MEDIA.get(forum.medium, forum.medium), kind, reach,
                                 ", ".join(forum.informs), forum.enabled))
        gate = ("efter OC-mødet" if tier.not_before == "meeting"
                else f"tidligst {danish_date(tier.not_before)}" if tier.not_before else "")
        tiers.append({"index": index, "title": tier.title, "name": tier.name,
                      "phase": "ekstern" if tier.phase == "publish" else "intern", "gate": gate, "fora": rows})
    calendar = []
    forum = plan.fora.get(plan.calendar.meetings_forum)
    for meeting in (forum.meetings if forum else []):
        schedule = deadlines.schedule_for(plan, meeting)
        calendar.append({"meeting": danish_date(meeting),
                         "request": danish_datetime(schedule.request_at, plan.calendar.timezone),
                         "deadline": danish_datetime(schedule.deadline, plan.calendar.timezone)})
    channels = [{"name": name, "type": plan.registry.label(ch.type)} for name, ch in plan.channels.items()]
    groups = sorted({plan.fora[n].stakeholder for t in plan.tiers for n in t.fora})
    return {"plan": plan, "tiers": tiers, "calendar": calendar, "channels": channels,
            "groups": [STAKEHOLDER_LABELS.get(g, g) for g in groups], "title": plan.name,
            "meetings_forum": forum.title if forum else plan.calendar.meetings_forum}


def html_document(plan: Plan) -> str:
    """The document as HTML (the /plan page), masked: no credential, token or key a plan value holds shows."""
    return mask_secrets(environment().get_template("plan.html.j2").render(**_context(plan)))


def markdown_document(plan: Plan) -> str:
    return mask_secrets(environment().get_template("plan.md.j2").render(**_context(plan)).strip() + "\n")
