"""The ledger's migrations (Alembic), on SQLite and on PostgreSQL.

- Every revision goes up, down and up again, and head matches the tables in `budbringer/ledger/schema.py`.
- A ledger made before Alembic (by `create_all`) is recognised and gets the baseline revision, its rows kept.
- A ledger behind head stops the start with one line that says to run `budbringer db upgrade`; that command
  brings it to head. A ledger at a revision this Budbringer does not know stops too.
- Workers that start together on a new ledger create it once.

PostgreSQL: a throwaway database per test (tests/servers/postgres.py); skipped without a server, failed in CI.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from budbringer import cli
from budbringer import ledger as ledger_
from budbringer.approval import Approval
from budbringer.ledger import Ledger, SchemaError, State, database, metadata, migrate

MESSAGE_ID = "2026-11-status-udbud"


@pytest.fixture
def url(database_url: str) -> str:
    """The ledger's URL, on SQLite and on PostgreSQL (conftest.py's `database_url`)."""
    return database_url


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    """An engine that does not check the schema (as `budbringer db` uses)."""
    made = database.new_engine(url)
    yield made
    made.dispose()


def tables(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def versions(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]


def differences(engine: sa.Engine) -> list:  # type: ignore[type-arg]
    """What autogenerate would change to make the database match schema.py (nothing, when they agree)."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def ledger_at(url: str, env: pytest.MonkeyPatch) -> None:
    env.setenv("BUDBRINGER_DATABASE_URL", url)


# -- every revision, up, down and up -------------------------------------------------------------------------

def test_every_revision_goes_up_down_and_up_again_and_head_is_the_schema(url: str, engine: sa.Engine) -> None:
    revisions = [r.revision for r in reversed(list(migrate.script().walk_revisions()))]
    assert revisions[0] == migrate.BASELINE and revisions[-1] == migrate.head()
    ours = set(metadata.tables)

    for before, revision in zip([None, *revisions], revisions, strict=False):
        migrate.upgrade(engine, revision)
        assert versions(engine) == [revision]
        migrate.downgrade(engine, before or "base")
        assert versions(engine) == ([before] if before else [])
        migrate.upgrade(engine, revision)
        assert versions(engine) == [revision]

    assert tables(engine) == ours | {"alembic_version"}
    assert differences(engine) == []  # the migrations build exactly the tables in schema.py

    migrate.downgrade(engine, "base")  # all the way down: nothing of ours is left
    assert tables(engine) == {"alembic_version"} and versions(engine) == []
    upgraded = migrate.upgrade(engine)
    assert (upgraded.before, upgraded.after, upgraded.adopted) == (None, migrate.head(), False)
    assert differences(engine) == []

    # A ledger built by the migrations works.
    ledger = Ledger(url)
    approval = ledger.record_approval(Approval(message_id=MESSAGE_ID, variant_hashes={"oc": "1" * 64},
                                               approved_by="Mette Lund", reference="Styregruppemøde 2026-11-20"))
    assert ledger.approvals_for(MESSAGE_ID) == [approval]


def test_a_new_ledger_is_created_at_head_on_first_use(url: str, engine: sa.Engine) -> None:
    assert tables(engine) == set()
    Ledger(url)
    assert versions(engine) == [migrate.head()]
    assert differences(engine) == []


