"""The communication plan as data: fora, tiers, channels, the approval policy and the calendar.

The plan is read from YAML (`config/plan.yaml`) and validated here. Every problem found is reported at once,
each naming the file, the line, the field and the fix. See `config/README.md` for every field.

The package's modules, one responsibility each: `fields` (the field types and the stakeholder groups' words),
`people` (members, authors, the approval policy, sign-in), `fora` (channels, fora, tiers), `schedule` (the
calendar), `readability_policy`, `model` (the plan as a whole), `loading` (reading, `extends:`, validation),
`environment` (`${VAR}` values), `cross_checks` and `problems` (where a problem is, in which words). Their
public names are all here: callers import from `budbringer.plan`.
"""

from __future__ import annotations

from budbringer.errors import InputError, Problem
from budbringer.plan.environment import expand_environment
from budbringer.plan.fields import (GUID, MULTI_TENANT, STAKEHOLDER_LABELS, STAKEHOLDER_READERS, STAKEHOLDER_WORDS,
                                    Email, Medium, Name, PersonName, Phase, Stakeholder, Strict)
from budbringer.plan.fora import Channel, Forum, Newsletter, NewsletterIssue, Tier
from budbringer.plan.loading import MAX_EXTENDS, PLAN_SUFFIXES, lines_of_extends, load, plan_path
from budbringer.plan.model import Narrative, Plan, ReachPolicy
from budbringer.plan.people import ApprovalPolicy, Author, Member, SignIn
from budbringer.plan.readability_policy import (DEFAULT_COMPOUND_ZIPF, DEFAULT_MAX_LIX, DEFAULT_MIN_ZIPF,
                                                DEFAULT_SEVERITY, DEFAULT_TERMS, GlossaryTerm, Readability,
                                                ReadabilityPolicy, Rule, Sense, Severity)
from budbringer.plan.schedule import Calendar

__all__ = [
    "DEFAULT_COMPOUND_ZIPF", "DEFAULT_MAX_LIX", "DEFAULT_MIN_ZIPF", "DEFAULT_SEVERITY", "DEFAULT_TERMS", "GUID",
    "MAX_EXTENDS", "MULTI_TENANT", "PLAN_SUFFIXES", "STAKEHOLDER_LABELS", "STAKEHOLDER_READERS", "STAKEHOLDER_WORDS",
    "ApprovalPolicy", "Author", "Calendar", "Channel", "Email", "Forum", "GlossaryTerm", "InputError", "Medium",
    "Member", "Name", "Narrative", "Newsletter", "NewsletterIssue", "PersonName", "Phase", "Plan", "Problem", "ReachPolicy",
    "Readability", "ReadabilityPolicy", "Rule", "Sense", "Severity", "SignIn", "Stakeholder", "Strict", "Tier",
    "expand_environment", "lines_of_extends", "load", "plan_path",
]
