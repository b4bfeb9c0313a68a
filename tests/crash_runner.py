"""The production cascade without Prefect, for the crash harness (tests/test_crash_harness.py): the runtime,
check and preflight, record the approval, then `budbringer.engine` — the same engine the Prefect flow runs —
with its in-process executor, in one process that the local servers may SIGKILL at any request.

    python -m tests.crash_runner PLAN MESSAGE      prints one JSON line: the outcomes
"""

from __future__ import annotations

import json
import sys

from budbringer import cascade, engine, runtime
from budbringer.adapters.registry import REGISTRY
from budbringer.errors import InputError


def main(plan: str, message: str) -> int:
    run = runtime.build(plan, REGISTRY)
    prepared = cascade.prepare(run.plan, message)
    problems = cascade.preflight(run.plan, run.channels)
    if problems:
        raise InputError(problems)
    approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "Styregruppemøde 2026-11-20, punkt 3")
    outcomes = engine.run(prepared, approval, engine.InlineExecutor(run.channels, run.ledger), run.clock)
    print(json.dumps([{"forum": o.forum, "state": o.state, "error": o.error} for o in outcomes]))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
