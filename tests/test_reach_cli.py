"""`budbringer reach`: a table per forum, "not measured" for the outbox, collecting in-process, and no Prefect."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine

from budbringer import cli
from budbringer.delivery import Receipt
from budbringer.ledger import Ledger
from budbringer.render import Variant
from budbringer.settings import Settings
from tests.reach_support import reach_plan, record_delivered, sent_variant

MESSAGE = "2027-04-oplaering"

NO_PREFECT = """
import sys
from budbringer import cli
assert cli.main(["reach", {message!r}, "--plan", {plan!r}]) == 0
loaded = sorted(name for name in sys.modules if name == "prefect" or name.startswith("prefect."))
assert not loaded, loaded
print("no prefect")
"""


def variant(forum: str, channel: str) -> Variant:
    return sent_variant(forum, channel, "Oplæring i april", f"Oplæringen begynder ({forum}).", phase="cascade",
                        medium="mail", stakeholder="employees", summary="Oplæring.")


def test_reach_says_not_measured_for_the_outbox_and_shows_the_editors_answer(
        workdir: Path, example_clock: dt.datetime, capsys: pytest.CaptureFixture[str]) -> None:
    plan = reach_plan(workdir, {"newsletter": {"type": "newsletter", "transport": "mail"}},
                      reach={"points": [1, 7]})  # the newsletters over the outbox's mail
    ledger = Ledger(Settings.read(str(plan)).ledger_url())
    sent = {("oc", "mail"): Receipt("outbox", "outbox/oc.md"),
            ("midtnyt", "newsletter"): Receipt("outbox", "outbox/midtnyt.md", details={"issue": "2027-04-14"})}
    record_delivered(ledger, MESSAGE, sent, variant)

    assert cli.main(["reach", MESSAGE, "--plan", str(plan)]) == 0
    before = capsys.readouterr().out
    assert "not measured" in before.split("oc ", 1)[1].splitlines()[0]
    assert "not read yet (day 1" in before

    ledger.record_answer(MESSAGE, "midtnyt", "accepted", "2.500 læsere")
    with time_machine.travel(example_clock + dt.timedelta(days=1, hours=2), tick=False):
        assert cli.main(["reach", MESSAGE, "--plan", str(plan), "--collect"]) == 0
    out = capsys.readouterr().out
    assert "collected 2 reading(s) (0 refused)" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("oc ", "midtnyt "))}
    assert "not measured" in rows["oc"]
    assert "accepted 1, readers 2500" in rows["midtnyt"]

    done = subprocess.run([sys.executable, "-c", NO_PREFECT.format(message=MESSAGE, plan=str(plan))], cwd=workdir,
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("no prefect") and "not measured" in done.stdout
