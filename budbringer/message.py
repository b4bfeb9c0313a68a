"""A message: what the communications officer writes once, as Markdown with YAML front matter.

`budbringer new` writes next month's as a skeleton (budbringer/skeleton.py); the officer's guide, in Danish,
is docs/skriv-et-budskab.md. A field written with no value (`headline:`) is an error naming the field, in
Danish (`empty_fields`): a skeleton is never sent half written.

Each stakeholder group (and, where the plan needs it, each forum) gets its own text: a headline, a lead, the
text and a call to action. Facts shared by every group (the timeline, the next status, the contact) are
written once, as data, and each template renders them in its reader's words.

```
---
id: 2026-11-status-udbud
title: Status på udbuddet – november 2026   # the steering group's and the operator's name for it
summary: Én eller to sætninger til styregruppen om, hvad budskabet handler om.
date: 2026-11-23
link: https://www.rm.dk/…             # optional
author: navn@socialomraadet.example   # optional: who is told if the steering group rejects it
fora: [oc, hmu]                       # optional: only these fora (default: every forum of the plan)
image: {url: https://…/billede.jpg, alt: Hvad billedet viser}   # optional (Instagram)
contact: {name: Anne Holm, role: projektleder, email: anne.holm@…}   # whom readers contact
next_status: 2027-01-14               # optional: when the next status comes
timeline:                             # the facts: one line per step, in each group's words
  - when: Foråret 2027
    now: true                               # optional: the step we are at (one at most)
    text: Vi sender udbuddet ud.            # staff wording (employees and management)
    citizens: Firmaer kan give et bud.      # optional, per group: citizens, employees, management, others
groups:                               # per stakeholder group: citizens, employees, management, others
  employees:
    headline: …
    lead: …
    text: |                           # Markdown
      …
    action: {ask: Hvad vi beder dig om, by: 2026-12-18, contact: {…}}   # `by` and `contact` optional
words:                                # optional: this month's words (budbringer/jargon.py, docs/jargon.md)
  demodag:                            # a word beginning: finds demodag, demodage, demodagene
    explain: en dag, hvor firmaerne viser deres system frem   # staff texts explain it where first used
    plain: en dag, hvor firmaerne viser systemet              # optional: what citizens read instead
  superbruger: {known: [employees]}   # or: who knows it (all, a group, a forum or a template name)
forum_texts:                          # per forum (its name in the plan) or per template (its name without
  hmu:                                # .html.j2/.txt.j2, e.g. network_briefing for the three networks);
    forward: {headline: …, text: …}   # fields here win over the forum's group. A forum reads its group's
                                      # text only where the plan says it is written for it (`group_text`,
                                      # `shares_text_with`); `check` names every other forum's field to write
  network_quality:                    # optional: a month with nothing to invite to needs none
    invitation: {what: …, date: 2027-01-19, time: "9.00-12.00", place: …, reply_by: 2027-01-08}
  linkedin:
    hook: …
    hashtags: [Socialområdet, RegionMidtjylland]   # optional: the post's hashtags (also Facebook, Instagram)
---
Notes for the steering group (optional): shown in the approval request, never sent to a forum.
```
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator,
                      model_validator)

from budbringer import yamlfile
from budbringer.errors import InputError, Problem
from budbringer.plan import STAKEHOLDER_READERS, Plan, Stakeholder

FENCE = "---"
#: the largest message file read (bytes): about 4,500 words, far beyond any briefing. (The rendered variants
#: have no cap of their own: they never travel as Prefect parameters, flows/executor.py.)
MAX_BYTES = 32 * 1024

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=300)]
Prose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=6000)]
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Hashtag = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^#?\w{2,60}$")]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https://\S+$")]


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A name or a role goes into a post's line as it is: no control characters (CR, LF, tab).
PlainName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120,
                                             pattern=r"^[^\x00-\x1f\x7f]+$")]


class Contact(Part):
    """A named person readers can turn to (newsletter editors want a name, not a mailbox)."""

    name: PlainName
    role: PlainName | None = Field(default=None, description="E.g. projektleder.")
    email: EmailAddress
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ]{8,16}$")] | None = None


class Action(Part):
    """The call to action: what we ask of the reader, by when, and whom to contact."""

    ask: Prose
    by: dt.date | None = Field(default=None, description="The date we ask for it by.")
    contact: Contact | None = Field(default=None, description="Default: the message's contact.")


class Forward(Part):
    """A text a forum passes on as it is (HMU to the LMUs, OC to its specialty areas)."""

    headline: Line
    text: Prose


class Invitation(Part):
    """A concrete invitation (the networks' workshop): what, when, where and how to reply."""

    what: Line
    date: dt.date
    time: Annotated[str, StringConstraints(pattern=r"^\d{1,2}[.:]\d{2}(\s*[-–]\s*\d{1,2}[.:]\d{2})?$")]
    place: Line
    reply_by: dt.date
    reply_to: EmailAddress | None = Field(default=None, description="Default: the message's contact.")


class Text(Part):
    """What one stakeholder group or one forum reads. Which fields a forum needs: see render.NEEDS."""

    headline: Line | None = None
    lead: Prose | None = Field(default=None, description="One to three sentences: the most important first.")
    text: Prose | None = Field(default=None, description="Markdown.")
    action: Action | None = None
    hook: Line | None = Field(default=None, description="LinkedIn: the first line, before the fold.")
    hashtags: list[Hashtag] | None = Field(default=None, description="A post's hashtags (LinkedIn, Facebook, "
                                                                     "Instagram), with or without the #.")
    forward: Forward | None = None
    invitation: Invitation | None = None


class Milestone(Part):
    """One step of the timeline: when, and what happens, in the default (staff) words and per group."""

    when: Line
    text: Line
    now: bool = Field(default=False, description="The step we are at: the status, shown on the timeline.")
    citizens: Line | None = None
    employees: Line | None = None
    management: Line | None = None
    others: Line | None = None

    def for_group(self, group: str) -> str:
        return getattr(self, group, None) or self.text


class Word(Part):
    """One of this month's words: as a glossary term (its explanation, its plain words) for this message, or
    a word some readers know (`known`: all, a group, a forum or a template name). Either or both."""

    explain: Line | None = Field(default=None, description="A short Danish explanation, for texts that keep it.")
    plain: Line | None = Field(default=None, description="The everyday words to write instead (citizens).")
    known: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]] = Field(
        default=[], description="Who knows the word already: all, a group, a forum or a template name.")

    @model_validator(mode="after")
    def _says_something(self) -> Word:
        if not (self.explain or self.plain or self.known):
            raise ValueError("says nothing about the word: give `explain:` (and `plain:`), or `known:`")
        return self


WordKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=60,
                                           pattern=r"^[^\W\d_]+(?:-[^\W\d_]+)*$")]


class Image(BaseModel):
    """A picture for the posts that carry one (Instagram): a public https URL and its alt text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$", max_length=2000)]
    alt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=1000)]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,80}$")]
    title: Annotated[str, StringConstraints(min_length=5, max_length=200)]
    summary: Annotated[str, StringConstraints(min_length=10, max_length=600)]
    date: dt.date
    link: HttpsUrl | None = None
    author: EmailAddress | None = Field(
        default=None, description="Who is told if the steering group rejects the message (default: the "
                                  "plan's contact).")
    fora: list[str] | None = Field(default=None, description="Only these fora; default: every forum.")
    image: Image | None = Field(default=None, description="A public https image and its alt text (Instagram).")
    contact: Contact | None = None
    next_status: dt.date | None = None
    timeline: list[Milestone] = []

    @field_validator("timeline")
    @classmethod
    def _one_step_now(cls, value: list[Milestone]) -> list[Milestone]:
        if sum(step.now for step in value) > 1:
            raise ValueError("marks more than one step with `now: true`: mark only the step we are at")
        return value
    groups: dict[Stakeholder, Text] = {}
    forum_texts: dict[str, Text] = {}
    words: dict[WordKey, Word] = Field(default={}, description="This month's words: explained, or known by some "
                                                              "readers (budbringer/jargon.py).")
    body: str = Field(default="", description="Notes for the steering group; never sent to a forum.")
    path: Path = Field(default=Path("message.md"), exclude=True)


FIELDS = ", ".join(name for name in Message.model_fields if name not in ("body", "path"))


def fields_at(at: tuple[str | int, ...]) -> str:
    """The fields allowed where an unknown one was found (`at` is pydantic's location of the unknown field)."""
    model: type[BaseModel] = Message
    for step in at[:-1]:
        field = model.model_fields.get(step) if isinstance(step, str) else None
        if field is None:
            continue  # a key of a mapping (a group, a forum) or an index of a list
        inner = [arg for arg in getattr(field.annotation, "__args__", ()) or (field.annotation,)]
        inner += [a for arg in list(inner) for a in getattr(arg, "__args__", ())]
        found = next((arg for arg in inner if isinstance(arg, type) and issubclass(arg, BaseModel)), None)
        if found is None:
            break
        model = found
    if model is Message:
        return FIELDS
    return ", ".join(model.model_fields)


def load(path: str | os.PathLike[str], plan: Plan | None = None) -> Message:
    """Read a message file; raise InputError naming every problem (file, line, field, fix)."""
    file = Path(path)
    return loads(yamlfile.read_text(file, limit=MAX_BYTES, fix="check the path of the message"), file, plan)


def loads(text: str, path: str | os.PathLike[str], plan: Plan | None = None) -> Message:
    """A message from its text, as `load` reads it from the file at `path` (the name every problem gives, and
    the message's `path`): the author's page checks the typed text without writing it anywhere."""
    file = Path(path)
    if (size := len(text.encode("utf-8"))) > MAX_BYTES:
        raise InputError([Problem(str(file), "(file)", f"is {size:,} bytes; at most {MAX_BYTES:,} are read",
                                  "make it shorter")])
    lines = text.splitlines()
    if not lines or lines[0].strip() != FENCE or FENCE not in (line.strip() for line in lines[1:]):
        raise InputError([Problem(str(file), "(front matter)", "has no YAML front matter",
                                  "start the file with a line '---', the fields id, title, summary and date, "
                                  "and another '---' line before the body", 1)])
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == FENCE)
    front = "\n".join(lines[1:end])
    try:
        data, where, problems = yamlfile.load(file, front, aliases=False)
    except InputError as exc:  # its lines count from the front matter, which starts on the file's line 2
        raise InputError([replace(p, line=p.line + 1) if p.line else p for p in exc.problems]) from None
    problems = [replace(p, line=p.line + 1) if p.line else p for p in problems]
    if not isinstance(data, dict):
        raise InputError([Problem(str(file), "(front matter)", "is not a mapping of fields",
                                  "write the front matter as `field: value` lines", 2)])
    where = {at: line + 1 for at, line in where.items()}  # the front matter starts on line 2
    if empty := empty_fields(str(file), data, where):  # an unfilled skeleton: name every empty field first
        raise InputError(problems + empty)
    body = "\n".join(lines[end + 1:]).strip() + "\n"
    try:
        message = Message.model_validate({**data, "body": body, "path": file})
    except ValidationError as exc:
        for error in exc.errors():
            at = tuple(error["loc"])
            if error["type"] == "missing":
                what, fix = "is required", f"add `{at[-1]}:` to the front matter"
            elif error["type"] == "extra_forbidden":
                what, fix = "is not a known field", f"use {fields_at(at)}"
            elif at[:1] == ("id",):
                what, fix = f"{yamlfile.quote(error.get('input'))} is not a valid id", "use lower-case letters, digits and -"
            elif at[:1] == ("body",):
                what, fix = "is empty or too short", "write the message below the front matter"
            elif at[:2] == ("image", "url"):
                what, fix = f"{error.get('input')!r} is not an https address", "give the image's public https:// URL"
            elif at[:2] == ("image", "alt"):
                what, fix = error["msg"].lower(), "say in a sentence what the picture shows (5 to 1,000 characters)"
            else:
                what, fix = error["msg"].lower(), "correct the value"
            problems.append(Problem(str(file), yamlfile.dotted(at), what, fix,
                                    yamlfile.line_of(where, at) if at[:1] != ("body",) else end + 2))
        raise InputError(problems) from None
    if message.link is not None and (reason := link_problem(message.link)):
        problems.append(Problem(str(file), "link", reason, "give the page's address as https://host/path, with "
                                "unsafe characters percent-encoded (\" < > ` { } | \\ ^ and spaces)",
                                yamlfile.line_of(where, ("link",))))
    if plan is not None:
        for index, forum in enumerate(message.fora or []):
            if forum not in plan.fora:
                problems.append(Problem(str(file), f"fora[{index}]", f"names the unknown forum {yamlfile.quote(forum)}",
                                        f"use one of: {', '.join(sorted(plan.fora))}",
                                        yamlfile.line_of(where, ("fora", index))))
        readers = {"all", "citizens", "employees", "management", "others", *plan.fora,
                   *(f.template.split(".")[0] for f in plan.fora.values())}
        for word, entry in message.words.items():
            for index, key in enumerate(entry.known):
                if key not in readers:
                    problems.append(Problem(str(file), f"words.{word}.known[{index}]",
                                            f"names no group, forum or template ({yamlfile.quote(key)})",
                                            "use all, citizens, employees, management, others, a forum or a "
                                            "template name without extension",
                                            yamlfile.line_of(where, ("words", word, "known", index))))
    if problems:
        raise InputError(problems)
    return message


