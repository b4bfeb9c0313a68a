"""What every command of the entry point shares: its exit codes, and the plan loaded with the channel types
this entry point hands to the domain (the adapters' registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from budbringer.plan import Plan

EXIT_OK, EXIT_PROBLEM = 0, 1


def load_plan(path: str | None) -> Plan:
    """The plan, checked against the channel types this entry point hands in (the adapters' registry)."""
    from budbringer import plan as plan_
    from budbringer.adapters.registry import REGISTRY

    return plan_.load(path, REGISTRY)
