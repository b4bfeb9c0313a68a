"""Shared fixtures: a real Prefect API for the session, a fresh ledger and outbox per test, a trustme CA."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
import time_machine
import trustme
import yaml

from budbringer.render import Variant
from tests.servers.https import HTTPSServer
from tests.servers.ports import free_port
from tests.servers.smtp import PASSWORD, PASSWORD_ENV, Relay, running_relay

if TYPE_CHECKING:
    from tests.servers.entra import App, LoginEmulator
    from tests.servers.graph import M365
    from tests.servers.meta import MetaEmulator  # not at run time: meta.py reads PLAN and MESSAGE from here

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

pytest_plugins = ["tests.servers.postgres"]  # postgres_server, postgres_url: a throwaway PostgreSQL database

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "config" / "plan.yaml"
MESSAGE = ROOT / "messages" / "2026-11-status-udbud.md"
#: the shipped example's request day, 10:00 in Copenhagen: its approval deadline (3 December 2026, 09:00) is
#: ahead, so its request can be sent and its links work. Tests that ask for its approval pin the clock here
#: (`example_clock`), so they pass on any date: the suite also runs 400 days ahead and on a 29 February.
EXAMPLE_NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Copenhagen"))


@pytest.fixture
def example_clock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[dt.datetime]:
    """The clock at EXAMPLE_NOW, running on from there.

    Without a Prefect server, time_machine moves this process's whole clock. With one (`prefect_api`: its
    server runs in another process, on the real time), only Budbringer's clock is pinned
    (`budbringer.clock.system_clock`): moving Prefect's client clock alone would make the server see a pause
    that expired before it began."""
    if "prefect_api" not in request.fixturenames:
        with time_machine.travel(EXAMPLE_NOW, tick=True):
            yield EXAMPLE_NOW
        return
    import time

    from budbringer import clock

    started = time.monotonic()
    monkeypatch.setattr(clock, "system_clock",
                        lambda: EXAMPLE_NOW.astimezone(dt.UTC) + dt.timedelta(seconds=time.monotonic() - started))
    yield EXAMPLE_NOW


#: a day before the shipped example's approval deadline (3 December 2026, 9.00): `check` says when a message's
#: deadline has passed (docs/dates.md), so a test that checks the example for anything else pins the clock here
BEFORE_DEADLINE = "2026-11-24T09:00:00+01:00"
PINNED_CLOCK = ROOT / "tests" / "pinned_clock"  # sitecustomize.py: the same pin in a test's subprocess


@pytest.fixture
def before_deadline() -> Iterator[None]:
    """The clock pinned (ticking) at BEFORE_DEADLINE for the test."""
    with time_machine.travel(dt.datetime.fromisoformat(BEFORE_DEADLINE), tick=True):
        yield


def example_clock_variables() -> dict[str, str]:
    """The variables that pin Budbringer's clock (only Budbringer's) at EXAMPLE_NOW in a subprocess that talks to
    a Prefect server on the real time: a worker and its flow runs, `budbringer approve` resuming a run."""
    return {k: v for k, v in pinned_environment(dict(os.environ), EXAMPLE_NOW.isoformat(), budbringer_only=True).items()
            if k in ("PYTHONPATH", "BUDBRINGER_TEST_CLOCK", "BUDBRINGER_TEST_CLOCK_SCOPE")}


def pinned_environment(env: dict[str, str], at: str = BEFORE_DEADLINE,
                       budbringer_only: bool = False) -> dict[str, str]:
    """`env` for a subprocess whose clock starts at `at` (tests/pinned_clock/sitecustomize.py); with
    `budbringer_only`, only Budbringer's clock (for a process that talks to a Prefect server on the real time)."""
    path = os.pathsep.join(p for p in (str(PINNED_CLOCK), env.get("PYTHONPATH", "")) if p)
    scope = {"BUDBRINGER_TEST_CLOCK_SCOPE": "budbringer"} if budbringer_only else {}
    return {**env, "PYTHONPATH": path, "BUDBRINGER_TEST_CLOCK": at, **scope}


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the session's Prefect API (the harness costs seconds to start, each flow run more) is slow:
    plain `pytest` leaves it out, `pytest -m "slow or not slow"` (.ci/run) runs it. Except one test per Prefect
    mechanism, marked `mechanism("…")`: plain `pytest` keeps those, so that it still runs Prefect itself."""
    for item in items:
        if "prefect_api" in getattr(item, "fixturenames", ()) and item.get_closest_marker("mechanism") is None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One real (temporary) Prefect server for the whole session: entering it costs seconds."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _prefect_logs_to_real_stderr() -> None:
    """Prefect's console handlers keep the stream they were made with; under pytest that can be a test's
    capture stream, closed when that test ends (then every later log line fails, and with log_prints the
    failure report recurses). Point them at the process's real stderr."""
    if "prefect" not in sys.modules:
        return
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if (type(handler).__module__.startswith("prefect") and isinstance(handler, logging.StreamHandler)
                    and handler.stream not in (sys.__stderr__, sys.__stdout__)):
                handler.stream = sys.__stderr__  # not setStream(): it flushes the old, closed one
                if hasattr(handler, "console"):  # PrefectConsoleHandler writes through a rich Console
                    handler.console.file = sys.__stderr__


