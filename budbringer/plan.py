"""The communication plan as data: fora, tiers, channels, the approval policy and the calendar.

The plan is read from YAML (`config/plan.yaml`) and validated here. Every problem found is reported at once,
each naming the file, the line, the field and the fix. See `config/README.md` for every field.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, StringConstraints, ValidationError, field_validator,
                      model_validator)
from pydantic_core import PydanticCustomError

from budbringer import errors, yamlfile
from budbringer.channel_types import ForumAddressing, Registry, installed
from budbringer.errors import InputError, Problem

Stakeholder = Literal["citizens", "employees", "management", "others"]
Medium = Literal["mail", "page", "post", "submission", "web"]
Phase = Literal["cascade", "publish"]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
#: an Entra ID object or tenant id: a GUID (compared in lower case)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: authorities that let any tenant (or any personal Microsoft account) sign in: never the approvers' pages'
MULTI_TENANT = ("common", "organizations", "consumers")

# The packaged plan and templates (the repository's config/ and templates/, shipped in the wheel as
# budbringer.config and budbringer.templates): an installed budbringer works without a checkout.
# DEFAULT_PLAN, the packaged plan (the repository's config/, shipped in the wheel as budbringer.config), is
# named in budbringer.settings: an installed budbringer works without a checkout.

#: every stakeholder group's Danish words, in one table: (label, the readers' genitive). The label names the group
#: wherever it is shown (the plan document, the readability figures, the checks, the message skeleton, the
#: templates' `stakeholder_labels`); the genitive says whose words a message's text for the group is.
STAKEHOLDER_WORDS: dict[str, tuple[str, str]] = {
    "citizens": ("borgere", "borgernes"),
    "employees": ("medarbejdere", "medarbejdernes"),
    "management": ("ledelse", "ledernes"),
    "others": ("øvrige", "de øvriges"),
}
STAKEHOLDER_LABELS = {group: label for group, (label, _) in STAKEHOLDER_WORDS.items()}
STAKEHOLDER_READERS = {group: readers for group, (_, readers) in STAKEHOLDER_WORDS.items()}
assert set(STAKEHOLDER_WORDS) == set(get_args(Stakeholder)), "one entry per stakeholder group"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Narrative(Strict):
    """The overall story every message carries (the plan's "overordnede budskaber")."""

    organisation: str
    project: str
    vision: str
    aim: str
    contact: str


#: a person's name as approvers and the ledger spell it: not empty, and no comma or semicolon (which separate
#: names in `--approved-by "Jens Kragh, Sofie Dahl"`)
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                              pattern=r"^[^,;\r\n]+$")]


class Member(Strict):
    name: PersonName
    email: Email
    role: str = "medlem"
    object_id: str | None = Field(default=None, description="The member's object id in the tenant (Entra ID: "
                                  "Users → the user → Object ID): what Entra ID sign-in matches, with the tenant.")

    @field_validator("object_id")
    @classmethod
    def _object_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not GUID.fullmatch(value.strip().lower()):
            raise _custom(f"{yamlfile.quote(value)} is not an object id",
                          "copy the user's Object ID (a GUID) from Entra ID: Users → the user → Overview")
        return value.strip().lower()


class Author(Member):
    """Someone who writes the messages on the author's page (budbringer/web/author.py): opens it from a personal
    link (`budbringer link --author NAME`) or, where the plan requires sign-in, with Entra ID (`object_id`)."""

    role: str = "forfatter"


class SignIn(Strict):
    """Microsoft Entra ID sign-in on the approval pages (OIDC authorization-code flow through msal). The client
    secret is never in the plan: it comes from $BUDBRINGER_ENTRA_CLIENT_SECRET."""

    provider: Literal["entra"] = "entra"
    tenant: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="The region's tenant id (a GUID): ID tokens must name it in `tid` and `iss`.")
    client_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="Application (client) id of the app registration for the approval pages.")
    authority_url: Annotated[str, StringConstraints(strip_whitespace=True)] = Field(
        default="https://login.microsoftonline.com",
        description="The sign-in host (https); the authority is {authority_url}/{tenant}.")
    required: bool = Field(default=True, description="true: a decision needs sign-in (the link alone is not "
                                                     "enough); false: sign-in is offered beside the link.")

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        where = ("give the region's tenant id (a GUID): Entra admin center → Identity → Overview → Tenant ID")
        if value.lower() in MULTI_TENANT:
            raise _custom(f"{yamlfile.quote(value)} lets users of any tenant sign in", where)
        if not GUID.fullmatch(value.lower()):
            raise _custom(f"{yamlfile.quote(value)} is not a tenant id", where)
        return value.lower()

    @field_validator("authority_url")
    @classmethod
    def _authority_url(cls, value: str) -> str:
        if not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
            raise _custom(f"{yamlfile.quote(value)} is not an https address",
                          "write the sign-in host as https://…, e.g. https://login.microsoftonline.com")
        return value

    @property
    def authority(self) -> str:
        return f"{self.authority_url.rstrip('/')}/{self.tenant}"


