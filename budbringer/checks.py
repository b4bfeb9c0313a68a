"""Content checks made before approval: lengths (errors) and Danish plain language (budbringer/readability.py).

Readability is measured with LIX, the Danish readability index (words per sentence plus the share of words
longer than six letters): under 25 is very easy, 35–44 medium, 55 and over very hard. Each stakeholder group
has its own ceiling; the plan's glossary, the sentence length, repetition and the form of address are checked
too (config: `readability`). Each rule blocks (an error: nothing is sent) or warns, as the plan says.

Findings carry an English text (`--lang en`) and a Danish one (the author's default and the approvers'), both
from the message catalogue (budbringer/catalogue.py), and the message field that feeds the text (`field`),
so that the author is told what to change once per field (budbringer/findings.py).

Every forum reads a text written for its readers: `reader_findings` finds a forum whose text would come from
a text written for another reader (a group's text the plan gives to another forum; see render.layers).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import nh3

from budbringer import catalogue, readability, render
from budbringer.errors import Problem
from budbringer.findings import WRONG_READER, consequence
from budbringer.message import Message
from budbringer.plan import STAKEHOLDER_LABELS, Plan
from budbringer.render import WORD, Variant, word_count

__all__ = ["WORD", "Finding", "check_variants", "counted_text", "lix", "plain_text", "word_count"]


@dataclass(frozen=True)
class Finding:
    forum: str
    severity: str  # "error" stops the run; "warning" is shown to the approvers
    text: str
    text_da: str
    rule: str = ""  # the readability rule (readability.Issue.rule), or "" for lengths and channels
    field: str = ""  # the message field that causes it (e.g. `invitation.reply_by` of a forum), where known


def plain_text(variant: Variant) -> str:
    if variant.body_format == "text":
        return variant.body
    # Block ends become line breaks so that headings and list items count as sentences.
    marked = re.sub(r"</(p|li|h\d|td|th|blockquote)>|<br\s*/?>", "\n\n", variant.body)
    return html.unescape(nh3.clean(marked, tags=set()))


def counted_text(variant: Variant) -> str:
    """The part a word limit applies to: the `<article>` of a submission (not its cover note), else all."""
    articles = re.findall(r"<article\b.*?</article>", variant.body, flags=re.S)
    if variant.body_format == "html" and articles:
        return html.unescape(nh3.clean("\n".join(articles), tags=set()))
    return plain_text(variant)


def lix(text: str) -> float:
    """LIX with Danish sentence splitting (readability.sentences); blocks are separated by blank lines."""
    return readability.lix(text)


def check_variants(plan: Plan, variants: list[Variant], review: readability.Review | None = None,
                   month_words: Mapping[str, object] | None = None) -> list[Finding]:
    """Lengths and readability of every variant; a blocking readability rule gives an error. `month_words`:
    the message's `words:` (readability.review)."""
    findings: list[Finding] = []
    for variant in variants:
        forum = plan.fora[variant.forum]
        if forum.max_chars is not None and len(variant.body) > forum.max_chars:
            findings.append(Finding(variant.forum, "error", *catalogue.pair(
                "{count} characters; {forum} takes at most {limit}: shorten the text or the template {template}",
                count=len(variant.body), forum=forum.title, limit=forum.max_chars, template=forum.template)))
        limit = forum.max_words or (forum.newsletter.word_limit if forum.newsletter else None)
        if limit is not None and (count := word_count(counted_text(variant))) > limit:
            findings.append(Finding(variant.forum, "error", *catalogue.pair(
                "{count} words; {forum} takes at most {limit}: shorten the text", count=count, forum=forum.title,
                limit=limit)))
    for issue in (review or readability.review(plan, variants, month_words)).issues:
        findings.append(Finding(issue.forum, "error" if issue.severity == "block" else "warning", issue.text,
                                issue.text_da, issue.rule, issue.field))
    return findings


def blocking_problems(file: str, findings: list[Finding]) -> list[Problem]:
    """The blocking findings as errors.Problem (English: the operator's), once per field and text: a finding
    told for every forum a field reaches is one problem. A finding's text is "what: fix"."""
    out: dict[tuple[str, str], Problem] = {}
    for finding in findings:
        if finding.severity != "error":
            continue
        field = finding.field or f"variant for {finding.forum}"
        what, _, fix = finding.text.partition(": ")
        out.setdefault((field, finding.text), Problem(file, field, what, fix or "see the findings above"))
    return list(out.values())


