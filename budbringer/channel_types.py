"""The channel types a plan may use: a `Registry` of adapter classes by their `type:` name, and the base of a
channel's addressing (`ForumAddressing`), the fields a forum on the channel gives in the plan.

Below the plan: the plan checks its channels and fora against the registry it was loaded with, and asks of a
channel type only its class facts (`ChannelType`). The adapter contract (`budbringer.channel.Adapter`, whose
methods take plans, variants and deliveries) sits above the plan and builds on this module, so the plan never
imports it, not even for its types.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict


class ChannelSettings(BaseModel):
    """Base of every adapter's settings: unknown keys are an error, values never change after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ForumAddressing(BaseModel):
    """Base of a channel's addressing: the fields a forum on this channel gives in the plan, beside the fields
    every forum has (`fora.<name>.recipients`, `…sites`, …). Unknown keys are an error when the plan is loaded;
    each field's `description` documents it. A channel that needs no forum fields (its target is in its
    settings, as a LinkedIn organisation is) keeps this empty base.

    The methods below are what the domain asks of any addressing; a subclass overrides those it has an answer
    for and calls `super()` so that addressings combine (the outbox takes every field).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def mail_to(self) -> tuple[str, ...]:
        """The mail addresses a variant goes to (`Variant.recipients`); empty if the channel sends no mail."""
        return ()

    def page_sites(self) -> tuple[str, ...]:
        """The sites a page goes on (`Variant.sites`); empty if the channel makes no pages."""
        return ()

    def reach(self) -> list[str]:
        """Who or where the forum is reached, as the plan document shows it."""
        return list(self.mail_to() or self.page_sites())

    def missing(self, medium: str) -> list[tuple[str, str, str]]:
        """What an enabled forum of this medium lacks: (field, what, fix) each; checked when the plan is
        loaded (a disabled forum may leave its addressing out)."""
        return []


class ChannelType(Protocol):
    """What the plan asks of a channel type (an `Adapter` class): its class facts."""

    @property
    def type(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def Addressing(self) -> builtins.type[ForumAddressing]: ...  # noqa: N802 (the adapters' class attribute)
    @property
    def media(self) -> frozenset[str]: ...
    @property
    def Settings(self) -> builtins.type[ChannelSettings]: ...  # noqa: N802 (the adapters' class attribute)


#: the class a registry holds: `Adapter` subclasses in every registry the entry points build
C = TypeVar("C", bound=ChannelType)


class Registry(Generic[C]):
    """The channel types a plan may use: the `type:` name in a plan → the adapter class. A name taken twice is
    an error when the registry is built."""

    def __init__(self, classes: Iterable[C]) -> None:
        self._by_type: dict[str, C] = {}
        for cls in classes:
            if cls.type in self._by_type:
                raise RuntimeError(f"adapter type {cls.type!r} is registered twice: "
                                   f"{_name(self._by_type[cls.type])} and {_name(cls)}")
            self._by_type[cls.type] = cls

    def get(self, type_name: str) -> C | None:
        return self._by_type.get(type_name)

    def label(self, type_name: str) -> str:
        """The channel type's Danish label (the type name itself if it is not registered)."""
        cls = self._by_type.get(type_name)
        return cls.label if cls is not None else type_name

    def names(self) -> list[str]:
        return sorted(self._by_type)

    def __repr__(self) -> str:
        return f"Registry({', '.join(self.names())})"


def _name(cls: object) -> str:
    return getattr(cls, "__name__", repr(cls))  # a class; the protocol does not promise a __name__


#: the entry-point group an installed package declares its channel types in (pyproject.toml)
ENTRY_POINTS = "budbringer.channels"


@lru_cache(maxsize=1)
def installed() -> Registry[Any]:
    """The channel types the installed packages declare (entry points `budbringer.channels`), for a caller that
    loads a plan without handing in a registry (a library user, a test). The CLI and the flows hand theirs in."""
    from importlib.metadata import entry_points

    classes: list[Any] = []
    for point in sorted(entry_points(group=ENTRY_POINTS), key=lambda p: p.name):
        loaded = point.load()  # an adapter class, or a sequence of them
        classes += [loaded] if isinstance(loaded, type) else list(loaded)
    return Registry(classes)
