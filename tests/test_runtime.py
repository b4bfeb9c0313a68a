"""One runtime per entry point: the plan loaded once (and, for the web app, again when its file changes), one
ledger, one channel object per channel for the run, whose sign-ins and mailbox limiters the run's channels share;
two runtimes share nothing."""

from __future__ import annotations

import inspect
import os
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import pytest
import yaml

from budbringer import cascade, plan as plan_, render, runtime, settings
from budbringer.adapters import graph
from budbringer.adapters.registry import REGISTRY
from budbringer.delivery import Delivery, Receipt
from budbringer.ledger import Ledger
from budbringer.web.app import create_app
from tests.conftest import MESSAGE, PLAN, ROOT, write_plan

M365_PLAN = ROOT / "config" / "plan.m365.yaml"
SECRET = "rt-secret-never-shown-7Qx2"


@pytest.fixture
def graph_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials in the environment (nothing is contacted: a token source signs in on first use)."""
    monkeypatch.setenv(graph.ENV_TENANT, "8a1f5c2e-4b7d-4e21-9c3a-1d2e3f4a5b6c")
    monkeypatch.setenv(graph.ENV_CLIENT, "0f6c3b1e-2d4a-4c8b-9e7f-5a6b7c8d9e0f")
    monkeypatch.setenv(graph.ENV_SECRET, SECRET)
    monkeypatch.delenv(graph.ENV_CERT, raising=False)


def test_one_runtime_shares_sign_in_and_mailbox_limiter_and_two_share_nothing(graph_env: None, workdir: Path) -> None:
    first = runtime.build(M365_PLAN, REGISTRY)
    second = runtime.build(M365_PLAN, REGISTRY)
    try:
        mail, intranet = first.channels["m365_mail"], first.channels["m365_intranet"]
        assert first.channels is first.channels  # built once for the run
        assert mail.graph.tokens is not None and mail.graph.tokens is intranet.graph.tokens  # type: ignore[attr-defined]
        other_mail = second.channels["m365_mail"]
        assert other_mail is not mail
        assert other_mail.graph.tokens is not mail.graph.tokens  # type: ignore[attr-defined]
        assert other_mail.limiter is not mail.limiter  # type: ignore[attr-defined]
        shown = repr(first) + repr(mail) + repr(mail.graph) + repr(mail.graph.tokens)  # type: ignore[attr-defined]
        assert SECRET not in shown
    finally:
        first.close()
        second.close()


def test_a_runtime_loads_its_plan_once(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    real = plan_.load

    def counting(*args: object, **kwargs: object) -> plan_.Plan:
        loads.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_, "load", counting)
    with runtime.build(PLAN, REGISTRY) as run:
        assert cascade.preflight(run.plan, run.channels) == []
        assert len(loads) == 1 and run.plan.path.resolve() == PLAN.resolve()


def test_one_cli_send_loads_the_plan_once_opens_one_ledger_and_builds_the_channels_once(
        prefect_api: None, workdir: Path, message_copy: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`budbringer send` of the example message over the shipped plan (the outbox): the command builds the runtime
    and the flow and its subflows use it (before: the plan was loaded 4 times and the ledger opened 6 times)."""
    from budbringer.cli import main

    loads: list[object] = []
    ledgers: list[object] = []
    builds: list[object] = []
    real_load, real_ledger, real_channels = plan_.load, Ledger.__init__, cascade.channels

    def load(*args: object, **kwargs: object) -> plan_.Plan:
        loads.append(args)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    def ledger(self: Ledger, *args: object, **kwargs: object) -> None:
        ledgers.append(args)
        real_ledger(self, *args, **kwargs)  # type: ignore[arg-type]

    def channels(*args: object, **kwargs: object) -> object:
        builds.append(args)
        return real_channels(*args, **kwargs)  # type: ignore[arg-type]

    renders: list[object] = []
    real_render = render.render_variants

    def rendering(*args: object, **kwargs: object) -> object:
        renders.append(args)
        return real_render(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_, "load", load)
    monkeypatch.setattr(Ledger, "__init__", ledger)
    monkeypatch.setattr(cascade, "channels", channels)
    monkeypatch.setattr(render, "render_variants", rendering)
    code = main(["send", str(message_copy), "--plan", str(PLAN), "--approved-by", "Mette Lund",
                 "--approval-ref", "Styregruppemøde 2026-11-20, punkt 3"])
    assert code == 0, capsys.readouterr().err
    assert "12 delivered now, 0 delivered before" in capsys.readouterr().out
    assert (len(loads), len(ledgers), len(builds)) == (1, 1, 1)
    assert len(renders) == 1  # the message is prepared once: the command hands what it checked to the flow