@pytest.fixture(autouse=True)
def _prefect_logging() -> Iterator[None]:
    _prefect_logs_to_real_stderr()
    yield
    _prefect_logs_to_real_stderr()


@pytest.fixture(autouse=True)
def _ledger_engines_let_go() -> Iterator[None]:
    """After each test, dispose the ledger engines it opened and left open (its `Ledger()`s are not closed
    one by one): each holds a pool of connections, for SQLite three descriptors each (the file, -wal, -shm),
    and the whole suite would otherwise end with more than a thousand open. An engine a longer-lived fixture
    opened is let go too; a ledger still holding it opens connections afresh when used."""
    from budbringer.ledger import database

    before = dict(database._engines)
    yield
    with database._engines_lock:
        opened = [(url, engine) for url, engine in database._engines.items() if before.get(url) is not engine]
        for url, _ in opened:
            del database._engines[url]
            database._holders.pop(url, None)
    for _, engine in opened:
        engine.dispose()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder: its own ledger (SQLite), outbox and previews."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUDBRINGER_HOME", str(tmp_path / ".budbringer"))
    monkeypatch.delenv("BUDBRINGER_DATABASE_URL", raising=False)
    monkeypatch.delenv("BUDBRINGER_PLAN", raising=False)
    from budbringer.adapters import memory

    memory.clear()
    return tmp_path


def write_plan(folder: Path, overlay: dict, name: str = "plan.yaml") -> Path:
    """A plan that extends the shipped one with `overlay` (deep-merged): the way a test changes one thing."""
    path = folder / name
    path.write_text(yaml.safe_dump({"extends": str(PLAN), **overlay}, allow_unicode=True), encoding="utf-8")
    return path


