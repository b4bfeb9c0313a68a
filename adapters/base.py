"""The small protocol every channel implements: deliver one rendered variant, return a receipt.

Channel facts (which media it carries, how many requests it may have in flight) are class attributes.
Each adapter declares its settings as a pydantic model that rejects unknown keys; secrets are `SecretStr`
so they never show in reprs, logs or exceptions. Bad settings fail when the plan is loaded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict

from budbringer.checks import Finding
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import Problem
from budbringer.render import Variant

if TYPE_CHECKING:
    from budbringer.plan import Forum, Plan


class ChannelSettings(BaseModel):
    """Base of every adapter's settings: unknown keys are an error, values never change after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Adapter(ABC):
    #: the `type:` name used in config/plan.yaml
    type: ClassVar[str]
    #: the media (mail, page, post, submission, web) this channel can carry
    media: ClassVar[frozenset[str]]
    #: the adapter's settings model
    Settings: ClassVar[type[ChannelSettings]] = ChannelSettings
    #: requests this channel may have in flight at once (per channel instance)
    max_concurrency: ClassVar[int] = 4

    def __init__(self, name: str, settings: ChannelSettings) -> None:
        self.name = name
        self.settings = settings

    @classmethod
    def from_config(cls, name: str, raw: dict) -> Adapter:
        return cls(name, cls.Settings.model_validate(raw))

    @abstractmethod
    def deliver(self, delivery: Delivery) -> Receipt:
        """Deliver one variant. Raise a DeliveryError subclass that says whether the outcome is known."""

    def find(self, delivery: Delivery) -> Receipt | None:
        """Look a delivery up at the provider (after an attempt whose outcome is unknown).

        Return its receipt if it was delivered, None if it certainly was not, and raise
        NotImplementedError where the provider cannot be asked (the operator must settle it).
        """
        raise NotImplementedError

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

    def bind(self, plan: Plan, channels: Mapping[str, Adapter]) -> None:
        """Called with the plan and its other channels once they are all built; optional.

        For channels that need plan facts (a newsletter's issues) or deliver through another channel (a
        newsletter submission goes out over the plan's mail channel).
        """

    def close(self) -> None:
        """Release connections; optional."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, settings={self.settings!r})"
