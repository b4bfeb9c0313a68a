"""What every command of the entry point shares: its exit codes, its runtime (the settings `main` read once,
the plan loaded with the channel types this entry point hands to the domain, one ledger), and the plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from budbringer.plan import Plan
    from budbringer.runtime import Runtime

EXIT_OK, EXIT_PROBLEM = 0, 1


def load_plan(path: str | None) -> Plan:
    """The plan, checked against the channel types this entry point hands in (the adapters' registry), its
    `${VAR}`s from the command's settings."""
    from budbringer import plan as plan_, settings
    from budbringer.adapters.registry import REGISTRY

    return plan_.load(path, REGISTRY, settings.current(path).environ)


def runtime(args: argparse.Namespace) -> Runtime:
    """The command's runtime, as `send` has it: the settings `main` read, the plan (loaded when first asked for),
    one ledger. Built once per command."""
    run = getattr(args, "runtime", None)
    if run is None:
        from budbringer import settings
        from budbringer.adapters.registry import REGISTRY
        from budbringer.runtime import Runtime

        run = args.runtime = Runtime(getattr(args, "settings", None) or settings.current(args.plan), REGISTRY)
    return run