class ApprovalPolicy(Strict):
    """Who approves: the steering group's members, and the chair, who may approve alone."""

    title: str = "Styregruppen"
    template: str = Field(default="approval_request.html.j2", description="Template of the approval request.")
    channel: Name | None = Field(default=None, description="Channel that carries approval requests (mail).")
    members: list[Member] = Field(min_length=1)
    chair: PersonName = Field(description="Name of the member who chairs the group.")
    chair_may_approve_alone: bool = True
    members_required: int = Field(default=2, ge=1, description="Members needed when the chair does not approve.")
    web_url: str | None = Field(default=None, description="Base URL of the approval page (`budbringer web`); "
                                                          "$BUDBRINGER_WEB_URL overrides it.")
    sign_in: SignIn | None = Field(default=None, description="Entra ID sign-in on the approval pages.")
    web_secret_block: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] | None = Field(
        default=None, description="Name of a Prefect Secret block holding the secret that signs the approval "
                                  "links; $BUDBRINGER_WEB_SECRET wins over it.")
    late_decisions: Literal["accept", "refuse"] = Field(
        default="accept", description="A decision given after the approval deadline: accept (recorded and marked "
                                      "late in the run's report and `status`; the links work until the meeting) "
                                      "or refuse (the links expire at the deadline; the page, `budbringer "
                                      "approve` and the Prefect form all refuse it).")

    def member(self, name: str) -> Member | None:
        wanted = name.strip().casefold()
        return next((m for m in self.members if m.name.casefold() == wanted or m.email.casefold() == wanted), None)


class Channel(BaseModel):
    """A named way of delivering: an adapter type and its settings (checked by the adapter's own model)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class NewsletterIssue(Strict):
    date: dt.date
    deadline: dt.date


class Newsletter(Strict):
    """A newsletter edited by people: items go to the editor before the deadline of an issue."""

    editor: Email
    word_limit: int = Field(gt=0)
    issues: list[NewsletterIssue] = []


class Forum(Strict):
    """A group that must be informed, how it is reached, and what it reads.

    Beside the fields below, a forum gives the addressing fields its channel declares (`recipients`, `sites`,
    `newsletter`, … : `Adapter.Addressing`); they are checked against the channel's declaration from the registry
    the plan is loaded with, and read through `address`."""

    title: str
    description: str = ""
    stakeholder: Stakeholder
    medium: Medium
    channel: Name
    template: str
    enabled: bool = True
    informs: list[str] = Field(default=[], description="Who this forum passes the message on to (e.g. LMU).")
    meetings: list[dt.date] = Field(default=[], description="Meeting dates (OC's monthly meetings).")
    max_chars: int | None = Field(default=None, gt=0)
    max_words: int | None = Field(default=None, gt=0)
    disabled_reason: str = ""
    group_text: bool = Field(
        default=False, description="The message's text for this forum's stakeholder group (`groups.<group>`) "
                                   "is written for this forum's readers (the employees' text for the staff "
                                   "intranet). Any other forum needs its own text, or `shares_text_with`.")
    shares_text_with: Name | None = Field(
        default=None, description="This forum deliberately reads the text written for another forum (the "
                                  "local intranet pages read the main page's text).")

    #: the keys beside the fields above, as written: the channel's addressing, checked by load()
    addressing_fields: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    #: the addressing fields, checked by the channel's model (set by load())
    _address: ForumAddressing | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _addressing(cls, data: Any) -> Any:
        """Keep the keys that are not a forum's own fields apart, for the channel's model to check."""
        if not isinstance(data, dict):
            return data
        own = set(cls.model_fields) - {"addressing_fields"}
        return {**{k: v for k, v in data.items() if k in own},
                "addressing_fields": {k: v for k, v in data.items() if k not in own}}

    @property
    def address(self) -> ForumAddressing:
        """Where this forum's variant goes, as its channel declares it (`Adapter.Addressing`)."""
        return self._address if self._address is not None else ForumAddressing()

    @property
    def newsletter(self) -> Newsletter | None:
        """The newsletter this forum submits to (its editor, word limit and issues), if its channel takes one."""
        value = getattr(self.address, "newsletter", None)
        return value if isinstance(value, Newsletter) else None