def test_a_new_ledger_is_made_without_importing_alembic_and_alembic_agrees(url: str, engine: sa.Engine) -> None:
    """The first run (the README main job) creates its ledger from schema.py and records head itself: the same
    ledger Alembic makes, without Alembic's import."""
    import subprocess
    import sys

    made = subprocess.run([sys.executable, "-c", "import sys; from budbringer.ledger import Ledger; "
                           f"Ledger({url!r}); print(sorted(m for m in sys.modules if m.startswith('alembic')))"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert made.stdout.strip() == "[]", made.stdout + made.stderr
    assert versions(engine) == [migrate.head()] and differences(engine) == []
    assert migrate.describe(engine) == (f"{migrate.head()} (head)", True)
    ledger = Ledger(url)  # opened again: at head, nothing to do
    approval = ledger.record_approval(Approval(message_id=MESSAGE_ID, variant_hashes={"oc": "1" * 64},
                                               approved_by="Mette Lund", reference="Styregruppemøde 2026-11-20"))
    assert ledger.approvals_for(MESSAGE_ID) == [approval]
    assert migrate.upgrade(engine).after == migrate.head()  # `db upgrade` finds nothing to do


# -- a ledger made before Alembic ----------------------------------------------------------------------------

def pre_alembic(engine: sa.Engine, only: tuple[str, ...] = ()) -> None:
    """A ledger as `create_all` left it: the baseline's tables (or only some, as an older Budbringer made
    them), no version table, and rows in it."""
    migrate.upgrade(engine, migrate.BASELINE)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))
        for table in ("notices", "approval_votes", "approval_requests", "editor_answers"):  # dependants first
            if only and table not in only:
                conn.execute(sa.text(f"DROP TABLE {table}"))
        found = sa.MetaData()
        approvals = sa.Table("approvals", found, autoload_with=conn)
        deliveries = sa.Table("deliveries", found, autoload_with=conn)
        approval_id = conn.execute(approvals.insert().values(
            message_id=MESSAGE_ID, approval_hash="2" * 64, variant_hashes="{}", approved_by="Mette Lund",
            reference="Styregruppemøde 2026-11-20", approved_at=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC),
            override_order=False, override_reason="")).inserted_primary_key[0]
        conn.execute(deliveries.insert().values(
            key="k1", message_id=MESSAGE_ID, content_hash="3" * 64, forum="oc", channel="mail", tier="oc",
            tier_index=1, approval_id=approval_id, state="delivered", attempts=1,
            started_at=dt.datetime(2026, 11, 20, 11, tzinfo=dt.UTC)))
    assert "alembic_version" not in tables(engine)


@pytest.mark.parametrize("only", [(), ("approvals", "deliveries", "delivery_events")],
                         ids=["every-table", "an-older-ledger"])
