"""The checks across a plan's sections, after each has validated: tiers and fora, channels and their settings,
each forum's addressing against its channel's declaration, authors, shared texts and the calendar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from budbringer import yamlfile
from budbringer.channel_types import ForumAddressing, Registry
from budbringer.errors import Problem
from budbringer.plan.fora import Channel, Forum
from budbringer.plan.model import Plan
from budbringer.plan.problems import place_of, problem_of


def cross_check(plan: Plan, file: str, lines: dict[Any, Any]) -> list[Problem]:
    registry = plan.registry
    problems: list[Problem] = []

    def add(at: tuple[Any, ...], what: str, fix: str) -> None:
        where, line = place_of(file, lines, at)
        problems.append(Problem(where, yamlfile.dotted(at), what, fix, line))

    known = sorted(plan.fora)
    placed: dict[str, str] = {}
    tier_names: set[str] = set()
    forum: str | Forum  # a forum's name in the tiers' loop, the forum itself in the fora's
    channel: Channel | None
    for i, tier in enumerate(plan.tiers):
        if tier.name in tier_names:
            add(("tiers", i, "name"), f"tier {tier.name!r} is named twice", "give each tier a unique name")
        tier_names.add(tier.name)
        for j, forum in enumerate(tier.fora):
            if forum not in plan.fora:
                add(("tiers", i, "fora", j), f"names the unknown forum {forum!r}",
                    f"add it under `fora:` or use one of: {', '.join(known)}")
            elif forum in placed:
                add(("tiers", i, "fora", j), f"forum {forum!r} is already in tier {placed[forum]!r}",
                    "a forum belongs to one tier: remove it from one of them")
            else:
                placed[forum] = tier.name
    phases = [t.phase for t in plan.tiers]
    if "publish" in phases and "cascade" in phases[phases.index("publish"):]:
        add(("tiers",), "a cascade tier comes after a publish tier",
            "the plan goes public only after the internal cascade: move the publish tiers last")

    for name, channel in plan.channels.items():
        adapter = registry.get(channel.type)
        if adapter is None:
            add(("channels", name, "type"), f"unknown channel type {yamlfile.quote(channel.type)}",
                f"use one of: {', '.join(registry.names())}")
            continue
        try:
            adapter.Settings.model_validate(channel.settings)
        except ValidationError as exc:
            problems += [problem_of(file, lines, {**e, "loc": ("channels", name, *e["loc"])}) for e in exc.errors()]

    templates = plan.templates_dir
    for name, forum in plan.fora.items():
        if name not in placed:
            add(("fora", name), "is in no tier", "add it to the `fora:` list of one tier, or delete it")
        channel = plan.channels.get(forum.channel)
        if channel is None:
            add(("fora", name, "channel"), f"names the unknown channel {forum.channel!r}",
                f"use one of: {', '.join(sorted(plan.channels))}")
        adapter = registry.get(channel.type) if channel is not None else None
        if channel is not None and adapter is not None:
            if forum.medium not in adapter.media:
                add(("fora", name, "medium"),
                    f"channel {forum.channel!r} ({channel.type}) cannot deliver {forum.medium!r}",
                    f"use a channel whose type handles {forum.medium!r}; {channel.type} handles "
                    f"{', '.join(sorted(adapter.media))}")
            problems += _check_addressing(forum, name, adapter.Addressing, channel.type, file, lines, add)
        if not (templates / forum.template).is_file():
            add(("fora", name, "template"), f"template {yamlfile.quote(forum.template)} does not exist in {templates}",
                f"create {templates / forum.template} or correct the name")
        _check_sharing(plan, name, add)
    if plan.approval.member(plan.approval.chair) is None:
        add(("approval", "chair"), f"{yamlfile.quote(plan.approval.chair)} is not one of the members",
            "name the chair exactly as in `approval.members`")
    seen: dict[str, str] = {}
    for i, member in enumerate(plan.approval.members):
        if member.object_id and member.object_id in seen:
            add(("approval", "members", i, "object_id"), f"is {seen[member.object_id]}'s object id too",
                "each member signs in with their own account: copy this member's Object ID from Entra ID")
        elif member.object_id:
            seen[member.object_id] = member.name
    _check_authors(plan, add)
    if not (templates / plan.approval.template).is_file():
        add(("approval", "template"), f"template {yamlfile.quote(plan.approval.template)} does not exist in {templates}",
            f"create {templates / plan.approval.template} or correct the name")
    if plan.approval.channel and plan.approval.channel not in plan.channels:
        add(("approval", "channel"), f"names the unknown channel {plan.approval.channel!r}",
            f"use one of: {', '.join(sorted(plan.channels))}")
    _check_calendar(plan, add)
    return problems


def _check_authors(plan: Plan, add: Any) -> None:
    """Each author once (by name, e-mail and object id); with sign-in required, each with an object id."""
    names: dict[str, int] = {}
    emails: dict[str, int] = {}
    oids: dict[str, str] = {}
    sign_in = plan.approval.sign_in
    for i, author in enumerate(plan.authors):
        if author.name.casefold() in names:
            first = names[author.name.casefold()]
            add(("authors", i, "name"), f"{yamlfile.quote(author.name)} is named twice (authors[{first}])",
                "list each author once; a personal link names the author")
        names.setdefault(author.name.casefold(), i)
        if author.email.casefold() in emails:
            first = emails[author.email.casefold()]
            add(("authors", i, "email"), f"{yamlfile.quote(author.email)} is authors[{first}]'s address too",
                "give each author their own address")
        emails.setdefault(author.email.casefold(), i)
        if author.object_id and author.object_id in oids:
            add(("authors", i, "object_id"), f"is {oids[author.object_id]}'s object id too",
                "each author signs in with their own account: copy this author's Object ID from Entra ID")
        elif author.object_id:
            oids[author.object_id] = author.name
        if sign_in is not None and sign_in.required and not author.object_id:
            add(("authors", i), f"{yamlfile.quote(author.name)} has no object_id, and approval.sign_in requires "
                "sign-in", "copy the author's Object ID from Entra ID (Users → the user → Overview) into "
                "`object_id:`")


def _check_addressing(forum: Forum, name: str, model: type[ForumAddressing], channel_type: str, file: str,
                      lines: dict[Any, Any], add: Any) -> list[Problem]:
    """The forum's addressing fields against its channel's declaration (`Adapter.Addressing`); on success the
    forum keeps the checked model (`Forum.address`). `add` records what an enabled forum lacks."""
    address, problems = _addressing(forum.addressing_fields, name, forum.channel, model, channel_type, file, lines)
    if address is not None:
        forum._address = address
        if forum.enabled:
            for field, what, fix in address.missing(forum.medium):
                add(("fora", name, field), what, fix)
    return problems


def _addressing(fields: Mapping[str, Any], name: str, channel: str, model: type[ForumAddressing], channel_type: str,
                file: str, lines: dict[Any, Any]) -> tuple[ForumAddressing | None, list[Problem]]:
    try:
        return model.model_validate(dict(fields)), []
    except ValidationError as exc:
        takes = ", ".join(f"`{f}`" for f in model.model_fields) or "no addressing fields"
        problems = []
        for error in exc.errors():
            problem = problem_of(file, lines, {**error, "loc": ("fora", name, *error["loc"])})
            if error["type"] == "extra_forbidden":
                problem = Problem(problem.file, problem.field, f"is not a known field of a forum on channel "
                                  f"{channel!r} ({channel_type})", f"remove it or correct its spelling; a "
                                  f"{channel_type} forum takes {takes} beside the fields every forum has (see "
                                  "config/README.md)", problem.line)
            problems.append(problem)
        return None, problems


def addressing_of_raw(data: dict[Any, Any], registry: Registry[Any], file: str,
                       lines: dict[Any, Any]) -> list[Problem]:
    """The fora's addressing problems when the plan as a whole did not validate (so a misspelt field is named
    beside the field it leaves missing): each forum whose channel and type can be told from the raw data."""
    problems: list[Problem] = []
    channels, fora = data.get("channels"), data.get("fora")
    if not isinstance(channels, dict) or not isinstance(fora, dict):
        return problems
    own = set(Forum.model_fields) - {"addressing_fields"}
    for name, raw in fora.items():
        if not isinstance(raw, dict) or not isinstance(channels.get(raw.get("channel")), dict):
            continue
        channel_type = channels[raw["channel"]].get("type")
        adapter = registry.get(channel_type) if isinstance(channel_type, str) else None
        if adapter is not None:
            fields = {k: v for k, v in raw.items() if k not in own}
            problems += _addressing(fields, name, raw["channel"], adapter.Addressing, channel_type, file, lines)[1]
    return problems


def _check_sharing(plan: Plan, name: str, add: Any) -> None:
    """`shares_text_with` names another forum, and following it never comes back to where it started."""
    forum = plan.fora[name]
    other = forum.shares_text_with
    if other is None:
        return
    if forum.group_text:
        add(("fora", name, "shares_text_with"), "is given beside `group_text: true`",
            "a forum either reads its group's text (group_text) or shares another forum's text: keep one")
    if other not in plan.fora:
        add(("fora", name, "shares_text_with"), f"names the unknown forum {other!r}",
            f"use one of: {', '.join(sorted(plan.fora))}")
        return
    seen = [name]
    while other is not None and other in plan.fora:
        if other in seen:
            add(("fora", name, "shares_text_with"), f"goes round in a circle ({' → '.join([*seen, other])})",
                "let the chain end at a forum with a text of its own (or `group_text: true`)")
            return
        seen.append(other)
        other = plan.fora[other].shares_text_with


def _check_calendar(plan: Plan, add: Any) -> None:
    """The calendar's cross-checks (budbringer.deadlines relies on them); `add` records each problem."""
    calendar = plan.calendar
    forum = plan.fora.get(calendar.meetings_forum)
    if forum is None:
        add(("calendar", "meetings_forum"), f"names the unknown forum {calendar.meetings_forum!r}",
            f"name the forum whose meetings drive the briefing, one of: {', '.join(sorted(plan.fora))}")
    elif not forum.meetings:
        add(("fora", calendar.meetings_forum, "meetings"),
            f"forum {calendar.meetings_forum!r} has no meeting dates, but calendar.meetings_forum names it",
            f"list its meetings as `meetings: [YYYY-MM-DD, …]` under fora.{calendar.meetings_forum}, or set "
            "calendar.meetings_forum to a forum that has them")
    request = calendar.request_working_days_before_deadline
    reminders = calendar.reminders_working_days_before_deadline
    for i, days in enumerate(reminders):
        if days >= request:
            add(("calendar", "reminders_working_days_before_deadline", i),
                f"a reminder {days} working days before the deadline comes no later than the request "
                f"({request} working days before)",
                "give reminders fewer working days than calendar.request_working_days_before_deadline")
        if days in reminders[:i]:
            add(("calendar", "reminders_working_days_before_deadline", i), f"{days} is given twice",
                "list each reminder day once")