class Tier(Strict):
    """One step of the cascade: the fora informed together."""

    name: Name
    title: str
    phase: Phase = "cascade"
    fora: list[Name] = Field(min_length=1)
    not_before: Literal["meeting"] | dt.date | None = Field(
        default=None, description="Calendar gate: `meeting` (not before the OC meeting the message is for) or a "
                                  "date; the tier starts on that day at the earliest.")

    @field_validator("not_before", mode="before")
    @classmethod
    def _not_before(cls, value: Any) -> Any:
        if value is None or value == "meeting":
            return value
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise _custom(f"{yamlfile.quote(value)} is neither `meeting` nor a date",
                      "write `not_before: meeting` (not before the OC meeting the message is for) or a date "
                      "as YYYY-MM-DD, or leave it out")


class Calendar(Strict):
    """When the monthly OC briefing is due, when approval is asked for, reminded of and escalated.

    Working days are Danish working days (budbringer.deadlines). See config/README.md.
    """

    timezone: str = Field(default="Europe/Copenhagen", description="IANA time zone of every date and time.")
    meetings_forum: Name = Field(default="oc", description="The forum whose `meetings:` drive the briefing.")
    briefing_working_days_before: int = Field(
        default=5, ge=0, description="The briefing reaches the forum this many working days before its "
                                     "meeting: the approval deadline.")
    request_working_days_before_deadline: int = Field(
        default=5, ge=1, description="The monthly run asks for approval this many working days before the "
                                     "deadline.")
    reminders_working_days_before_deadline: list[Annotated[int, Field(ge=1)]] = Field(
        default=[2, 1], description="Reminders to the approvers who have not decided, in working days before "
                                    "the deadline.")
    reminder_time: dt.time = Field(default=dt.time(9, 0), description="Local time at which the request, the "
                                                                       "reminders and the escalation fall due.")
    escalate_to_chair: bool = Field(default=True, description="At the deadline the request goes to the chair.")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _custom(f"{yamlfile.quote(value)} is not a known time zone",
                          "use an IANA name such as Europe/Copenhagen") from None
        return value

    @field_validator("reminder_time", mode="before")
    @classmethod
    def _reminder_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 10:30 as the base-60 number 630.
            raise _custom(f"{yamlfile.quote(value)} is not a time of day",
                          "write the time in quotes as \"HH:MM\", e.g. reminder_time: \"10:30\"")
        if isinstance(value, dt.time) and value.tzinfo is not None:
            raise _custom("has a UTC offset", "write a local time without offset; `timezone:` says where")
        return value


def _custom(what: str, fix: str) -> PydanticCustomError:
    """A validation error that load() reports with its own wording and fix."""
    return PydanticCustomError("budbringer", "{what}", {"what": what, "fix": fix})


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


class ReachPolicy(Strict):
    """When each delivered forum's reach is read (docs/reach.md): days after its delivery."""

    points: list[Annotated[int, Field(ge=1, le=365)]] = Field(
        default_factory=lambda: [1, 7, 30], min_length=1,
        description="Days after delivery at which each forum's reach is read, e.g. [1, 7, 30].")

    @field_validator("points")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if sorted(set(value)) != value:
            raise ValueError("give the days in ascending order, each once, e.g. [1, 7, 30]")
        return value


