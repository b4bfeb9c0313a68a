"""A message: what the communications officer writes once, as Markdown with YAML front matter.

```
---
id: 2026-11-status-udbud
title: Status på udbuddet af et nyt dokumentationssystem
summary: Én eller to sætninger, der kan stå alene.
date: 2026-11-23
link: https://www.rm.dk/…            # optional
author: navn@socialomraadet.example   # optional: who is told if the steering group rejects it
fora: [oc, hmu]                       # optional: only these fora (default: every forum of the plan)
sections:                             # optional: extra text for one stakeholder group
  employees: Hvad betyder det for dig …
---
The body, in Markdown.
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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from budbringer import yamlfile
from budbringer.errors import InputError, Problem
from budbringer.plan import Plan, Stakeholder

FENCE = "---"
#: the largest message file read (bytes): about 4,500 words, far beyond any briefing. The rendered variants
#: carry the body several times over, and Prefect refuses flow-run parameters over 512 KB.
MAX_BYTES = 32 * 1024


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,80}$")]
    title: Annotated[str, StringConstraints(min_length=5, max_length=200)]
    summary: Annotated[str, StringConstraints(min_length=10, max_length=600)]
    date: dt.date
    link: Annotated[str, StringConstraints(pattern=r"^https://\S+$")] | None = None
    author: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = Field(
        default=None, description="Who is told if the steering group rejects the message (default: the "
                                  "plan's contact).")
    fora: list[str] | None = Field(default=None, description="Only these fora; default: every forum.")
    sections: dict[Stakeholder, str] = {}
    body: Annotated[str, StringConstraints(min_length=20)]
    path: Path = Field(default=Path("message.md"), exclude=True)


def load(path: str | os.PathLike[str], plan: Plan | None = None) -> Message:
    """Read a message file; raise InputError naming every problem (file, line, field, fix)."""
    file = Path(path)
    text = yamlfile.read_text(file, limit=MAX_BYTES, fix="check the path of the message")
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
    body = "\n".join(lines[end + 1:]).strip() + "\n"
    try:
        message = Message.model_validate({**data, "body": body, "path": file})
    except ValidationError as exc:
        for error in exc.errors():
            at = tuple(error["loc"])
            if error["type"] == "missing":
                what, fix = "is required", f"add `{at[-1]}:` to the front matter"
            elif error["type"] == "extra_forbidden":
                what, fix = "is not a known field", "use id, title, summary, date, link, author, fora, sections"
            elif at[:1] == ("id",):
                what, fix = f"{yamlfile.quote(error.get('input'))} is not a valid id", "use lower-case letters, digits and -"
            elif at[:1] == ("body",):
                what, fix = "is empty or too short", "write the message below the front matter"
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
    if problems:
        raise InputError(problems)
    return message


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
