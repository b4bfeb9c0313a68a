"""Rendering: a message plus the plan becomes one variant per forum. Pure: no network, no clock, no Prefect.

Each forum names a Jinja2 template in `templates/`. A template sets `subject` at its top level and renders
the body; `*.html.j2` templates are autoescaped HTML, `*.txt.j2` are plain text (LinkedIn). Undefined names
are errors (StrictUndefined). The message's Markdown becomes sanitised HTML (markdown-it-py, then nh3), so
hostile markup in a message cannot reach a page or a mail.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from budbringer.errors import InputError, Problem
from budbringer.message import Message
from budbringer.plan import STAKEHOLDER_LABELS, Plan

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "h2", "h3", "h4", "blockquote", "code", "pre",
                "table", "thead", "tbody", "tr", "th", "td", "hr"}


@dataclass(frozen=True)
class Variant:
    """A message rendered for one forum: exactly the content that will be delivered (and approved)."""

    forum: str
    forum_title: str
    tier: str
    tier_index: int
    phase: str
    medium: str
    channel: str
    template: str
    stakeholder: str
    subject: str
    body: str
    body_format: str  # "html" or "text"
    summary: str
    link: str | None
    recipients: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """A hash of everything the approver read. Recipients and sites are plan facts, not content."""
        content = {
            "forum": self.forum,
            "medium": self.medium,
            "subject": self.subject,
            "body": self.body,
            "format": self.body_format,
            "summary": self.summary,
            "link": self.link,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def markdown_to_html(text: str) -> Markup:
    """Markdown to HTML that is safe to place in a page or a mail: no scripts, no handlers, no styles."""
    raw = _markdown().render(text)
    clean = nh3.clean(raw, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}},
                      url_schemes={"https", "http", "mailto"}, link_rel="noopener noreferrer")
    return Markup(clean.strip())


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def danish_date(value: Any) -> str:
    """'10. december 2026': Babel's Danish month names (CLDR), not hand-written ones."""
    from babel.dates import format_date

    return format_date(value, "d. MMMM y", locale="da")


@cache
def environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False,
                                            default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["danish_date"] = danish_date
    return env


def context(plan: Plan, message: Message) -> dict[str, Any]:
    """What every template sees (documented in templates/README.md)."""
    return {
        "plan": plan,
        "narrative": plan.narrative,
        "message": {
            "id": message.id,
            "title": message.title,
            "summary": message.summary,
            "date": message.date,
            "link": message.link,
            "body_html": markdown_to_html(message.body),
            "body_markdown": message.body,
            "sections_html": {group: markdown_to_html(text) for group, text in message.sections.items()},
            "sections_markdown": dict(message.sections),
        },
        "stakeholder_labels": STAKEHOLDER_LABELS,
    }


def selected_fora(plan: Plan, message: Message) -> list[str]:
    """The fora this message goes to, in tier order: enabled ones, limited by the message's `fora`."""
    wanted = set(message.fora) if message.fora else None
    return [name for tier in plan.tiers for name in plan.active_fora(tier) if wanted is None or name in wanted]


def render_variants(plan: Plan, message: Message) -> list[Variant]:
    """Render every forum's variant; raise InputError naming every template that fails."""
    base = context(plan, message)
    variants: list[Variant] = []
    problems: list[Problem] = []
    for index, tier in enumerate(plan.tiers, start=1):
        for name in plan.active_fora(tier):
            if name not in selected_fora(plan, message):
                continue
            forum = plan.fora[name]
            ctx = {**base, "forum": forum, "forum_name": name, "tier": tier,
                   "section": base["message"]["sections_html"].get(forum.stakeholder),
                   "section_markdown": base["message"]["sections_markdown"].get(forum.stakeholder)}
            try:
                subject, body = render_template(plan, forum.template, ctx)
            except InputError as exc:
                problems += exc.problems
                continue
            recipients = tuple(forum.recipients) or ((forum.newsletter.editor,) if forum.newsletter else ())
            variants.append(Variant(
                forum=name, forum_title=forum.title, tier=tier.name, tier_index=index, phase=tier.phase,
                medium=forum.medium, channel=forum.channel, template=forum.template,
                stakeholder=forum.stakeholder, subject=subject, body=body,
                body_format="html" if forum.template.endswith(".html.j2") else "text",
                summary=message.summary, link=message.link, recipients=recipients, sites=tuple(forum.sites),
            ))
    if problems:
        raise InputError(problems)
    return variants


def render_template(plan: Plan, template: str, ctx: dict[str, Any]) -> tuple[str, str]:
    """Render one template to (subject, body). Errors name the template file, its line and the fix."""
    templates_dir = plan.templates_dir
    file = str(templates_dir / template)
    try:
        compiled = environment(templates_dir).get_template(template)
        module = compiled.make_module(ctx)
        body = str(module).strip() + "\n"
        subject = getattr(module, "subject", None)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError([Problem(file, "(syntax)", exc.message or "syntax error",
                                  "fix the Jinja2 tag on that line", exc.lineno)]) from None
    except jinja2.TemplateNotFound as exc:
        raise InputError([Problem(file, "(template)", f"{exc.name} does not exist",
                                  f"create it in {templates_dir} or correct the name")]) from None
    except jinja2.UndefinedError as exc:
        raise InputError([Problem(file, "(variable)", exc.message or "undefined name",
                                  "use only the names listed in templates/README.md",
                                  _template_line(exc, template))]) from None
    if not subject or not str(subject).strip():
        raise InputError([Problem(file, "subject", "the template sets no subject",
                                  'add {% set subject = "…" %} at its top level', 1)])
    return html.unescape(" ".join(str(subject).split())), body


def _template_line(exc: BaseException, template: str) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(template.split("/")[-1]):
            line = tb.tb_lineno
            # The frame runs Jinja's generated Python: map its line back to the template's own line.
            compiled = tb.tb_frame.f_globals.get("__jinja_template__")
            if compiled is not None:
                line = compiled.get_corresponding_lineno(line)
        tb = tb.tb_next
    return line


def render_approval_request(plan: Plan, message: Message, variants: list[Variant], findings: list[Any],
                            approval_hash: str, deadline: Any = None, meeting: Any = None, member: Any = None,
                            link: str = "") -> Variant:
    """The request to one member of the steering group (`member`, with the personal `link` to the approval
    page): what to decide, by when (the deadline from the OC calendar), and the text of every variant.
    Without a member: the same mail addressed to the whole group (a preview)."""
    policy = plan.approval
    ctx = {**context(plan, message), "variants": variants, "findings": findings, "approval_hash": approval_hash,
           "deadline": deadline, "meeting": meeting, "member": member, "link": link,
           "tiers": {tier.name: tier.title for tier in plan.tiers}}
    subject, body = render_template(plan, policy.template, ctx)
    return Variant(
        forum="approval", forum_title=policy.title, tier="approval", tier_index=0, phase="approval",
        medium="mail", channel=policy.channel or "", template=policy.template, stakeholder="management",
        subject=subject, body=body, body_format="html", summary=message.summary, link=message.link,
        recipients=(member.email,) if member else tuple(m.email for m in policy.members),
    )
