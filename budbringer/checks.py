"""Content checks made before approval: lengths (errors) and Danish plain language (budbringer/readability.py).

Readability is measured with LIX, the Danish readability index (words per sentence plus the share of words
longer than six letters): under 25 is very easy, 35–44 medium, 55 and over very hard. Each stakeholder group
has its own ceiling; the plan's glossary, the sentence length, repetition and the form of address are checked
too (config: `readability`). Each rule blocks (an error: nothing is sent) or warns, as the plan says.

Findings carry an English text for the operator's terminal and a Danish one for the approvers.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import nh3

from budbringer import readability
from budbringer.plan import Plan
from budbringer.render import Variant

WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9]+(?:[-'][A-Za-zÀ-ÖØ-öø-ÿ0-9]+)*")


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


def word_count(text: str) -> int:
    return len(WORD.findall(text))


def check_variants(plan: Plan, variants: list[Variant],
                   review: readability.Review | None = None) -> list[Finding]:
    """Lengths and readability of every variant; a blocking readability rule gives an error."""
    findings: list[Finding] = []
    for variant in variants:
        forum = plan.fora[variant.forum]
        if forum.max_chars is not None and len(variant.body) > forum.max_chars:
            findings.append(Finding(
                variant.forum, "error",
                f"{len(variant.body)} characters; {forum.title} takes at most {forum.max_chars}: shorten the "
                f"summary or the template {forum.template}",
                f"{len(variant.body)} tegn; {forum.title} kan højst rumme {forum.max_chars}."))
        limit = forum.max_words or (forum.newsletter.word_limit if forum.newsletter else None)
        if limit is not None and (count := word_count(counted_text(variant))) > limit:
            findings.append(Finding(
                variant.forum, "error",
                f"{count} words; {forum.title} takes at most {limit}: shorten the message's "
                f"{forum.stakeholder} section or summary",
                f"{count} ord; {forum.title} kan højst rumme {limit} ord."))
    for issue in (review or readability.review(plan, variants)).issues:
        findings.append(Finding(issue.forum, "error" if issue.severity == "block" else "warning", issue.text,
                                issue.text_da, issue.rule))
    return findings