#: what to write in an empty field, in Danish for the author (by the field's own name)
WHAT_TO_WRITE = {
    "title": "styregruppens navn for budskabet",
    "summary": "en eller to sætninger til styregruppen om, hvad budskabet handler om",
    "headline": "en overskrift på én linje, med læserens ord",
    "lead": "en indledning på en til tre korte sætninger, det vigtigste først",
    "text": "selve teksten (Markdown)",
    "ask": "det, vi beder læseren om",
    "by": "en dato (ÅÅÅÅ-MM-DD)",
    "date": "en dato (ÅÅÅÅ-MM-DD)",
    "reply_by": "svarfristen (ÅÅÅÅ-MM-DD)",
    "when": "hvornår, fx »Januar 2027«",
    "what": "hvad der inviteres til",
    "time": "tidsrummet, fx \"9.00-12.00\"",
    "place": "stedet, med adresse",
    "hook": "opslagets første linje",
    "name": "et navn",
    "role": "en rolle, fx projektleder",
    **{group: f"trinnet med {readers} ord" for group, readers in STAKEHOLDER_READERS.items()},
    "email": "en mailadresse",
    "link": "en https-adresse",
    "hashtags": "hashtags, fx [Socialområdet, RegionMidtjylland]",
}


#: fields a message may leave out: an empty one may be deleted instead of filled in
OPTIONAL = frozenset({"link", "role", "phone", "by", "reply_to", "citizens", "employees", "management", "others",
                      "hashtags", "next_status", "author", "image", "fora"})


