"""The cascade without Prefect, for the crash harness (tests/test_crash_harness.py): the same steps as
flows/send.py — check and preflight, record the approval, then tier by tier through `cascade.deliver`, a tier
only after the one before it was delivered — in one process that the local servers may SIGKILL at any request.

    python -m tests.crash_runner PLAN MESSAGE      prints one JSON line: the outcomes
"""

from __future__ import annotations

import json
import sys

from budbringer import cascade
from budbringer.errors import InputError, TransientDeliveryError
from budbringer.ledger import Ledger


def main(plan: str, message: str) -> int:
    prepared = cascade.prepare(plan, message)
    problems = cascade.preflight(prepared.plan)
    if problems:
        raise InputError(problems)
    ledger = Ledger()
    approval = cascade.record_approval(prepared, ledger, "Mette Lund", "Styregruppemøde 2026-11-20, punkt 3")
    channels = cascade.channels(prepared.plan)
    outcomes: list[dict[str, str]] = []
    for tier in cascade.by_tier(cascade.deliveries(prepared, approval)):
        if any(o["state"] not in ("delivered", "already delivered") for o in outcomes):
            outcomes += [{"forum": d.forum, "state": "not started", "error": ""} for d in tier]
            continue
        for delivery in tier:
            try:
                outcome = cascade.deliver(delivery, channels[delivery.channel], ledger)
                outcomes.append({"forum": outcome.forum, "state": outcome.state, "error": outcome.error})
            except TransientDeliveryError as exc:
                outcomes.append({"forum": delivery.forum, "state": "failed", "error": str(exc)})
    print(json.dumps(outcomes))
    return 0 if all(o["state"] in ("delivered", "already delivered") for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
