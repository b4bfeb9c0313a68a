"""One runtime per entry point: the settings read once, the clock, the plan, the ledger and the channels.

The entry point (the `budbringer` command, a flow run) builds it once with the channel registry it hands in
(`budbringer.adapters.registry.REGISTRY`) and passes it down (to the flows it calls in-process through
`budbringer.flows.send.using`): the steps below it read no environment, build no ledger and no channel of
their own, and ask the runtime's clock for the time. A test builds its own, with a
fixed clock if it needs one.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from budbringer import plan as plan_
from budbringer.channel import Adapter, Registry
from budbringer.clock import Clock, default_clock
from budbringer.ledger import Ledger, database_url
from budbringer.plan import Plan

__all__ = ["Clock", "Runtime", "Settings", "default_clock"]


@dataclass(frozen=True)
class Settings:
    """What the environment says, read once: the plan, the ledger's database and the home folder."""

    plan: Path
    database_url: str
    home: Path

    @classmethod
    def read(cls, plan: str | os.PathLike[str] | None = None) -> Settings:
        """--plan, else $BUDBRINGER_PLAN, else config/plan.yaml here, else the packaged one; the ledger at
        $BUDBRINGER_DATABASE_URL, else SQLite under $BUDBRINGER_HOME (default .budbringer)."""
        return cls(plan_.plan_path(plan).resolve(), database_url(),
                   Path(os.environ.get("BUDBRINGER_HOME", ".budbringer")).resolve())


class Runtime:
    """The settings, the clock, the plan (checked against the registry), the ledger and the channels: one
    adapter object per channel for the whole run, so that tokens and rate limits are shared by it (the
    channels share them with each other in `Adapter.bind`). Two runtimes share no channel object."""

    def __init__(self, settings: Settings, registry: Registry[type[Adapter]], clock: Clock = default_clock,
                 plan: Plan | None = None, channels: Mapping[str, Adapter] | None = None) -> None:
        """`plan`: the plan already loaded from `settings.plan` (else it is loaded here); `channels`: channel
        objects built by the caller (a test's own), else the plan's, built on first use."""
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.plan = plan if plan is not None else plan_.load(settings.plan, registry)
        self.ledger = Ledger(settings.database_url)
        self._channels: Mapping[str, Adapter] | None = channels

    @property
    def channels(self) -> Mapping[str, Adapter]:
        """The plan's channels, built on first use and then kept (building one reads its settings)."""
        if self._channels is None:
            from budbringer.cascade import channels

            self._channels = channels(self.plan, self.clock)
        return self._channels

    def close(self) -> None:
        """Release the channels' connections (`Adapter.close`)."""
        for adapter in (self._channels or {}).values():
            adapter.close()
        self._channels = None

    def __repr__(self) -> str:
        return f"Runtime(plan={str(self.settings.plan)!r}, ledger={self.ledger!r})"


def build(plan: str | os.PathLike[str] | None, registry: Registry[type[Adapter]],
          clock: Clock = default_clock) -> Runtime:
    """The runtime of one entry point: read the settings, load and check the plan, open the ledger."""
    return Runtime(Settings.read(plan), registry, clock)
