"""Rendering: a message plus the plan becomes one variant per forum. Pure: no network, no clock, no Prefect.

Each forum names a Jinja2 template in `templates/`. The forum reads the text written for it: the message's
`forum_texts` entry for its template and for its own name, over the text of its stakeholder group (`groups`),
field by field. What a template needs (`NEEDS`) is checked first; a missing field is an InputError naming the
message file, the field to write and what to write. A template sets `subject` at its top level and renders
the body; `*.html.j2` templates are autoescaped HTML, `*.txt.j2` are plain text (LinkedIn). Undefined names
are errors (StrictUndefined). The message's Markdown becomes sanitised HTML (markdown-it-py, then nh3), so
hostile markup in a message cannot reach a page or a mail.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from budbringer import deadlines, outline
from budbringer.errors import InputError, Problem
from budbringer.findings import for_author
# which fields each forum reads, and from where, is budbringer.forum_fields; its names stay importable from here
from budbringer.forum_fields import _one_line
from budbringer.forum_fields import DEFAULT_NEEDS as DEFAULT_NEEDS
from budbringer.forum_fields import NEEDS as NEEDS
from budbringer.forum_fields import OPTIONAL as OPTIONAL
from budbringer.forum_fields import OWN_FIELDS as OWN_FIELDS
from budbringer.forum_fields import field_sources as field_sources
from budbringer.forum_fields import forum_text as forum_text
from budbringer.forum_fields import layers as layers
from budbringer.forum_fields import missing_content as missing_content
from budbringer.forum_fields import reads as reads
from budbringer.forum_fields import sharing_chain as sharing_chain
from budbringer.forum_fields import sources_line as sources_line
from budbringer.forum_fields import template_key as template_key
from budbringer.forum_fields import text_home as text_home
from budbringer.forum_fields import text_sources as text_sources
from budbringer.forum_fields import written_for as written_for
from budbringer.message import Contact, Message, Text
from budbringer.plan import STAKEHOLDER_LABELS, Forum, NewsletterIssue, Plan
from budbringer.variant import Variant as Variant

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "h2", "h3", "h4", "blockquote", "code", "pre",
                "table", "thead", "tbody", "tr", "th", "td", "hr"}


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


def danish_day(value: Any) -> str:
    """'tirsdag den 19. januar 2027': a day to come to (an invitation), with its weekday (CLDR names)."""
    from babel.dates import format_date

    return format_date(value, "EEEE 'den' d. MMMM y", locale="da")


def time_span(value: str) -> str:
    """'9.00-12.00' as Danish typography writes a span: '9.00–12.00' (an en dash, no spaces)."""
    return re.sub(r"\s*[-–]\s*", "–", value.strip())


#: numbers up to twelve are written in words in running Danish text ("to medlemmer")
_NUMBER_WORDS = ("nul", "ét", "to", "tre", "fire", "fem", "seks", "syv", "otte", "ni", "ti", "elleve", "tolv")


def in_words(value: int) -> str:
    """2 → 'to', 12 → 'tolv', 13 → '13' (Danish house style: small numbers in words; 1 is 'ét', for
    the neuter nouns it counts here: medlem, ord)."""
    return _NUMBER_WORDS[value] if 0 <= value < len(_NUMBER_WORDS) else str(value)


#: a word as a word limit counts it: "it-system" and "Bosted-tovholder" are one word each
WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9]+(?:[-'][A-Za-zÀ-ÖØ-öø-ÿ0-9]+)*")


def word_count(text: str) -> int:
    """The words of a plain text, as a word limit counts them (the cover note and `check` alike)."""
    return len(WORD.findall(text))


def html_word_count(markup: str) -> int:
    """The words of an HTML fragment as its reader sees them (tags dropped, entities read)."""
    return word_count(html.unescape(nh3.clean(str(markup), tags=set())))


def hashtags(tags: Any) -> str:
    """A post's hashtags as one line: '#Socialområdet #RegionMidtjylland' (a leading # may be written or not)."""
    return " ".join("#" + tag.lstrip("#") for tag in tags or ())


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
    env.filters["danish_day"] = danish_day
    env.filters["time_span"] = time_span
    env.filters["in_words"] = in_words
    env.filters["word_count"] = html_word_count
    env.filters["hashtags"] = hashtags
    env.filters["nested"] = outline.nested  # a variant's headings shown under the heading that names it
    return env


