"""Content checks made before approval: lengths (errors) and readability (warnings).

Readability is measured with LIX, the Danish readability index (words per sentence plus the share of words
longer than six letters): under 25 is very easy, 35–44 medium, 55 and over very hard. Each stakeholder group
has its own ceiling and its own list of words to avoid (config: `readability`).

Findings carry an English text for the operator's terminal and a Danish one for the approvers.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import nh3

from budbringer.plan import Plan
from budbringer.render import Variant

WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9]+(?:[-'][A-Za-zÀ-ÖØ-öø-ÿ0-9]+)*")
SENTENCE_END = re.compile(r"[.!?:]+(?=\s|$)|\n\s*\n")


@dataclass(frozen=True)
class Finding:
    forum: str
    severity: str  # "error" stops the run; "warning" is shown to the approvers
    text: str
    text_da: str


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
    words = WORD.findall(text)
    if not words:
        return 0.0
    sentences = max(1, len([s for s in SENTENCE_END.split(text) if WORD.search(s)]))
    long_words = sum(1 for word in words if len(word) > 6)
    return len(words) / sentences + 100 * long_words / len(words)


def word_count(text: str) -> int:
    return len(WORD.findall(text))


def check_variants(plan: Plan, variants: list[Variant]) -> list[Finding]:
    findings: list[Finding] = []
    for variant in variants:
        forum = plan.fora[variant.forum]
        text = plain_text(variant)
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
        rules = plan.readability.get(forum.stakeholder)
        if rules is None:
            continue
        score = lix(text)
        if rules.max_lix is not None and score > rules.max_lix:
            findings.append(Finding(
                variant.forum, "warning",
                f"LIX {score:.0f} is above {rules.max_lix} for {forum.stakeholder}: use shorter sentences "
                f"and shorter words",
                f"LIX {score:.0f} er over {rules.max_lix}, som er målet for denne målgruppe: "
                f"brug kortere sætninger og kortere ord."))
        lowered = text.casefold()
        found = [word for word in rules.avoid if word.casefold() in lowered]
        if found:
            findings.append(Finding(
                variant.forum, "warning",
                f"uses {', '.join(found)}, which {forum.stakeholder} may not know: say it in plain words",
                f"Bruger {', '.join(found)}, som målgruppen måske ikke kender: sig det med almindelige ord."))
    return findings