def test_the_send_goes_one_way_from_the_command_to_the_channel(
        prefect_api: None, workdir: Path, message_copy: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`budbringer send`, seen from inside the channel's `deliver`: the project's modules on the way there (the
    command's thread, waiting for the deliveries, then the task's thread) never return to one they have left —
    command → flow → engine → executor → cascade → channel, and no call goes back up."""
    from budbringer.adapters.outbox import OutboxAdapter
    from budbringer.cli import main

    paths: list[list[str]] = []
    real_deliver = OutboxAdapter.deliver

    def watched(self: OutboxAdapter, delivery: Delivery) -> Receipt:
        frames = [] if threading.current_thread() is threading.main_thread() else [
            sys._current_frames()[threading.main_thread().ident or 0]]
        paths.append([*project_modules(*frames, inspect.currentframe()), type(self).__module__])  # the channel
        return real_deliver(self, delivery)

    monkeypatch.setattr(OutboxAdapter, "deliver", watched)
    code = main(["send", str(message_copy), "--plan", str(PLAN), "--approved-by", "Mette Lund",
                 "--approval-ref", "Styregruppemøde 2026-11-20, punkt 3"])
    assert code == 0, capsys.readouterr().err
    assert len(paths) == 12
    for path in paths:
        assert len(path) == len(set(path)), f"the send returns to a module it has left: {' → '.join(path)}"
        assert path[-4:] == ["budbringer.engine", "budbringer.flows.executor", "budbringer.cascade",
                             "budbringer.adapters.outbox"], path
        assert path.index("budbringer.cli.sending") < path.index("budbringer.flows.send"), path


def project_modules(*stacks: FrameType | None) -> list[str]:
    """The project's modules on these stacks (each innermost frame; outer stack first), outermost first, a
    module once for each stretch of frames in it."""
    out: list[str] = []
    for innermost in stacks:
        frames = []
        frame = innermost
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        for found in reversed(frames):
            name = str(found.f_globals.get("__name__", ""))
            if name.startswith("budbringer") and name != __name__ and (not out or out[-1] != name):
                out.append(name)
    return out


def test_a_runtime_that_follows_its_plan_reloads_it_when_the_file_changes(workdir: Path) -> None:
    path = write_plan(workdir, {"narrative": {"contact": "Anne Holm"}})
    followed = runtime.Runtime(settings.Settings.read(path), REGISTRY, follow_plan=True)
    kept = runtime.Runtime(settings.Settings.read(path), REGISTRY)
    first = followed.plan
    assert followed.plan is first and kept.plan.narrative.contact == "Anne Holm"  # loaded once while unchanged
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["narrative"]["contact"] = "Bo Winther, projektleder"
    time.sleep(0.01)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert followed.plan is not first and followed.plan.narrative.contact == "Bo Winther, projektleder"
    assert kept.plan.narrative.contact == "Anne Holm"  # a send keeps the plan it checked


def test_the_web_app_uses_the_runtime_it_is_given(workdir: Path) -> None:
    run = runtime.Runtime(settings.Settings.read(PLAN), REGISTRY)
    app = create_app(messages=MESSAGE.parent, runtime=run)
    assert app.state.runtime is run and run.follow_plan
    assert app.state.runtime.ledger is run.ledger  # one ledger engine for every request


def test_status_and_approve_use_one_runtime_as_send_does(workdir: Path, message_copy: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A command builds one runtime (`budbringer.cli.entry.runtime`): one ledger, the plan loaded at most once."""
    from budbringer import cli

    built: list[runtime.Runtime] = []
    loads: list[object] = []
    real_init, real_load = runtime.Runtime.__init__, plan_.load

    def counting_init(self: runtime.Runtime, *args: object, **kwargs: object) -> None:
        built.append(self)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    def counting_load(*args: object, **kwargs: object) -> plan_.Plan:
        loads.append(args)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime.Runtime, "__init__", counting_init)
    monkeypatch.setattr(plan_, "load", counting_load)
    assert cli.main(["status", "2026-11-status-udbud"]) == 0
    assert len(built) == 1 and len(loads) <= 1
    built.clear(), loads.clear()
    assert cli.main(["approve", str(message_copy), "--by", "Jens Kragh"]) == 1  # no request: refused, one line
    assert len(built) == 1 and len(loads) == 1
    capsys.readouterr()


def _descriptors() -> set[str]:
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc (Linux)")
def test_closing_a_runtime_releases_its_ledger_files(workdir: Path) -> None:
    """Its ledger's connections (for SQLite the file, -wal and -shm) are closed: a process that builds runtime
    after runtime (the tests, a long-lived worker) does not run out of descriptors."""
    def ledger_files() -> set[str]:
        return {path for path in _descriptors() if ".budbringer" in path}

    before = ledger_files()
    with runtime.build(PLAN, REGISTRY) as run:
        assert run.ledger.records() == [] and run.ledger.approvals_for("2027-01-vagtplan") == []
        held = ledger_files() - before
        assert any(path.endswith("ledger.db") for path in held), held
        second = Ledger(run.ledger.url)  # the same ledger in the same process: one engine, released by both
        assert second.engine is run.ledger.engine and second.records() == []
        second.close()
        assert ledger_files() - before == held  # still held by the runtime
    assert ledger_files() - before == set()
    with runtime.build(PLAN, REGISTRY) as again:  # a closed ledger's file opens again for the next runtime
        assert again.ledger.records() == []
