"""Findings as the author reads them: once per message field, ordered by consequence, in the author's language.

`checks.Finding` is one finding in one forum's variant. The author fixes a field of the message, not a
forum, so `for_author` joins the findings that say the same thing about the same field (`Finding.field`)
and lists the fora it reaches: a long sentence in `forum_texts.network_briefing.text` is one finding for
the three networks. They are ordered by consequence: what blocks, what reaches the wrong reader, then the
rest (the language warnings last). `check`, the preview, the approval page and the request mail all show
these, in the same words (the approvers' page and mail in Danish).

Plain Python on duck-typed findings (forum, severity, text, text_da, rule, field): no import of checks or
render, so both may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from budbringer import catalogue

#: the rule of a finding whose forum would read a text written for another reader (checks.reader_findings)
WRONG_READER = "wrong_reader"
#: the readability rules (plan.Rule): language, the least consequence
LANGUAGE_RULES = {"lix", "long_sentence", "glossary", "ambiguous_term", "repeated_sentence", "repeated_paragraph",
                  "widespread_sentence", "form_of_address"}


def consequence(finding: Any) -> int:
    """0: blocks (an error); 1: reaches the wrong reader; 2: a warning about delivery (a deadline, a token);
    3: a language warning."""
    rule = getattr(finding, "rule", "")
    if rule == WRONG_READER:
        return 1
    if finding.severity == "error":
        return 0
    return 3 if rule in LANGUAGE_RULES else 2


@dataclass(frozen=True)
class AuthorFinding:
    """One finding as the author reads it: the field to change, the fora it reaches, the text in one language."""

    severity: str      # error or warning
    field: str         # the message field that feeds the text ("" when no field does: a channel's token)
    fora: tuple[str, ...]
    titles: tuple[str, ...]
    text: str
    rule: str
    lang: str

    @property
    def blocking(self) -> bool:
        return self.severity == "error"

    @property
    def severity_word(self) -> str:
        return catalogue.say("error", self.lang) if self.blocking else catalogue.say("warning", self.lang)

    @property
    def where(self) -> str:
        """"forum_texts.midtnyt.text (MidtNyt)", or just the fora."""
        titles = catalogue.join(self.titles, self.lang)
        return f"{self.field} ({titles})" if self.field else titles

    def line(self) -> str:
        """One line, the same in `check`, the preview and the approval page."""
        return f"{self.severity_word}: {self.where}: {self.text}"


def text_in(finding: Any, lang: str) -> str:
    if lang == "da":
        return getattr(finding, "text_da", "") or finding.text
    return finding.text


def for_author(findings: Iterable[Any], titles: dict[str, str] | None = None,
               lang: str = catalogue.DEFAULT) -> list[AuthorFinding]:
    """Join the findings that say the same about the same field, list their fora, order by consequence.
    `titles`: forum name → title (the plan's)."""
    titles = titles or {}
    joined: dict[tuple[str, str, str, str], list[str]] = {}
    kept: list[tuple[int, int, Any, tuple[str, str, str, str]]] = []
    for index, finding in enumerate(findings):
        field = getattr(finding, "field", "") or ""
        text = text_in(finding, lang)
        key = (finding.severity, getattr(finding, "rule", "") or "", field, text)
        if key not in joined:
            joined[key] = []
            kept.append((consequence(finding), index, finding, key))
        if finding.forum not in joined[key]:
            joined[key].append(finding.forum)
    kept.sort(key=lambda item: (item[0], item[1]))
    return [AuthorFinding(key[0], key[2], tuple(joined[key]), tuple(titles.get(f, f) for f in joined[key]),
                          key[3], key[1], lang) for _, _, _, key in kept]


def summary(found: Sequence[AuthorFinding], lang: str = catalogue.DEFAULT) -> str:
    """"2 fejl og 3 advarsler" / "no findings"."""
    errors = sum(1 for f in found if f.blocking)
    warnings = len(found) - errors
    if not found:
        return catalogue.say("no findings", lang)
    return catalogue.say("{errors} blocking and {warnings} to consider", lang, errors=errors, warnings=warnings)