class Plan(Strict):
    name: str
    narrative: Narrative
    approval: ApprovalPolicy
    templates: str = Field(default="../templates", description="Template folder, relative to the plan file.")
    channels: dict[Name, Channel]
    fora: dict[Name, Forum]
    tiers: list[Tier] = Field(min_length=1)
    readability: ReadabilityPolicy = ReadabilityPolicy()
    calendar: Calendar = Calendar()
    reach: ReachPolicy = ReachPolicy()
    authors: list[Author] = Field(default_factory=list, description="Who writes the messages on the author's "
                                  "page: name, email and (for Entra ID sign-in) object_id, as for members.")
    environment: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=list, description="The environment variables this plan file may use as ${NAME}: no other "
                                          "is read (config/README.md, \"Values from the environment\").")

    # Set by load(), not read from YAML.
    path: Path = Field(default=Path("plan.yaml"), exclude=True)
    #: the channel types the plan was checked against (handed to load() by the entry point): adapter classes,
    #: which sit above the plan; the plan reads only their class facts (channel_types.ChannelType)
    _registry: Registry[Any] | None = PrivateAttr(default=None)

    @property
    def registry(self) -> Registry[Any]:
        return self._registry if self._registry is not None else installed()

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Path:
        return Path(value)

    @property
    def templates_dir(self) -> Path:
        return (self.path.parent / self.templates).resolve()

    def author(self, name: str) -> Author | None:
        """The author named (or with this e-mail address), case-insensitively."""
        wanted = name.strip().casefold()
        return next((a for a in self.authors if a.name.casefold() == wanted or a.email.casefold() == wanted), None)

    def tier_of(self, forum: str) -> Tier:
        return next(t for t in self.tiers if forum in t.fora)

    def active_fora(self, tier: Tier) -> list[str]:
        return [name for name in tier.fora if self.fora[name].enabled]


def plan_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The plan to use: --plan, else $BUDBRINGER_PLAN, else config/plan.yaml here, else the packaged one."""
    if explicit:
        return Path(explicit)
    from budbringer import settings

    return settings.current().plan_file


#: a plan is a YAML file with one of these suffixes (so a path given by mistake, such as /etc/shadow, is
#: refused before it is opened)
PLAN_SUFFIXES = (".yaml", ".yml")
#: how many plans deep `extends:` may go
MAX_EXTENDS = 8


def load(path: str | os.PathLike[str] | None = None, registry: Registry[Any] | None = None,
         environ: Mapping[str, str] | None = None) -> Plan:
    """Read and validate a plan against the channel types of `registry` (the entry point's; else the installed
    ones); raise InputError naming every problem found. `environ`: the entry point's settings' snapshot for the
    plan's `${VAR}` references (`Settings.environ`), else the settings read now."""
    file = plan_path(path)
    data, lines, problems = _read_with_extends(file, environ=environ)
    if not isinstance(data, dict) or not (set(data) & _PLAN_FIELDS):
        # Said without quoting a line or a key: the file may be anything a path pointed at by mistake.
        raise InputError([Problem(str(file), "(top level)", "is not a plan (not a mapping of plan fields)",
                                  "give a plan file: start from config/plan.yaml and keep its structure")])
    try:
        plan = Plan.model_validate({**data, "path": file})
    except ValidationError as exc:
        problems += [_problem(str(file), lines, error) for error in exc.errors()]
        problems += _addressing_of_raw(data, registry or installed(), str(file), lines)
        raise InputError(problems) from None
    plan._registry = registry or installed()
    problems += _cross_check(plan, str(file), lines)
    if problems:
        raise InputError(problems)
    return plan


