"""What the author's page shows beside each field of a message (plain Python, no Prefect).

`analyse` reads a message file's text (saved, or with the form's unsaved values), renders every variant and
checks it as `check` does (`cascade.examine`, which names the author's file), and gives per form field:
the fora that field feeds, each rendered as it will appear, and the findings it causes, in Danish. When the
message cannot be read yet (an empty field of the skeleton), the fora come from where the plan says each text
is written (budbringer.skeleton), and the file's problems are shown beside their fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from budbringer import cascade, findings, message_form, render, skeleton
from budbringer.clock import Clock
from budbringer.errors import InputError
from budbringer.plan import STAKEHOLDER_LABELS, Plan
from budbringer.web import pages

#: the Danish label of a field, by its last name
LABELS = {"title": "Titel", "summary": "Resumé til styregruppen", "date": "Dato", "link": "Link",
          "name": "Navn", "role": "Rolle", "email": "Mail", "next_status": "Næste status (dato)", "when": "Hvornår",
          "text": "Tekst", "citizens": "Til borgerne", "others": "Til øvrige", "employees": "Til medarbejderne",
          "management": "Til ledelsen", "headline": "Overskrift", "lead": "Indledning", "ask": "Opfordring",
          "by": "Frist (dato)", "hook": "Første linje", "what": "Hvad", "time": "Tidsrum", "place": "Sted",
          "reply_by": "Svarfrist (dato)", "alt": "Billedtekst", "url": "Adresse", "author": "Forfatter (mail)",
          "body": "Noter til styregruppen"}
SECTIONS = {"facts": "Fælles fakta", "groups": "Gruppernes tekster", "forum_texts": "Tekster til de enkelte fora",
            "body": "Noter til styregruppen"}


@dataclass(frozen=True)
class Note:
    """A finding or problem beside a field, in the author's words."""

    blocking: bool
    text: str
    fora: str = ""


@dataclass(frozen=True)
class Shown:
    """One forum a field feeds, as it will appear."""

    forum: str
    title: str
    medium: str
    characters: int
    over_limit: bool
    html: Markup | None


@dataclass
class Analysis:
    readable: bool
    fields: list[message_form.FormField]
    fora: dict[str, list[Shown]] = field(default_factory=dict)
    notes: dict[str, list[Note]] = field(default_factory=dict)
    general: list[Note] = field(default_factory=list)

    @property
    def blocking(self) -> int:
        return sum(n.blocking for notes in self.notes.values() for n in notes) + sum(n.blocking for n in self.general)

    @property
    def can_send(self) -> bool:
        return self.readable and self.blocking == 0


def label(path: str) -> str:
    last = path.rsplit(".", 1)[-1].split("[")[0]
    if path.startswith("timeline["):
        return f"Tidslinje, trin {int(path[9:path.index(']')]) + 1}: {LABELS.get(last, last)}"
    if ".forward." in path:
        return f"Videresendt {LABELS.get(last, last).lower()}"
    if ".invitation." in path:
        return f"Invitation: {LABELS.get(last, last).lower()}"
    return LABELS.get(last, last)


def section(path: str) -> tuple[str, str]:
    """(section, sub-heading key) of a field: facts, groups.<group>, forum_texts.<key>, body."""
    if path == message_form.BODY:
        return "body", ""
    head = path.split(".", 2)
    if head[0] in ("groups", "forum_texts") and len(head) > 2:
        return head[0], head[1]
    return "facts", "timeline" if path.startswith("timeline[") else "about"


FACTS = {"about": "Titel, resumé og kontakt", "timeline": "Tidslinjen"}


def group_heading(plan: Plan, kind: str, key: str) -> str:
    if kind == "facts":
        return FACTS[key]
    if kind == "groups":
        return next((text for group, text in STAKEHOLDER_LABELS.items() if group == key), key).capitalize()
    titles = [plan.fora[n].title for n, f in plan.fora.items() if n == key or f.template.split("/")[-1]
              .split(".")[0] == key or f.shares_text_with == key]
    return ", ".join(titles) or key


def analyse(plan: Plan, text: str, name: str, clock: Clock) -> Analysis:
    """The fields of `text` (a message file named `name`) with what each feeds and causes."""
    form = message_form.fields(text)
    try:
        prepared = cascade.examine(plan, name, now=clock(), text=text)
    except InputError as exc:
        return _unreadable(plan, form, exc)
    message, variants, found = prepared.message, prepared.variants, prepared.findings
    views = {v.variant.forum: v for tier in pages.tiers(prepared, pages.no_figures) for v in tier.variants}
    shown = {name: Shown(name, v.variant.forum_title, v.medium, v.characters, v.over_limit, _demoted(v.html))
             for name, v in views.items()}
    analysis = Analysis(True, form)
    paths = [f.path for f in form]
    for sources in render.text_sources(plan, message, variants):
        fed = [s.path for s in sources.fields]
        if sources.timeline:
            key = sources.timeline.split(".")[-1]
            fed += [p for p in paths if p.startswith("timeline[") and p.endswith(f".{key}")]
            fed += [p for p in paths if p.startswith("timeline[") and p.endswith(".when")]
        for field_path in paths:
            if any(field_path == f or field_path.startswith(f + ".") for f in fed):
                analysis.fora.setdefault(field_path, []).append(shown[sources.forum])
    titles = {n: f.title for n, f in plan.fora.items()}
    for finding in findings.for_author(found, titles, "da"):
        note = Note(finding.blocking, finding.text, ", ".join(finding.titles))
        home = _home(finding.field, paths)
        (analysis.notes.setdefault(home, []) if home else analysis.general).append(note)
    return analysis


def _demoted(html: Markup) -> Markup:
    """A variant's own headings, under the field's group (h3): its highest becomes h4, the rest follow (at most
    h6), so headings run in order for a screen reader."""
    levels = [int(level) for level in re.findall(r"<h([1-6])\b", str(html))]
    if not levels:
        return html
    shift = 4 - min(levels)
    return Markup(re.sub(r"<(/?)h([1-6])\b", lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + shift)}",
                         str(html)))


def _home(field_path: str, paths: Sequence[str]) -> str:
    """The form field a finding's field is (or is in): `groups.x.action` → `groups.x.action.ask`."""
    if not field_path:
        return ""
    if field_path in paths:
        return field_path
    return next((p for p in paths if p.startswith(field_path + ".")), "")


def _unreadable(plan: Plan, form: list[message_form.FormField], error: InputError) -> Analysis:
    analysis = Analysis(False, form)
    paths = [f.path for f in form]
    for home, (readers, _) in skeleton._homes(plan).items():
        for path in paths:
            if path.startswith(home + "."):
                analysis.fora[path] = [Shown(n, plan.fora[n].title, pages.MEDIA.get(plan.fora[n].medium,
                                                                                      plan.fora[n].medium), 0, False,
                                             None) for n in readers]
    for problem in error.problems:
        text = f"{problem.what}: {problem.fix}" if problem.what == "er tomt" else f"{problem.what} ({problem.fix})"
        if problem.what == "er tomt":
            text = f"Feltet er tomt: {problem.fix}."
        home = _home(problem.field, paths)
        note = Note(True, text)
        (analysis.notes.setdefault(home, []) if home else analysis.general).append(
            note if home else Note(True, f"{problem.field}: {text}"))
    return analysis
