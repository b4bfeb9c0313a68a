"""A new channel is one module and one registry entry: the toy notice board (tests/toy_channel.py) is added to a
registry of the test's own, and a plan that puts the website forum on it is checked, documented and sent
through the real engine (inline executor, real ledger, fixed clock), with nothing else changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from budbringer import cascade, engine, plan as plan_, runtime
from budbringer.adapters.registry import ADAPTERS
from budbringer.adapters.registry import REGISTRY as SHIPPED
from budbringer.channel import Registry
from budbringer.errors import InputError
from budbringer.web import plan_document
from tests.conftest import MESSAGE, memory_plan
from tests.toy_channel import NoticeBoardAdapter

#: the shipped channels and the toy: the one line a new channel adds
REGISTRY = Registry((*ADAPTERS, NoticeBoardAdapter))
#: before the example's approval deadline (the message is dated 2026-11-23), as tests/test_engine.py runs it
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def board_plan(folder: Path, **forum: object) -> Path:
    """The shipped plan on the memory channel, with the website forum on a notice board."""
    path = memory_plan(folder)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["channels"]["board"] = {"type": "notice_board", "folder": str(folder / "boards")}
    data["fora"]["website"] |= {"channel": "board", "board": "forside", **forum}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_toy_channel_is_sent_to_through_the_engine_once(workdir: Path) -> None:
    plan = board_plan(workdir)

    sent = {}

    def send() -> dict[str, str]:
        run = runtime.build(plan, REGISTRY, clock=lambda: NOW)
        try:
            prepared = cascade.prepare(run.plan, MESSAGE)
            sent.update({v.forum: f"{v.subject}\n\n{v.body}" for v in prepared.variants})
            approval = cascade.record_approval(prepared, run.ledger, "Mette Lund", "Styregruppen 20/11")
            outcomes = engine.run(prepared, approval, engine.InlineExecutor(run.channels, run.ledger), run.clock)
        finally:
            run.close()
        return {o.forum: o.state for o in outcomes}

    first = send()
    assert first["website"] == "delivered" and set(first.values()) == {"delivered"}
    notices = list((workdir / "boards" / "forside").iterdir())
    assert len(notices) == 1
    assert notices[0].read_text(encoding="utf-8") == sent["website"]  # the website's variant, as approved
    again = send()  # a re-run pins nothing twice
    assert again["website"] == "already delivered" and len(list((workdir / "boards" / "forside").iterdir())) == 1


def test_the_plan_checks_the_toy_channels_own_addressing(workdir: Path) -> None:
    loaded = plan_.load(board_plan(workdir), REGISTRY)
    assert loaded.fora["website"].address.reach() == ["opslagstavlen forside"]
    with pytest.raises(InputError) as missing:
        plan_.load(board_plan(workdir, board=None), REGISTRY)
    assert [p.field for p in missing.value.problems] == ["fora.website.board"]
    with pytest.raises(InputError) as stray:
        plan_.load(board_plan(workdir, recipients=["web@socialomraadet.example"]), REGISTRY)
    problem = stray.value.problems[0]
    assert problem.field == "fora.website.recipients" and "notice_board" in problem.what and "`board`" in problem.fix
    with pytest.raises(InputError) as unknown:  # the shipped registry knows no notice board
        plan_.load(board_plan(workdir), SHIPPED)
    assert "unknown channel type" in unknown.value.problems[0].what


def test_the_plan_document_names_the_toy_channel_in_danish(workdir: Path) -> None:
    document = plan_document.markdown_document(plan_.load(board_plan(workdir), REGISTRY))
    assert "opslagstavle" in document and "opslagstavlen forside" in document