def _read_with_extends(file: Path, chain: tuple[Path, ...] = (),
                       environ: Mapping[str, str] | None = None) -> tuple[Any, dict[Any, Any], list[Problem]]:
    """A plan may say `extends: base.yaml` and override parts of it (e.g. swap the channels)."""
    if file.suffix.lower() not in PLAN_SUFFIXES:
        raise InputError([Problem(str(file), "(file)", f"is not a plan file (a plan ends in "
                                  f"{' or '.join(PLAN_SUFFIXES)})", "give the path of a plan file, e.g. "
                                  "config/plan.yaml")])
    data, lines, problems = yamlfile.load(file)
    if chain and not (isinstance(data, dict) and set(data) & _PLAN_FIELDS):
        raise InputError([Problem(str(chain[-1]), "extends", f"names {file}, which is not a plan",
                                  "extend a plan file (e.g. config/plan.yaml)", lines_of_extends(chain[-1]))])
    unexpanded = expand_environment(data, str(file), lines, environ)  # in place, before `extends`: problems name this file
    if unexpanded:  # checking the values left as `${VAR}` would only repeat these problems in other words
        raise InputError(problems + unexpanded)
    if isinstance(data, dict) and isinstance(data.get("templates"), str):
        # A template folder is relative to the file that names it, so an overlay elsewhere still finds it.
        data["templates"] = str((file.parent / data["templates"]).resolve())
    if isinstance(data, dict) and "extends" in data:
        extends = data.pop("extends")
        if not isinstance(extends, str) or not extends.strip():
            raise InputError([Problem(str(file), "extends", "is not a file name",
                                      "write `extends: base.yaml` (a path relative to this file)",
                                      lines.get(("extends",)))])
        base_file = (file.parent / extends).resolve()
        here = (*chain, file.resolve())
        if base_file in here:
            cycle = " → ".join(p.name for p in (*here[here.index(base_file):], base_file))
            raise InputError([Problem(str(file), "extends", f"forms a cycle ({cycle})",
                                      "a plan may not extend itself, directly or through another plan",
                                      lines.get(("extends",)))])
        if len(here) > MAX_EXTENDS:
            raise InputError([Problem(str(file), "extends", f"goes more than {MAX_EXTENDS} plans deep",
                                      "extend the base plan directly", lines.get(("extends",)))])
        base, base_lines, base_problems = _read_with_extends(base_file, here, environ)
        data = _merge(base, data)
        # Remember which file gives each field the overlay does not, so problems name the right file.
        origin = base_lines.pop(_ORIGIN, {})
        origin = {at: origin.get(at, str(base_file)) for at in base_lines if at not in lines}
        lines = {**base_lines, **lines, _ORIGIN: origin}  # type: ignore[dict-item]  # origin under its marker
        problems = base_problems + problems
    return data, lines, problems


_ORIGIN = ("\0origin",)  # key in `lines` of {field path: file} for fields given by a base plan
_PLAN_FIELDS = {"name", "narrative", "approval", "templates", "channels", "fora", "tiers", "readability", "calendar",
                "environment", "extends"}


def lines_of_extends(file: Path) -> int | None:
    """The line of `extends:` in a plan already read (for an error about the plan it names)."""
    try:
        return next((n for n, row in enumerate(file.read_text(encoding="utf-8").splitlines(), 1)
                     if row.startswith("extends:")), None)
    except (OSError, UnicodeDecodeError):
        return None


def _where(file: str, lines: dict[Any, Any], at: tuple[Any, ...]) -> tuple[str, int | None]:
    """The file and line of the deepest part of `at` a plan file gives (under `extends`, maybe the base)."""
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines.get(_ORIGIN, {}).get(at[:end], file), lines[at[:end]]
    return file, None


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def _problem(file: str, lines: dict[Any, Any], error: Any) -> Problem:
    at = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    field = yamlfile.dotted(at)
    kind = error["type"]
    if kind == "budbringer":
        what, fix = error["ctx"]["what"], error["ctx"]["fix"]
    elif kind == "extra_forbidden":
        what, fix = "is not a known field", "remove it or correct its spelling (see config/README.md)"
    elif kind == "missing":
        what, fix = "is required", f"add `{at[-1]}:` here (see config/README.md)"
    elif kind == "string_pattern_mismatch" and "@" in str(error.get("ctx", {}).get("pattern", "")):
        what, fix = f"is not an e-mail address ({yamlfile.quote(error.get('input'))})", "write it as name@domain"
    elif kind == "string_pattern_mismatch" and "," in str(error.get("ctx", {}).get("pattern", "")):
        what, fix = "is not a person's name", "write the name without commas, semicolons or line breaks"
    elif kind == "string_pattern_mismatch":
        what, fix = f"{yamlfile.quote(error.get('input'))} is not a valid name", "use lower-case letters, digits and _"
    elif kind == "string_too_short" and at[-1:] in (("name",), ("chair",)):
        what, fix = "is empty", "write the person's name"
    elif kind == "literal_error":
        what = f"{yamlfile.quote(error.get('input'))} is not allowed"
        fix = f"use one of {error['ctx']['expected']}"
    else:
        what, fix = error["msg"].lower(), "correct the value (see config/README.md)"
    file, line = _where(file, lines, at)
    return Problem(file, field, what, fix, line)


