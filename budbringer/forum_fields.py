"""Which of a message's fields each forum reads, and where its text comes from: the fields a template needs, the
layers a forum's text is taken from (its own, the group it shares with, the message's), and the list of sources
the author and the approver see. Plain Python: no Prefect."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from budbringer.errors import Problem
from budbringer.message import Message, Text
from budbringer.plan import Forum, Plan
from budbringer.variant import Variant


# What each template needs from the text its forum reads; any other template needs DEFAULT_NEEDS. A field a
# template shows only when it is written (HMU's `forward` for the LMUs, a network's `invitation`) is optional.
DEFAULT_NEEDS = ("headline", "lead", "text", "action")
NEEDS: dict[str, tuple[str, ...]] = {
    "oc_briefing.html.j2": ("headline", "lead", "text", "action", "forward"),
    "hmu_briefing.html.j2": ("headline", "lead", "text", "action"),
    "network_briefing.html.j2": ("headline", "lead", "text", "action"),
    "linkedin_post.txt.j2": ("hook", "text", "action"),
    "facebook_post.txt.j2": ("headline", "lead"),
    "instagram_post.txt.j2": ("headline", "lead", "text"),
}
#: what a template shows when it is written, besides what it needs
OPTIONAL: dict[str, tuple[str, ...]] = {
    "hmu_briefing.html.j2": ("forward",),
    "network_briefing.html.j2": ("invitation",),
}
#: every field of a forum's text, the body first: the order a finding names them in
TEXT_FIELDS = ("text", "lead", "headline", "action", "hook", "forward", "invitation")
#: fields a forum reads only when written for it (never from its group): a concrete invitation, a text to
#: pass on as it is
OWN_FIELDS = ("forward", "invitation")

# What to write, per field: said in the fix of a missing field.
FIELD_HELP = {
    "headline": "a headline in the reader's words (one line)",
    "lead": "a lead of one to three short sentences, the most important first",
    "text": "the text itself, in Markdown",
    "action": "what we ask of the reader: `action: {ask: …, by: YYYY-MM-DD}` (contact: the message's `contact`)",
    "forward": "the text this forum passes on as it is: `forward: {headline: …, text: …}`",
    "invitation": "a concrete invitation: `invitation: {what: …, date: YYYY-MM-DD, time: \"9.00-12.00\", "
                  "place: …, reply_by: YYYY-MM-DD}`",
    "hook": "the first line of the post: a hook for suppliers and partners, not the report's title",
}


def _one_line(value: str | None) -> str | None:
    """Headlines, leads and hooks are single lines wherever they go (a subject, a post's first line)."""
    return None if value is None else " ".join(value.split())


def template_key(template: str) -> str:
    """The name a message's `forum_texts` may use for every forum sharing a template (network_briefing)."""
    return template.split("/")[-1].split(".", 1)[0]


def needs(forum: Forum) -> tuple[str, ...]:
    return NEEDS.get(forum.template.split("/")[-1], DEFAULT_NEEDS)


def reads(forum: Forum) -> tuple[str, ...]:
    """The fields of its text a forum's template shows: what it needs and what it shows when written."""
    return needs(forum) + OPTIONAL.get(forum.template.split("/")[-1], ())


def sharing_chain(plan: Plan, name: str) -> list[str]:
    """The forum, then the fora whose text it shares (the plan's `shares_text_with`), in order."""
    chain = [name]
    while (other := plan.fora[chain[-1]].shares_text_with) is not None and other in plan.fora \
            and other not in chain:
        chain.append(other)
    return chain


@dataclass(frozen=True)
class Layer:
    """One part of the message a forum's text is made of: its path and whether it was written for the forum."""

    path: str  # groups.employees, forum_texts.network_briefing, forum_texts.midtnyt
    text: Text | None
    written_for_it: bool


def layers(plan: Plan, message: Message, name: str) -> list[Layer]:
    """What a forum reads, lowest first: its group's text, then (through `shares_text_with`) the texts of the
    fora it shares with, then its template's and its own `forum_texts`. The group's text is written for the
    forum only when the plan says so (`group_text: true`, on it or on the forum it shares with)."""
    forum = plan.fora[name]
    chain = sharing_chain(plan, name)
    root = plan.fora[chain[-1]]
    group = forum.stakeholder
    # A plan that says nothing of whose text is whose (no group_text, no shares_text_with: an older plan) lets
    # every forum read its group's text, as before.
    legacy = not any(f.group_text or f.shares_text_with for f in plan.fora.values())
    found = [Layer(f"groups.{group}", message.groups.get(group),
                   legacy or (root.group_text and root.stakeholder == group))]
    for member in reversed(chain):
        key = template_key(plan.fora[member].template)
        found += [Layer(f"forum_texts.{key}", message.forum_texts.get(key), True),
                  Layer(f"forum_texts.{member}", message.forum_texts.get(member), True)]
    return found


def forum_text(message: Message, name: str, forum: Forum, plan: Plan | None = None) -> Text:
    """The text a forum reads: its group's, then the shared, the template's and the forum's own fields over it
    (`layers`; without the plan: its group's, its template's and its own)."""
    if plan is None:
        stack = [message.groups.get(forum.stakeholder), message.forum_texts.get(template_key(forum.template)),
                 message.forum_texts.get(name)]
    else:
        stack = [layer.text for layer in layers(plan, message, name)]
    merged: dict[str, Any] = {}
    for layer in stack:
        if layer is not None:
            merged.update({field: value for field, value in layer if value is not None})
    return Text(**merged)


def text_home(plan: Plan, name: str, field: str = "text") -> str:
    """Where in the message this forum's own `field` is written: `groups.<group>` for the forum the group's text
    is written for, `forum_texts.<template>` for fora that share a template (the networks), else
    `forum_texts.<forum>`; a forum that shares another's text, that forum's place."""
    root = sharing_chain(plan, name)[-1]
    forum = plan.fora[root]
    if field in OWN_FIELDS:
        return f"forum_texts.{name}.{field}"
    if forum.group_text:
        return f"groups.{forum.stakeholder}.{field}"
    alike = [f for f in plan.fora.values() if f.template == forum.template and f.shares_text_with is None]
    return f"forum_texts.{template_key(forum.template) if len(alike) > 1 else root}.{field}"


@dataclass(frozen=True)
class FieldSource:
    """Where one field of a forum's text comes from."""

    field: str          # headline, lead, text, action, hook, forward, invitation
    path: str           # the message field that feeds it: groups.employees.text, forum_texts.midtnyt.lead
    written_for_it: bool


@dataclass(frozen=True)
class ForumSources:
    """Where each part of a forum's text comes from: its own or shared text fields, the timeline, the template."""

    forum: str
    title: str
    stakeholder: str
    template: str
    fields: tuple[FieldSource, ...]
    timeline: str | None = None  # the timeline lines it shows (timeline[].employees), or None
    shares_with: str | None = None

    @property
    def foreign(self) -> list[FieldSource]:
        """The fields that come from a text written for another reader."""
        return [f for f in self.fields if not f.written_for_it]


def field_sources(plan: Plan, message: Message, name: str) -> tuple[FieldSource, ...]:
    """Each field of the forum's text its template shows, and the layer it comes from (the last that gives it)."""
    shown = reads(plan.fora[name])
    found: dict[str, FieldSource] = {}
    for layer in layers(plan, message, name):
        if layer.text is None:
            continue
        for field, value in layer.text:
            if value is not None:
                found[field] = FieldSource(field, f"{layer.path}.{field}", layer.written_for_it)
    return tuple(found[f] for f in TEXT_FIELDS if f in found and f in shown)


def text_sources(plan: Plan, message: Message, variants: list[Variant]) -> list[ForumSources]:
    """The sources of every rendered variant's text, in the variants' order. The timeline counts when the
    variant shows one of its lines."""
    out: list[ForumSources] = []
    for variant in variants:
        forum = plan.fora[variant.forum]
        shown = html.unescape(variant.body)
        group = forum.stakeholder
        timeline = None
        if any(step.for_group(group) in shown for step in message.timeline):
            timeline = f"timeline[].{group}" if any(getattr(s, group, None) for s in message.timeline) \
                else "timeline[].text"
        out.append(ForumSources(variant.forum, forum.title, group, forum.template,
                                field_sources(plan, message, variant.forum), timeline, forum.shares_text_with))
    return out


def sources_line(sources: ForumSources) -> str:
    """One line: each source and the fields it gives, then the timeline and the template.
    `headline, lead ← forum_texts.midtnyt · text, action ← groups.employees ✗ · timeline[].text · template …`"""
    by_layer: dict[tuple[str, bool], list[str]] = {}
    for source in sources.fields:
        by_layer.setdefault((source.path.rsplit(".", 1)[0], source.written_for_it), []).append(source.field)
    parts = [f"{', '.join(fields)} ← {layer}{'' if ok else ' ✗'}" for (layer, ok), fields in by_layer.items()]
    if sources.shares_with:
        parts.append(f"shares_text_with: {sources.shares_with}")
    if sources.timeline:
        parts.append(sources.timeline)
    parts.append(f"template {sources.template}")
    return " · ".join(parts)


def written_for(plan: Plan, path: str) -> list[str]:
    """The fora a message field is written for: the group's fora (`group_text`), or the forum or template named."""
    kind, _, rest = path.partition(".")
    key = rest.split(".", 1)[0]
    if kind == "groups":
        return [n for n, f in plan.fora.items() if f.group_text and f.stakeholder == key]
    return [n for n, f in plan.fora.items() if n == key or template_key(f.template) == key]


def missing_content(plan: Plan, message: Message, names: list[str]) -> list[Problem]:
    """What the message lacks for each forum it goes to: the field, where to write it and what to write."""
    problems: list[Problem] = []
    file = str(message.path)
    known = set(plan.fora) | {template_key(f.template) for f in plan.fora.values()}
    for key in message.forum_texts:
        if key not in known:
            problems.append(Problem(file, f"forum_texts.{key}", "names no forum and no template of the plan",
                                    f"use a forum name ({', '.join(sorted(plan.fora))}) or a template name "
                                    "such as network_briefing"))
    for name in names:
        forum = plan.fora[name]
        text = forum_text(message, name, forum, plan)
        for field in needs(forum):
            if getattr(text, field) is not None:
                continue
            where = text_home(plan, name, field)
            alone = (f" (or forum_texts.{name}.{field} for {forum.title} alone)"
                     if where != f"forum_texts.{name}.{field}" else "")
            problems.append(Problem(file, where, f"is missing: {forum.title} ({name}) needs it",
                                    f"write {FIELD_HELP[field]}{alone}"))
        needs_contact = forum.newsletter is not None or (text.action is not None and text.action.contact is None)
        if needs_contact and message.contact is None and not any(p.field == "contact" for p in problems):
            problems.append(Problem(file, "contact", f"is missing: {forum.title} ({name}) names a contact person",
                                    "write `contact: {name: …, role: …, email: …}` (the person readers and "
                                    "editors turn to)"))
    return problems
