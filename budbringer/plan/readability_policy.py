"""The plan's `readability:` section: per-group rules, the glossary, the thresholds and each rule's severity,
with the defaults behind them (checked by budbringer/readability.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from budbringer.plan.fields import Strict


Severity = Literal["block", "warn", "off"]
Rule = Literal["lix", "long_sentence", "glossary", "ambiguous_term", "repeated_sentence", "repeated_paragraph",
               "widespread_sentence", "form_of_address", "jargon"]
# The issue-13 defaults: citizens <= 34, everyone else <= 44; a citizens' text over its ceiling or using a
# glossary term or a rare word (budbringer/jargon.py) blocks, every other rule warns.
DEFAULT_MAX_LIX = {"citizens": 34, "employees": 44, "management": 44, "others": 44}
DEFAULT_TERMS = {"citizens": "avoid", "employees": "explain", "management": "allow", "others": "allow"}
DEFAULT_SEVERITY: dict[str, dict[str, str]] = {"citizens": {"lix": "block", "glossary": "block", "jargon": "block"}}
# Zipf bars of the jargon rule (budbringer/jargon.py has the measured values behind them).
DEFAULT_MIN_ZIPF = 3.0
DEFAULT_COMPOUND_ZIPF = {"citizens": 4.5, "employees": 3.0, "management": 3.0, "others": 3.0}


class Readability(Strict):
    """Rules for one stakeholder group, checked before approval (budbringer/readability.py)."""

    max_lix: int | None = Field(default=None, gt=0,
                                description="Highest LIX (Danish readability index); default 34 for citizens, "
                                            "44 for the others.")
    avoid: list[str] = Field(default=[], description="Words this group should not meet (jargon), besides the "
                                                     "glossary.")
    terms: Literal["avoid", "explain", "allow"] | None = Field(
        default=None, description="What a glossary term needs in this group's texts: avoid (citizens), explain "
                                  "on first use (employees) or allow (management, others).")
    rules: dict[Rule, Severity] = Field(default={}, description="block, warn or off per rule, for this group.")
    min_zipf: float | None = Field(default=None, ge=0, le=8, description="A word below this Zipf value in "
                                   "everyday Danish (wordfreq) is rare: the jargon rule; default 3.0.")
    compound_zipf: float | None = Field(default=None, ge=0, le=8, description="A compound missing from the list "
                                        "is everyday when each part reaches this; default 4.5 for citizens, "
                                        "3.0 for the others.")


class Sense(Strict):
    """One meaning of a glossary term that has several ("tilbud": a care facility, or a supplier's bid)."""

    meaning: str
    plain: str
    cues: list[str] = Field(min_length=1, description="Word beginnings that show this meaning in a sentence.")


class GlossaryTerm(Strict):
    plain: str = Field(description="The plain word or phrase to use instead (for citizens).")
    explain: str = Field(default="", description="A short Danish explanation, for texts that keep the term.")
    forms: list[str] = Field(default=[], description="Word beginnings that count as the term (default: the term).")
    senses: list[Sense] = []


class ReadabilityPolicy(Strict):
    """The `readability:` section: per-group rules (the keys citizens, employees, management, others, as
    before), the glossary, the thresholds and how severe each rule is."""

    citizens: Readability = Readability()
    employees: Readability = Readability()
    management: Readability = Readability()
    others: Readability = Readability()
    max_sentence_words: int = Field(default=25, gt=0, description="A longer sentence is flagged.")
    repeated_sentence_words: int = Field(default=5, gt=0,
                                         description="A sentence this long said twice in one variant is flagged.")
    repeated_paragraph_words: int = Field(default=8, gt=0, description="A paragraph this long found in two "
                                                                       "variants one person may read is flagged.")
    widespread_sentence_words: int = Field(default=12, gt=0)
    widespread_max_variants: int = Field(default=3, gt=0, description="A sentence of widespread_sentence_words "
                                                                      "or more may be in at most this many "
                                                                      "variants.")
    rules: dict[Rule, Severity] = Field(default={}, description="block, warn or off per rule, for every group.")
    glossary: dict[str, GlossaryTerm] = {}
    known_words: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")], list[str]] = Field(
        default={}, description="Words a reader knows, so neither the glossary nor the jargon rule flags them "
                                "there: keys `all`, a group, a forum, or a template name without extension "
                                "(e.g. network_briefing); each word matches the words it begins.")

    def group(self, stakeholder: str) -> Readability:
        return getattr(self, stakeholder)

    def get(self, stakeholder: str, default: Any = None) -> Readability | None:
        """Dict-like access, as when the section was a mapping of groups."""
        return getattr(self, stakeholder, default)

    def max_lix(self, stakeholder: str) -> int:
        return self.group(stakeholder).max_lix or DEFAULT_MAX_LIX[stakeholder]

    def terms(self, stakeholder: str) -> str:
        return self.group(stakeholder).terms or DEFAULT_TERMS[stakeholder]

    def min_zipf(self, stakeholder: str) -> float:
        value = self.group(stakeholder).min_zipf
        return DEFAULT_MIN_ZIPF if value is None else value

    def compound_zipf(self, stakeholder: str) -> float:
        value = self.group(stakeholder).compound_zipf
        return DEFAULT_COMPOUND_ZIPF[stakeholder] if value is None else value

    def severity(self, stakeholder: str, rule: str) -> str:
        """The group's own setting, else the section's, else the default (block for citizens' LIX and
        glossary, warn for the rest)."""
        return (self.group(stakeholder).rules.get(rule)  # type: ignore[call-overload]
                or self.rules.get(rule)  # type: ignore[call-overload]
                or DEFAULT_SEVERITY.get(stakeholder, {}).get(rule, "warn"))