def _cross_check(plan: Plan, file: str, lines: dict[Any, Any]) -> list[Problem]:
    registry = plan.registry
    problems: list[Problem] = []

    def add(at: tuple[Any, ...], what: str, fix: str) -> None:
        where, line = _where(file, lines, at)
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
            problems += [_problem(file, lines, {**e, "loc": ("channels", name, *e["loc"])}) for e in exc.errors()]

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
            problem = _problem(file, lines, {**error, "loc": ("fora", name, *error["loc"])})
            if error["type"] == "extra_forbidden":
                problem = Problem(problem.file, problem.field, f"is not a known field of a forum on channel "
                                  f"{channel!r} ({channel_type})", f"remove it or correct its spelling; a "
                                  f"{channel_type} forum takes {takes} beside the fields every forum has (see "
                                  "config/README.md)", problem.line)
            problems.append(problem)
        return None, problems


def _addressing_of_raw(data: dict[Any, Any], registry: Registry[Any], file: str,
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


# -- values from the environment -----------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$(\$)(?=\{)|\$\{([^}]*)\}")
_VARIABLE_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
#: names that hold secrets: those go in a channel's `*_env` field (read when sending, never stored in the plan)
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY", re.IGNORECASE)


def expand_environment(data: Any, file: str, lines: dict[Any, Any],
                       environ: Mapping[str, str] | None = None) -> list[Problem]:
    """Expand `${VAR}` and `${VAR:-default}` in every string value of one plan file (not in keys), in place.

    Only the variables that the file's own top-level `environment:` list names are read, so a plan cannot pull
    in whatever the process's environment holds. The default is used when the variable is unset or empty, as in
    a shell; `$${` is a literal `${`. A problem names the file, the field and the variable (never its value)
    when a reference is malformed, a variable is not in the list, is unset without a default, is named like a
    secret (that belongs in a channel's `*_env` field, read when sending and never kept in the plan), or holds a
    value that looks like a secret whatever its name (`errors.secret_reason`: credentials in a URL, `sig=`,
    `token=`, a JWT, a long random string). See config/README.md, "Values from the environment"."""
    if environ is None:
        from budbringer import settings

        environ = settings.current().environ
    env = environ
    listed = data.get("environment") if isinstance(data, dict) else None
    allowed = {name for name in listed if isinstance(name, str)} if isinstance(listed, list) else set()
    problems: list[Problem] = []

    def expand(text: str, at: tuple[Any, ...]) -> str:
        def one(match: re.Match[str]) -> str:
            if match.group(1):
                return "$"
            inner = match.group(2)
            parsed = _VARIABLE_NAME.match(inner)
            where, line, field = file, lines.get(at), yamlfile.dotted(at)
            if parsed is None:
                problems.append(Problem(where, field, f"${{{inner}}} is not a variable reference",
                                        "write ${NAME} or ${NAME:-default} (letters, digits and _), or $${ for a "
                                        "literal ${", line))
                return match.group(0)
            name, default = parsed.group(1), parsed.group(2)
            if _SECRET_NAME.search(name):
                problems.append(Problem(where, field, f"${{{name}}} looks like a secret, and secrets "
                                        "never go in a plan", "name the variable in the channel's `*_env` field "
                                        f"instead (e.g. `password_env: {name}`): it is read when sending", line))
                return match.group(0)
            if name not in allowed:
                problems.append(Problem(where, field, f"uses ${{{name}}}, which this file's `environment:` list "
                                        "does not name", f"add {name} to the top-level `environment:` list of "
                                        "this plan file (a plan reads only the variables it lists), or write the "
                                        "value itself", line))
                return match.group(0)
            value = env.get(name, "")
            if value:
                reason = errors.secret_reason(value)
                if reason:
                    problems.append(Problem(where, field, f"${{{name}}} holds what looks like a secret ({reason}), "
                                            "and secrets never go in a plan: it could reach a mail, a page or a log",
                                            f"set {name} to a value without credentials, or leave it out of the "
                                            "plan: a secret goes in the channel's `*_env` field (e.g. `url_env`, "
                                            "`password_env`), which is read when sending", line))
                    return match.group(0)
                return value
            if default is not None:
                return default
            problems.append(Problem(where, field, f"uses ${{{name}}}, which is not set",
                                    f"set {name} in the environment, or give a default: ${{{name}:-value}}", line))
            return match.group(0)

        return _VARIABLE.sub(one, text)

    def walk(node: Any, at: tuple[Any, ...]) -> Any:
        if isinstance(node, dict):
            for key, value in node.items():
                node[key] = walk(value, (*at, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                node[index] = walk(value, (*at, index))
        elif isinstance(node, str) and "$" in node:
            return expand(node, at)
        return node

    walk(data, ())
    return problems
