"""The plan as a whole: its narrative and every section, as load() returns it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, StringConstraints, field_validator

from budbringer.channel_types import Registry, installed
from budbringer.plan.fields import Name, Strict
from budbringer.plan.fora import Channel, Forum, Tier
from budbringer.plan.people import ApprovalPolicy, Author
from budbringer.plan.readability_policy import ReadabilityPolicy
from budbringer.plan.schedule import Calendar


class Narrative(Strict):
    """The overall story every message carries (the plan's "overordnede budskaber")."""

    organisation: str
    project: str
    vision: str
    aim: str
    contact: str


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