def memory_plan(folder: Path, refuse: list[str] | None = None) -> Path:
    """The shipped plan with every channel switched to the in-memory adapter."""
    base = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    channels = {name: {"type": "memory", "refuse": refuse or []} for name in base["channels"]}
    # `extends` merges mappings, so replacing a channel's settings needs the whole channel: drop `path`.
    path = folder / "memory-plan.yaml"
    base["channels"] = channels
    base["templates"] = str(ROOT / "templates")
    path.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A ledger file of the test's own; its engine is let go afterwards."""
    from budbringer import ledger as ledger_

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    yield url
    engine = ledger_._engines.pop(url, None)
    if engine is not None:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on PostgreSQL (skipped without a server, failed in CI: tests/servers/postgres.py)."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def message_copy(workdir: Path) -> Path:
    target = workdir / MESSAGE.name
    shutil.copy(MESSAGE, target)
    return target


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[trustme.CA]:
    """A local certificate authority; requests (and msal) trust it through REQUESTS_CA_BUNDLE."""
    authority = trustme.CA()
    bundle = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
    yield authority
    if previous is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = previous


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The local CA's certificate as a file, for a setting that names one (an SMTP channel's `ca_file`)."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(params=["starttls", "tls"])
def relay(request: pytest.FixtureRequest, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    """An SMTP relay on 127.0.0.1 (tests/servers/smtp.py) that wants a login: once over STARTTLS, once over TLS."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with running_relay(ca, request.param) as running:
        yield running


@pytest.fixture(scope="module")
def meta_server(ca: trustme.CA) -> Iterator[HTTPSServer]:
    """The Meta Graph emulator (tests/servers/meta.py) over HTTPS, one for a whole test module."""
    from tests.servers.meta import TOKEN, MetaEmulator

    with HTTPSServer(MetaEmulator(TOKEN), ca) as running:
        yield running


@pytest.fixture
def meta(meta_server: HTTPSServer, monkeypatch: pytest.MonkeyPatch) -> MetaEmulator:
    """The module's Meta emulator, reset, with the Facebook and Instagram channels' settings in the environment."""
    from tests.servers.meta import MetaEmulator, meta_env

    return meta_server.fresh(MetaEmulator, monkeypatch, meta_env(meta_server.url))


@dataclass
class EntraStandIn:
    """The Entra ID stand-in (tests/servers/entra.py) over HTTPS, with the app registration of the sign-in pages
    (a client secret, in its variable), and the port the pages are to listen on ($BUDBRINGER_WEB_URL). The test
    adds the users and registers its pages' callback (`registration.redirect_uris`)."""

    login: LoginEmulator
    registration: App
    url: str  # the sign-in host: a plan's approval.sign_in.authority_url
    client_secret: str
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sign_in(self, required: bool = True) -> dict[str, object]:
        """A plan's `approval.sign_in` section for this stand-in."""
        from tests.servers.graph import CLIENT, TENANT

        return {"tenant": TENANT, "client_id": CLIENT, "authority_url": self.url, "required": required}


@pytest.fixture
def entra(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[EntraStandIn]:
    """Entra ID sign-in for the pages of one test: the stand-in's server runs while the test does."""
    from budbringer.web import signin
    from tests.servers.graph import CLIENT, TENANT, App, LoginEmulator, _quick

    login = LoginEmulator()
    client_secret = "entra-secret-" + "q7" * 16
    registration = login.add_app(TENANT, App(CLIENT, secret=client_secret, roles=set()))
    with _quick(HTTPSServer(login, ca)) as server:
        stand_in = EntraStandIn(login, registration, server.url, client_secret, free_port())
        monkeypatch.setenv("BUDBRINGER_WEB_URL", stand_in.base)
        monkeypatch.setenv(signin.ENV_CLIENT_SECRET, client_secret)
        yield stand_in


@pytest.fixture
def tenant(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> Iterator[M365]:
    """The sign-in and Graph emulators (tests/servers/graph.py) for one test, with the sender's mailbox, their
    settings in the environment (the Graph channels' tests; a module that needs SharePoint sites has its own)."""
    from budbringer.adapters import graph
    from tests.servers.graph import m365

    monkeypatch.delenv(graph.ENV_CERT, raising=False)
    with m365(ca) as t:
        for name, value in t.env().items():
            monkeypatch.setenv(name, value)
        yield t


def web_variant(tag: str) -> Variant:
    """A small rendered variant for the website, unique to `tag` (the concurrency tests' delivery)."""
    return Variant(forum="website", forum_title="Hjemmesiden", tier="external", tier_index=4, phase="publish",
                   medium="web", channel="website", template="x", stakeholder="citizens", subject=f"Status {tag}",
                   body=f"<p>Status {tag}</p>", body_format="html", summary="Status.", link=None)