def approval_deadline(plan: Plan, message: Message) -> Any:
    """The day approval is due for the message's OC meeting (deadlines), or the message's date without one."""
    try:
        schedule = deadlines.schedule_for_message_date(plan, message.date)
    except InputError:
        schedule = None
    return schedule.deadline.date() if schedule is not None else message.date


def newsletter_issue(forum: Forum, after: Any) -> NewsletterIssue | None:
    """The first issue whose deadline falls after the approval deadline: the item can be approved in time."""
    if forum.newsletter is None:
        return None
    return next((issue for issue in sorted(forum.newsletter.issues, key=lambda i: i.date)
                 if issue.deadline > after), None)


def _text_context(text: Text, contact: Contact | None, group: str) -> dict[str, Any]:
    action = text.action
    return {
        "headline": _one_line(text.headline),
        "lead": _one_line(text.lead),
        "hook": _one_line(text.hook),
        "text_html": markdown_to_html(text.text) if text.text else None,
        "text_markdown": text.text,
        "text_plain": plain_paragraphs(text.text) if text.text else None,
        "action": None if action is None else {
            "ask": _one_line(action.ask), "by": action.by, "contact": action.contact or contact},
        "forward": None if text.forward is None else {
            "headline": _one_line(text.forward.headline), "text_html": markdown_to_html(text.forward.text),
            "text_markdown": text.forward.text},
        "invitation": text.invitation,
        "hashtags": list(text.hashtags or ()),
        "group": group,
    }


def plain_paragraphs(markdown: str) -> str:
    """Markdown prose as plain text for a post: each paragraph on one line, list items kept, headings as
    lines, no CR. (A post shows every line break the author's editor wrapped the text at.)"""
    paragraphs = []
    for block in markdown.replace("\r", "").split("\n\n"):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith(("- ", "* ")) for line in lines):
            paragraphs.append("\n".join("– " + line[2:] for line in lines))
        else:
            # A Markdown heading is "#" followed by a space; "#tag" is a hashtag and stays.
            paragraphs.append(" ".join(re.sub(r"^#{1,6}\s+", "", line).strip() for line in lines))
    return "\n\n".join(paragraphs)


def _group_html(text: Text) -> Markup:
    """One group's text as the steering group reads it in the approval request."""
    parts = [f"<p><strong>{html.escape(_one_line(text.headline) or '')}</strong></p>" if text.headline else "",
             f"<p>{html.escape(_one_line(text.lead) or '')}</p>" if text.lead else "",
             str(markdown_to_html(text.text)) if text.text else "",
             f"<p><em>{html.escape(_one_line(text.action.ask) or '')}</em></p>" if text.action else ""]
    return Markup("\n".join(part for part in parts if part))


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
            "image": message.image,
            "contact": message.contact,
            "next_status": message.next_status,
            "body_html": markdown_to_html(message.body) if message.body.strip() else Markup(""),
            "body_markdown": message.body,
            "sections_html": {group: _group_html(text) for group, text in message.groups.items()},
            "sections_markdown": {group: text.text or "" for group, text in message.groups.items()},
        },
        "approval_deadline": approval_deadline(plan, message),
        "stakeholder_labels": STAKEHOLDER_LABELS,
    }


def forum_context(plan: Plan, message: Message, base: dict[str, Any], name: str) -> dict[str, Any]:
    forum = plan.fora[name]
    text = forum_text(message, name, forum, plan)
    content = _text_context(text, message.contact, forum.stakeholder)
    return {**base, "forum": forum, "forum_name": name, "tier": plan.tier_of(name), "content": content,
            "timeline": [{"when": m.when, "text": m.for_group(forum.stakeholder), "now": m.now}
                         for m in message.timeline],
            "issue": newsletter_issue(forum, base["approval_deadline"]),
            # The names the social templates (Facebook, Instagram) use: the text, as HTML and as post paragraphs.
            "section": content["text_html"], "section_markdown": content["text_plain"]}