def test_a_ledger_made_before_alembic_gets_the_baseline_at_start(
        url: str, engine: sa.Engine, only: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    pre_alembic(engine, only)
    try:
        Ledger(url)
    except SchemaError as exc:  # only once a revision after the baseline exists: then it is behind, and says so
        assert migrate.head() != migrate.BASELINE and "budbringer db upgrade" in str(exc)
    assert versions(engine) == [migrate.BASELINE]  # recognised, not created again
    assert tables(engine) >= migrate.BASELINE_TABLES  # what an older Budbringer lacked is there now

    ledger_at(url, monkeypatch)
    assert cli.main(["db", "upgrade"]) == 0
    assert versions(engine) == [migrate.head()] and differences(engine) == []
    if (started := ledger_._engines.pop(url, None)) is not None:
        started.dispose()
    ledger = Ledger(url)
    [record] = ledger.records(MESSAGE_ID)  # the rows are kept
    assert (record.key, record.state, record.forum) == ("k1", State.DELIVERED, "oc")
    assert [a.approved_by for a in ledger.approvals_for(MESSAGE_ID)] == ["Mette Lund"]
    assert "nothing to upgrade" in capsys.readouterr().out or migrate.head() != migrate.BASELINE


def test_db_upgrade_recognises_a_ledger_made_before_alembic(
        url: str, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pre_alembic(engine)
    ledger_at(url, monkeypatch)
    assert cli.main(["db", "current"]) == (0 if migrate.head() == migrate.BASELINE else 1)
    assert "made before schema versions" in capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"recognised a ledger made before schema versions as {migrate.BASELINE}" in out
    assert versions(engine) == [migrate.head()]
    assert cli.main(["db", "current"]) == 0
    assert f"{migrate.head()} (head)" in capsys.readouterr().out


# -- 0003: notices become records with a history ------------------------------------------------------------

def test_notices_sent_before_0003_keep_their_state_and_get_a_history(url: str, engine: sa.Engine) -> None:
    """A ledger at 0002 with notices in every state: after the upgrade each notice is a record (attempt 1, no
    channel known) with its history rebuilt from its row, and is then kept by the deliveries' rule."""
    migrate.upgrade(engine, "0002")
    started, finished = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC), dt.datetime(2026, 11, 24, 9, 1, tzinfo=dt.UTC)
    old = {"request:mette-lund": ("delivered", None), "request:jens-kragh": ("failed", "mail: 421 try later"),
           "request:sofie-dahl": ("uncertain", "mail: connection dropped"), "request:lars-bech": ("attempting", None)}
    with engine.begin() as conn:
        found = sa.MetaData()
        requests = sa.Table("approval_requests", found, autoload_with=conn)
        notices = sa.Table("notices", found, autoload_with=conn)
        assert "attempts" not in notices.c and "channel" not in notices.c
        request_id = conn.execute(requests.insert().values(
            message_id=MESSAGE_ID, approval_hash="4" * 64, title="Status på udbuddet", requested_at=started,
            state="open", comment="")).inserted_primary_key[0]
        for kind, (state, error) in old.items():
            conn.execute(notices.insert().values(
                key=f"notice/{MESSAGE_ID}/{'4' * 16}/{kind}", message_id=MESSAGE_ID, request_id=request_id, kind=kind,
                state=state, error=error, started_at=started, finished_at=None if state == "attempting" else finished,
                receipt='{"provider": "smtp", "provider_id": "<m1@x>", "delivered_at": "2026-11-24T09:01:00+00:00"}'
                if state == "delivered" else None))

    migrate.upgrade(engine)
    assert versions(engine) == [migrate.head()] and differences(engine) == []
    ledger = Ledger(url)
    assert ledger.notices_for(request_id) == {kind: State(state) for kind, (state, _) in old.items()}

    def key(kind: str) -> str:
        return f"notice/{MESSAGE_ID}/{'4' * 16}/{kind}"

    for kind, (state, error) in old.items():
        record = ledger.notice_record(key(kind))
        assert record is not None and (record.kind, record.state, record.attempts, record.channel, record.error) == (
            kind, State(state), 1, "", error)
        history = ledger.notice_events(key(kind))
        assert [e.state for e in history] == ([State.ATTEMPTING] if state == "attempting"
                                              else [State.ATTEMPTING, State(state)])
        assert history[0].at == started and history[-1].at == (started if state == "attempting" else finished)
        assert "recorded before notices kept a history" in history[0].detail
    assert ledger.notice_events(key("request:jens-kragh"))[-1].detail == "mail: 421 try later"
    assert ledger.notice_record(key("request:mette-lund")).receipt.provider_id == "<m1@x>"  # type: ignore[union-attr]
    assert [n.kind for n in ledger.uncertain_notices(MESSAGE_ID)] == ["request:sofie-dahl"]

    # From here on, the rule: the failed one is taken up again as attempt 2, once.
    retried, owned = ledger.notice_store.claim(key("request:jens-kragh"), MESSAGE_ID, request_id,
                                               "request:jens-kragh", "mail")
    assert owned and (retried.state, retried.attempts, retried.channel) == (State.ATTEMPTING, 2, "")
    assert ledger.notice_events(key("request:jens-kragh"))[-1].detail == "attempt 2"

    ledger_._engines.pop(url).dispose()
    migrate.downgrade(engine, "0002")  # and back: the notices stay, their history goes
    assert "notice_events" not in tables(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM notices")).scalar_one() == len(old)


# -- a ledger behind head ------------------------------------------------------------------------------------

PROBE = '''"""A revision after the newest real one, for the test: one more table."""

import sqlalchemy as sa
from alembic import op

revision = "probe"
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("schema_probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("schema_probe")
'''


@pytest.fixture
def newer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The packaged migrations plus one more revision, as after installing a newer Budbringer.
    Returns (the packaged head, the new head)."""
    packaged = migrate.head()
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "probe_schema_probe.py").write_text(PROBE.format(down=packaged), encoding="utf-8")
    monkeypatch.setattr(migrate, "MIGRATIONS", folder)
    assert migrate.head() == "probe"
    return packaged, "probe"


def test_a_ledger_behind_head_stops_the_start_until_db_upgrade(
        url: str, engine: sa.Engine, newer: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    packaged, new = newer
    migrate.upgrade(engine, packaged)  # made by the Budbringer before the upgrade

    with pytest.raises(SchemaError) as raised:
        Ledger(url)
    text = str(raised.value)
    assert "\n" not in text
    assert f"has schema revision {packaged}, this Budbringer needs {new}" in text
    assert "run `budbringer db upgrade`" in text
    assert url not in ledger_._engines  # not kept: the next start checks again
    assert versions(engine) == [packaged] and "schema_probe" not in tables(engine)  # nothing changed

    # Any command that opens the ledger says so in one line, and sends nothing.
    ledger_at(url, monkeypatch)
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the ledger at ") and err.count("\n") == 1 and "budbringer db upgrade" in err

    assert cli.main(["db", "current"]) == 1
    assert f"{packaged}, behind head {new}: run `budbringer db upgrade`" in capsys.readouterr().out

    assert cli.main(["db", "upgrade"]) == 0
    assert f"upgraded from {packaged} to {new} (head)" in capsys.readouterr().out
    assert versions(engine) == [new] and "schema_probe" in tables(engine)
    assert cli.main(["db", "upgrade"]) == 0
    assert "nothing to upgrade" in capsys.readouterr().out

    assert Ledger(url).records() == []  # starts now
    assert cli.main(["db", "current"]) == 0


def test_a_ledger_at_a_revision_unknown_here_stops_the_start(url: str, engine: sa.Engine) -> None:
    Ledger(url)
    ledger_._engines.pop(url).dispose()
    with engine.begin() as conn:  # as if a newer Budbringer had upgraded it
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(SchemaError, match="revision 0099, which this Budbringer does not know"):
        Ledger(url)
    with pytest.raises(SchemaError, match="does not know"):
        migrate.ensure(engine)


@pytest.mark.postgres
def test_the_schema_error_never_shows_a_password(request: pytest.FixtureRequest, newer: tuple[str, str]) -> None:
    pg_url = request.getfixturevalue("postgres_url")
    packaged, _ = newer
    engine = database.new_engine(pg_url)
    migrate.upgrade(engine, packaged)
    engine.dispose()
    # The test server trusts its clients, so any password is let in: it only has to stay unseen.
    with_password = sa.make_url(pg_url).set(password="hemmeligt-kodeord").render_as_string(hide_password=False)
    try:
        with pytest.raises(SchemaError) as raised:
            Ledger(with_password)
    finally:
        if (made := ledger_._engines.pop(with_password, None)) is not None:
            made.dispose()
    assert "hemmeligt-kodeord" not in str(raised.value) and ":***@" in str(raised.value)


# -- workers starting together -------------------------------------------------------------------------------

def test_workers_starting_together_create_a_new_ledger_once(url: str, engine: sa.Engine) -> None:
    count = 6
    barrier = threading.Barrier(count)
    outcomes: list[object] = []

    def start() -> None:
        own = database.new_engine(url)  # an engine each, as separate processes have
        try:
            barrier.wait(timeout=60)
            migrate.ensure(own)
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - reported below
            outcomes.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=start) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == ["ok"] * count
    assert versions(engine) == [migrate.head()] and differences(engine) == []


def test_the_migrations_ship_in_the_package() -> None:
    """pyproject's package-data lists these patterns: every file the migrations need matches one of them."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "budbringer.ledger"]
    package = root / "budbringer" / "ledger"
    needed = [p for p in (package / "migrations").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {p.name for p in needed} >= {"env.py", "script.py.mako", "alembic.ini", "0001_baseline.py"}
    unshipped = [str(p.relative_to(package)) for p in needed
                 if not any(p.relative_to(package).match(pattern) for pattern in patterns)]
    assert unshipped == []
    assert "budbringer.ledger" in tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]



def test_the_newest_revision_by_file_name_is_alembics_head() -> None:
    """`ensure` reads the head from the file names to spare Alembic's import at every start: the packaged
    migrations must be numbered so that the newest is the head."""
    assert migrate.newest_shipped() == migrate.head()


def test_a_revision_file_named_otherwise_leaves_the_head_to_alembic(newer: tuple[str, str]) -> None:
    assert migrate.newest_shipped() is None  # the probe's file is not numbered: Alembic decides
