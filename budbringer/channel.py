"""The channel contract, owned by the domain: an envelope (a `Delivery`) in, a `Receipt` out.

Every channel implements `Adapter`; the adapters (`budbringer.adapters`) build on this module, never the other
way round. Which channel types exist is a `Registry` that the entry point hands in (the CLI and the flows pass
`budbringer.adapters.registry.REGISTRY`): the domain names no adapter.

Channel facts (which media it carries, how many requests it may have in flight) are class attributes.
Provider limits that hold across processes (per sending mailbox, per LinkedIn organisation) are declared
per delivery by `limits()`, as plain `SharedLimit`s; the Prefect executor (`flows/executor.py`) holds them around
each attempt as Prefect global concurrency limits (`flows/limits.py`), so adapters never import Prefect.
Each adapter declares its settings as a pydantic model that rejects unknown keys; secrets are `SecretStr`
so they never show in reprs, logs or exceptions. Bad settings fail when the plan is loaded. What a channel takes
from the environment (tokens, URLs, organisation ids) it declares as its `Environment` model, each field's alias
naming its variable; the entry point's settings (`budbringer.settings`) read the environment once and the
channel gets its values when it is built (`from_config`): no adapter reads the environment, least of all when it
delivers.

A channel is one place: besides its settings, the adapter declares the fields a forum on it gives to say where
its variant goes (`Addressing`: recipients, sites, a newsletter's editor and issues, …) and its Danish `label`
for the plan document. The plan (`budbringer.plan`), the plan document and the web pages read them from the
registry the plan was loaded with; nothing else lists channel types. See docs/adding-a-channel.md.
"""

from __future__ import annotations

import builtins
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from budbringer.channel_types import ENTRY_POINTS as ENTRY_POINTS
from budbringer.channel_types import ChannelSettings as ChannelSettings
from budbringer.channel_types import ForumAddressing as ForumAddressing
from budbringer.channel_types import Registry as Registry
from budbringer.channel_types import installed as installed
from budbringer.clock import Clock, default_clock

if TYPE_CHECKING:  # names in signatures only (the plan imports channel_types below it, never this module)
    from budbringer.checks import Finding
    from budbringer.delivery import Delivery, Receipt
    from budbringer.errors import Problem
    from budbringer.plan import Forum, Plan
    from budbringer.reach_reading import ReachReading, ReachSubject
    from budbringer.render import Variant


_LIMIT_NAME = re.compile(r"^budbringer-[a-z0-9][a-z0-9-]{0,100}$")


