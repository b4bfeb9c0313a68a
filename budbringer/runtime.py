"""One runtime per entry point: the settings read once, the clock, the plan, the ledger and the channels.

The entry point (the `budbringer` command, a flow run, the web app) builds it once from its settings
(`budbringer.settings`, the environment read once) and the channel registry it hands in
(`budbringer.adapters.registry.REGISTRY`), and passes it down (to the flows it calls in-process through
`budbringer.flows.send.using`; to the web app's routes as `app.state.runtime`; to `status`, `mark`, `resolve`
and `approve` through `budbringer.cli.entry.runtime`): the steps below it read no environment, build no ledger
and no channel of their own, and ask the runtime's clock for the time. A test builds its own, with a
fixed clock if it needs one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from budbringer import plan as plan_
from budbringer.channel import Adapter, Registry
from budbringer.clock import Clock, default_clock
from budbringer.ledger import Ledger
from budbringer.plan import Plan
from budbringer.settings import Settings

__all__ = ["Clock", "Runtime", "Settings", "default_clock"]


class Runtime:
    """The settings, the clock, the plan (checked against the registry), the ledger and the channels: one
    adapter object per channel for the whole run, so that tokens and rate limits are shared by it (the
    channels share them with each other in `Adapter.bind`). Two runtimes share no channel object."""

    def __init__(self, settings: Settings, registry: Registry[type[Adapter]], clock: Clock = default_clock,
                 plan: Plan | None = None, channels: Mapping[str, Adapter] | None = None,
                 follow_plan: bool = False) -> None:
        """`plan`: the plan already loaded from `settings.plan` (else it is loaded here); `channels`: channel
        objects built by the caller (a test's own), else the plan's, built on first use (the plan too, unless
        given, is loaded when first asked for); `follow_plan`: reload
        the plan when its file changes (the web app, which runs for weeks; a send keeps the plan it checked)."""
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self._plan = plan  # else loaded when first asked for (`status` needs none)
        self._plan_stamp = _stamp(settings.plan_file)
        self.follow_plan = follow_plan
        self.ledger = Ledger(settings.ledger_url(), settings.home_folder)
        self._channels: Mapping[str, Adapter] | None = channels

    @property
    def plan(self) -> Plan:
        """The plan, loaded once; with `follow_plan`, again when its file changes (its modification time or size),
        so a web app that runs for weeks shows the plan as it is. Its channels, once built, stay as they were."""
        if self._plan is not None and not self.follow_plan:
            return self._plan
        stamp = _stamp(self.settings.plan_file)
        if self._plan is None or stamp != self._plan_stamp:
            self._plan = plan_.load(self.settings.plan_file, self.registry, self.settings.environ)
            self._plan_stamp = stamp
        return self._plan

    @property
    def channels(self) -> Mapping[str, Adapter]:
        """The plan's channels, built on first use and then kept (building one reads its settings)."""
        if self._channels is None:
            from budbringer.cascade import channels

            self._channels = channels(self.plan, self.clock, self.settings.environ)
        return self._channels

    def close(self) -> None:
        """Release the channels' connections (`Adapter.close`) and the ledger's (`Ledger.close`)."""
        try:
            for adapter in (self._channels or {}).values():
                adapter.close()
        finally:
            self._channels = None
            self.ledger.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Runtime(plan={str(self.settings.plan)!r}, ledger={self.ledger!r})"


def build(plan: str | os.PathLike[str] | None, registry: Registry[type[Adapter]], clock: Clock = default_clock,
          settings: Settings | None = None) -> Runtime:
    """The runtime of one entry point: read the settings (unless handed in), load and check the plan, open the
    ledger."""
    return Runtime(settings if settings is not None else Settings.read(plan), registry, clock)


def _stamp(path: Path) -> tuple[int, int] | None:
    """The plan file's modification time and size: a change reloads the plan (a plan that `extends:` another is
    reloaded when the file itself changes)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size