def selected_fora(plan: Plan, message: Message) -> list[str]:
    """The fora this message goes to, in tier order: enabled ones, limited by the message's `fora`."""
    wanted = set(message.fora) if message.fora else None
    return [name for tier in plan.tiers for name in plan.active_fora(tier) if wanted is None or name in wanted]


def render_variants(plan: Plan, message: Message) -> list[Variant]:
    """Render every forum's variant; raise InputError naming every missing text and every failing template."""
    base = context(plan, message)
    names = selected_fora(plan, message)
    problems = missing_content(plan, message, names)
    if problems:
        raise InputError(problems)
    variants: list[Variant] = []
    for index, tier in enumerate(plan.tiers, start=1):
        for name in plan.active_fora(tier):
            if name not in names:
                continue
            forum = plan.fora[name]
            ctx = forum_context(plan, message, base, name)
            try:
                subject, body = render_template(plan, forum.template, ctx)
            except InputError as exc:
                problems += exc.problems
                continue
            content = ctx["content"]
            variants.append(Variant(
                forum=name, forum_title=forum.title, tier=tier.name, tier_index=index, phase=tier.phase,
                medium=forum.medium, channel=forum.channel, template=forum.template,
                stakeholder=forum.stakeholder, subject=subject, body=body,
                body_format="html" if forum.template.endswith(".html.j2") else "text",
                summary=content["hook"] or content["lead"] or subject, link=message.link,
                recipients=forum.address.mail_to(), sites=forum.address.page_sites(),
                image_url=message.image.url if message.image else None,
                image_alt=message.image.alt if message.image else None,
            ))
    if problems:
        raise InputError(problems)
    return variants


def render_template(plan: Plan, template: str, ctx: dict[str, Any], subject_needed: bool = True) -> tuple[str, str]:
    """Render one template to (subject, body). Errors name the template file, its line and the fix. A mail's
    text part (`subject_needed=False`) takes the subject of its HTML part."""
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
    if not subject_needed:
        return str(subject or ""), body
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
                            link: str = "", quality: Mapping[str, str] | None = None) -> Variant:
    """The request to one member of the steering group (`member`, with the personal `link` to the approval
    page): what to decide, by when (the deadline from the OC calendar), and the text of every variant.
    Without a member: the same mail addressed to the whole group (a preview). `quality` gives each forum's
    readability figures in one Danish line (`readability.Figures.line_da`), shown under its text."""
    policy = plan.approval
    if deadline is None:  # a preview: the deadline the request will carry, from the OC calendar
        try:
            schedule = deadlines.schedule_for_message_date(plan, message.date)
        except InputError:
            schedule = None
        if schedule is not None:
            deadline, meeting = schedule.deadline, meeting or schedule.meeting
    shown = for_author(findings, {name: forum.title for name, forum in plan.fora.items()}, "da")
    ctx = {**context(plan, message), "variants": variants, "findings": findings, "approval_hash": approval_hash,
           "author_findings": shown,
           "deadline": deadline, "meeting": meeting, "member": member, "link": link,
           "quality": dict(quality or {}),
           "tiers": {tier.name: tier.title for tier in plan.tiers}}
    subject, body = render_template(plan, policy.template, ctx)
    return Variant(
        forum="approval", forum_title=policy.title, tier="approval", tier_index=0, phase="approval",
        medium="mail", channel=policy.channel or "", template=policy.template, stakeholder="management",
        subject=subject, body=body, body_format="html", summary=message.summary, link=message.link,
        recipients=(member.email,) if member else tuple(m.email for m in policy.members),
        text=text_alternative(plan, policy.template, {**ctx, "subject": subject}),
    )


def text_alternative(plan: Plan, template: str, ctx: dict[str, Any]) -> str | None:
    """The plain-text part of a mail made from `template` (`x.html.j2`): its sibling `x.txt.j2`, written as text
    in the plan's templates, or None when there is none (the mail is then HTML only)."""
    sibling = template.removesuffix(".html.j2") + ".txt.j2"
    if sibling == template or not (plan.templates_dir / sibling).is_file():
        return None
    return render_template(plan, sibling, ctx, subject_needed=False)[1]