def empty_fields(file: str, data: dict[str, object], where: dict[tuple[str | int, ...], int]) -> list[Problem]:
    """Every field written with no value (`headline:` and nothing after it, as `budbringer new` leaves them),
    named with its line, in Danish for the author: what to write there, or to delete the line."""
    found: list[Problem] = []

    def walk(node: object, at: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*at, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*at, index))
        elif at and (node is None or (isinstance(node, str) and not node.strip())):
            name = next((part for part in reversed(at) if isinstance(part, str)), "")
            what = WHAT_TO_WRITE.get(name, "en værdi")
            optional = " – eller slet linjen, hvis feltet ikke skal bruges" if name in OPTIONAL else ""
            found.append(Problem(file, yamlfile.dotted(at), "er tomt", f"skriv {what}{optional}",
                                 yamlfile.line_of(where, at)))

    walk(data, ())
    return found


#: characters a URL may hold unencoded (RFC 3986), plus letters beyond ASCII (æ, ø, å in a path)
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%\u00a0-\U0010ffff]+$")


def link_problem(link: str) -> str | None:
    """What is wrong with a message's link, or None: an https URL with a host, no credentials, and nothing a
    page or a mail could mistake for markup (`"`, `<`, `>` and the like must be percent-encoded)."""
    if len(link) > 2000:
        return "is longer than 2,000 characters"
    if not _URL_CHARS.match(link) or any(ch.isspace() or not ch.isprintable() for ch in link):
        return "holds characters a web address may not hold unencoded"
    try:
        parts = urlsplit(link)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid web address"
    if parts.scheme != "https" or not host:
        return "is not an https:// address with a host"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password (user:password@host)"
    return None