def reader_findings(plan: Plan, message: Message, variants: list[Variant]) -> list[Finding]:
    """An error for each forum whose text would come from a text written for another reader: it names the
    field to write (`forum_texts.midtnyt.text`) and the plan's way to share deliberately."""
    findings: list[Finding] = []
    for sources in render.text_sources(plan, message, variants):
        foreign = sources.foreign
        if not foreign:
            continue
        source = foreign[0].path.rsplit(".", 1)[0]
        owners = render.written_for(plan, foreign[0].path)
        target = render.text_home(plan, sources.forum, foreign[0].field)
        fields = tuple(f.field for f in foreign)
        if owners:
            texts = catalogue.pair(
                "{fields} come from {source}, written for {owner}: write {target} for this forum's readers, or "
                "declare in the plan that it shares that text (shares_text_with: {owner_name})",
                fields=fields, source=source, owner=tuple(plan.fora[o].title for o in owners), target=target,
                owner_name=owners[0])
        else:
            group = sources.stakeholder
            texts = catalogue.pair(
                "{fields} come from {source}, which the plan gives to no forum: write {target} for this forum's "
                "readers, or mark in the plan the forum the {group} text is written for (group_text: true)",
                fields=fields, source=source, target=target, group=STAKEHOLDER_LABELS.get(group, group))
        findings.append(Finding(sources.forum, "error", *texts, WRONG_READER, target))
    return findings


#: rules about a forum's whole text: without a quoted passage they point at the field that feeds its body
_BODY_RULES = {"lix", "form_of_address", "long_sentence", "repeated_sentence", "repeated_paragraph",
               "widespread_sentence", "ambiguous_term"}
_QUOTED = re.compile(r"\u201c([^\u201d]+)\u201d")


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[*_#>`\[\]]", " ", text).split()).casefold()


def _field_values(plan: Plan, message: Message, forum: str) -> list[tuple[str, str]]:
    """(message field, its text) of everything the forum's reader may read, the body first."""
    out: list[tuple[str, str]] = []
    text = render.forum_text(message, forum, plan.fora[forum], plan)
    for source in render.field_sources(plan, message, forum):
        value = getattr(text, source.field)
        if source.field == "action":
            parts = [(".ask", value.ask)]
        elif source.field == "forward":
            parts = [(".headline", value.headline), (".text", value.text)]
        elif source.field == "invitation":
            parts = [(".what", value.what), (".place", value.place)]
        else:
            parts = [("", value)]
        out += [(source.path + suffix, part) for suffix, part in parts]
    group = plan.fora[forum].stakeholder
    for index, step in enumerate(message.timeline):
        key = group if getattr(step, group, None) else "text"
        out.append((f"timeline[{index}].{key}", step.for_group(group)))
    return out


def all_findings(plan: Plan, message: Message, variants: list[Variant], review: readability.Review | None = None,
                 channel_findings: list[Finding] | None = None) -> list[Finding]:
    """Every finding of a message, each with the field that feeds it, in order of consequence (blocking, wrong
    reader, then language)."""

    found = (reader_findings(plan, message, variants)
             + check_variants(plan, variants, review, message.words)
             + list(channel_findings or []))
    return sorted(attribute(found, plan, message), key=consequence)


def attribute(findings: list[Finding], plan: Plan, message: Message) -> list[Finding]:
    """Fill in each finding's `field`: the message field its quoted passage or word is in, else the field that
    feeds the forum's body (a LIX, a form of address, a length). A channel's finding about no text keeps ""."""
    cache: dict[str, list[tuple[str, str]]] = {}
    out: list[Finding] = []
    for finding in findings:
        if finding.field or finding.forum not in plan.fora:
            out.append(finding)
            continue
        values = cache.setdefault(finding.forum, _field_values(plan, message, finding.forum))
        quoted = [q.rstrip("\u2026").strip() for q in _QUOTED.findall(finding.text)]
        if finding.rule == "glossary":  # "<word> (<term>) is not explained …" / "uses <words> (…) … (in “…”)"
            quoted = [finding.text.split(" (", 1)[0]] if "not explained" in finding.text else quoted[-1:]
        field = next((path for q in quoted if q for path, value in values if _plain(q) in _plain(value)), "")
        if not field and finding.rule in _BODY_RULES:
            field = next((path for path, _ in values if path.endswith(".text")), "")
        out.append(replace(finding, field=field) if field else finding)
    return out