@dataclass(frozen=True)
class SharedLimit:
    """A provider limit shared by every run and worker, e.g. one Exchange sending mailbox.

    `name` is stable and secret-free (no address, no token: a hash or a public id). While a delivery runs
    it holds one of `concurrency` slots; with `per_minute`, it also takes `weight` places (the messages it
    sends, e.g. one per sendMail part) of which at most `per_minute` may start in any 60 seconds.
    """

    name: str
    concurrency: int
    per_minute: int | None = None
    weight: int = 1

    def __post_init__(self) -> None:
        if not _LIMIT_NAME.match(self.name):
            raise ValueError(f"limit name {self.name!r}: lower-case letters, digits and '-', after 'budbringer-'")
        if self.concurrency < 1 or self.weight < 1 or (self.per_minute is not None and self.per_minute < 1):
            raise ValueError(f"limit {self.name}: concurrency, per_minute and weight must be at least 1")

    @property
    def rate_name(self) -> str:
        return f"{self.name}-rate"

    def rate(self) -> tuple[int, float] | None:
        """`per_minute` as a token bucket (burst, refill per second) that never lets more than `per_minute`
        start in any 60 seconds, across every run: burst + 60 × refill <= per_minute.

        The burst is half a minute's worth: a send of up to that many messages from one mailbox (the plan's
        monthly send has 7) never waits for the bucket; a longer run goes on at the other half's pace. (A burst
        of ten seconds' worth held the 6th and 7th mail of a send 3 and 8 s for nothing Exchange asked for:
        docs/benchmarks.md.) Within one run the adapter's own sliding window (`MailboxLimiter`) is exact."""
        if self.per_minute is None:
            return None
        burst = max(1, self.per_minute // 2)
        return burst, max(self.per_minute - burst, 0.5) / 60


class ChannelEnvironment(BaseModel):
    """Base of what a channel reads from the environment: each field's `validation_alias` is the variable it is
    read from (a channel whose variables are named in its settings, as a webhook's `secret_env`, overrides
    `Adapter.variables`). Values are as set, never empty (an empty variable counts as unset); secrets are
    `SecretStr`. Unknown fields are an error; values never change after the channel is built."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Adapter(ABC):
    #: the `type:` name used in config/plan.yaml
    type: ClassVar[str]
    #: the channel in Danish, for the plan document and the web pages (e.g. "Microsoft 365-mail")
    label: ClassVar[str]
    #: the fields a forum on this channel gives (`fora.<name>.…`): checked when the plan is loaded
    Addressing: ClassVar[builtins.type[ForumAddressing]] = ForumAddressing
    #: the media (mail, page, post, submission, web) this channel can carry
    media: ClassVar[frozenset[str]]
    #: the adapter's settings model
    Settings: ClassVar[builtins.type[ChannelSettings]] = ChannelSettings
    #: what the adapter takes from the environment (tokens, URLs, ids), read once by the entry point's settings
    Environment: ClassVar[builtins.type[ChannelEnvironment]] = ChannelEnvironment
    #: what it delivers reaches people (a mailbox, a page, a post); False for the outbox's files and the tests'
    #: memory: then links in it that only this machine can open are no one's problem (`web_address`)
    delivers_to_people: ClassVar[bool] = True
    #: deliveries of one channel of the plan in flight at once: the engine hands the executor at most this many
    #: of a release together (`engine.waves`), the rest in later waves
    max_concurrency: ClassVar[int] = 4
    #: the provider can tell how far a delivery reached (`reach` reads figures); False: "not measured"
    measures_reach: ClassVar[bool] = False
    #: the runtime's clock (`cascade.channels` sets it): whatever depends on "now" asks it
    clock: Clock = staticmethod(default_clock)

    def __init__(self, name: str, settings: ChannelSettings, environment: ChannelEnvironment | None = None) -> None:
        self.name = name
        self.settings = settings
        self.environment = environment if environment is not None else self.Environment()

    @classmethod
    def from_config(cls, name: str, raw: Mapping[str, object], environ: Mapping[str, str] | None = None) -> Adapter:
        """The channel from its plan settings and the variables it declares (`variables`), taken from `environ`:
        the entry point's settings (`budbringer.settings.Settings.environ`), read once; none when not given."""
        settings = cls.Settings.model_validate(raw)
        if cls.Environment is ChannelEnvironment:  # reads nothing: its __init__ may take (name, settings) only
            return cls(name, settings)
        return cls(name, settings, cls.environment_of(settings, environ or {}))

    @classmethod
    def variables(cls, settings: ChannelSettings) -> dict[str, str]:
        """The environment variables this channel reads, by `Environment` field: the fields' aliases."""
        return {field: info.validation_alias for field, info in cls.Environment.model_fields.items()
                if isinstance(info.validation_alias, str)}

    @classmethod
    def environment_of(cls, settings: ChannelSettings, environ: Mapping[str, str]) -> ChannelEnvironment:
        """The channel's `Environment` from a snapshot of the environment (a variable set but empty is unset)."""
        picked = {field: environ[name] for field, name in cls.variables(settings).items()
                  if (environ.get(name) or "").strip()}
        return cls.Environment.model_validate(picked)

    @abstractmethod
    def deliver(self, delivery: Delivery) -> Receipt:
        """Deliver one variant. Raise a DeliveryError subclass that says whether the outcome is known."""

    def find(self, delivery: Delivery) -> Receipt | None:
        """Look a delivery up at the provider (after an attempt whose outcome is unknown).

        Return its receipt if it was delivered, None if it certainly was not, and raise
        NotImplementedError where the provider cannot be asked (the operator must settle it).
        """
        raise NotImplementedError

    def limits(self, delivery: Delivery) -> list[SharedLimit]:
        """The provider limits this delivery consumes, held across every run and worker (empty: none). A
        composite channel (a newsletter submission over the plan's mail channel) returns its transport's.

        Pure and offline: no request is made. The flow takes the slots before `deliver` (and `find`) run and
        releases them after, so one delivery counts once however many requests it makes in turn.
        """
        return []

    def reach(self, subject: ReachSubject) -> ReachReading:
        """What the provider can tell about how far one delivery reached (figures by metric), read now; optional.

        Raise `budbringer.reach.ReachRefused` (or a DeliveryError) with the reason when the provider refuses
        (permission, a deleted post, throttling): the collection records it and asks again at the next point.
        The default is "not measured" (docs/reach.md says what each channel can tell)."""
        from budbringer.reach_reading import ReachReading

        return ReachReading.not_measured(f"the {self.type} channel cannot tell")

    def reach_limits(self) -> list[SharedLimit]:
        """The provider limits a reading of reach holds, shared with this channel's deliveries (the same names);
        empty: none. Pure and offline, like `limits`."""
        return []

    def preflight(self) -> list[Problem]:
        """Check credentials and reachability without delivering anything. Empty when all is well."""
        return []

    @classmethod
    def review(cls, variant: Variant, forum: Forum) -> list[Finding]:
        """What this channel finds wrong with one variant before approval, beyond the plan's own checks.

        Offline and without settings or credentials, so `check` and `preview` need nothing configured: e.g.
        LinkedIn measures a post after its own escaping (an error stops the approval). Warnings may use the
        date (a newsletter deadline that has passed, a token that expires soon).
        """
        return []

    @classmethod
    def review_with(cls, environment: ChannelEnvironment, variant: Variant, forum: Forum) -> list[Finding]:
        """What this channel finds in one variant given what the environment says (e.g. a token that expires
        soon); `review` without it. Offline: `check` and `preview` build no channel for it."""
        return []

    def bind(self, plan: Plan, channels: Mapping[str, Adapter]) -> None:
        """Called with the plan and its other channels once they are all built; optional.

        For channels that need plan facts (a newsletter's issues) or deliver through another channel (a
        newsletter submission goes out over the plan's mail channel).
        """

    def close(self) -> None:
        """Release connections; optional. Called once at the end of a run (`Runtime.close`, which every entry
        point calls), and after a check that built its own channels (`cascade.preflight`)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, settings={self.settings!r})"
