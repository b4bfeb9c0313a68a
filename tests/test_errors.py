"""One line, never a traceback (issue 21, item 5): each case ends the command with one line that names what is
wrong and what to do, and exits 1 (docs/security.md, "Errors")."""

from __future__ import annotations

import copy
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from budbringer import approval_request, cascade
from budbringer.adapters.outbox import OutboxAdapter
from budbringer.delivery import Delivery
from budbringer.errors import PermanentDeliveryError
from budbringer import cli
from budbringer.ledger import Ledger
from budbringer.ledger.delivery_store import short_key
from tests.conftest import PLAN, ROOT, memory_plan, pinned_environment, write_plan
from tests.servers.https import Fault, HTTPSServer
from tests.servers.linkedin import LinkedInEmulator

BUDBRINGER = Path(sys.executable).parent / "budbringer"
MESSAGE_ID = "2026-11-status-udbud"
TOKEN = "AQX-test-token-errors-5c1e"
ORGANIZATION = "2414183"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The whole of stderr is one `error:` line (after the temporary server's one line, if it started)."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("Starting a temporary Prefect")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def process(folder: Path, *argv: str | Path, timeout: float = 180, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDBRINGER_", "PREFECT_API"))}
    env.update({"BUDBRINGER_HOME": str(folder / ".budbringer"), "PYTHONPATH": str(ROOT),
                "PREFECT_HOME": str(folder / "prefect-home"), **extra})
    return subprocess.run([str(BUDBRINGER), *map(str, argv)], cwd=folder, env=pinned_environment(env),
                          capture_output=True, text=True, timeout=timeout)


# approve twice --------------------------------------------------------------------------------------------


def test_approve_twice_says_already_recorded(workdir: Path, message_copy: Path, example_clock: object,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    plan = memory_plan(workdir)
    approval_request.open_request(cascade.prepare(plan, message_copy), Ledger())
    code, out, _ = run(capsys, "--plan", plan, "approve", message_copy, "--by", "Jens Kragh")
    assert code == 0 and "Jens Kragh's approval of 2026-11-status-udbud is recorded" in out

    code, out, err = run(capsys, "--plan", plan, "approve", message_copy, "--by", "jens kragh")
    assert code == 0, err
    assert out.startswith("already recorded: Jens Kragh's approval of 2026-11-status-udbud (")
    assert "nothing changed; still needed: 1 of 2 required members" in out

    code, out, err = run(capsys, "--plan", plan, "approve", message_copy, "--by", "Jens Kragh", "--reject",
                         "--comment", "Nej alligevel")
    assert code == 1 and out == ""
    assert "Jens Kragh already decided on 2026-11-status-udbud (approval, " in one_line(err)
    assert "the first decision stands" in err
    request = Ledger().request(MESSAGE_ID)
    assert request is not None and request.state == "open"
    assert [(v.voter, v.decision) for v in Ledger().votes(request.id)] == [("Jens Kragh", "approve")]


# the database URL -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "said"), [
    ("mysql+mysqldb://budbringer:hemmelig@db.example/ledger", "its driver (MySQLdb) is not installed"),
    ("postgresql+psycopg://budbringer:hemmelig@db.example:fem/ledger", "the port 'fem' is not a number"),
    ("nosuchdb://db.example/ledger", "SQLAlchemy knows no database type 'nosuchdb'"),
    ("ledger.db", "it is not a database URL SQLAlchemy can read"),
])
@pytest.mark.parametrize("command", [["status"], ["db", "current"], ["db", "backup", "copy.db"]])
def test_an_unusable_database_url_is_one_line(workdir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, url: str, said: str,
                                              command: list[str]) -> None:
    monkeypatch.setenv("BUDBRINGER_DATABASE_URL", url)
    code, out, err = run(capsys, *command)
    assert code == 1 and out == ""
    line = one_line(err)
    assert line.startswith("error: BUDBRINGER_DATABASE_URL (") and said in line
    assert "hemmelig" not in err
    assert "postgresql+psycopg://HOST:5432/DATABASE" in line or "write the port as digits" in line


# the outbox -------------------------------------------------------------------------------------------------


def _outbox_plan(workdir: Path, path: str) -> Path:
    return write_plan(workdir, {"channels": {"mail": {"type": "outbox", "path": path}}})


def test_check_refuses_an_outbox_that_is_a_file(workdir: Path, message_copy: Path, example_clock: object,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "outbox-file").write_text("not a folder", encoding="utf-8")
    code, _, err = run(capsys, "--plan", _outbox_plan(workdir, "outbox-file"), "check", message_copy)
    assert code == 1 and "Traceback" not in err
    assert "plan.yaml: channels.mail.path: outbox-file is a file, not a folder" in err
    assert "fix: point the channel's `path` at a folder you can write to" in err
    code, _, err = run(capsys, "--plan", _outbox_plan(workdir, "outbox-file/sub"), "check", message_copy)
    assert code == 1 and "outbox-file (on the way to outbox-file/sub) is a file, not a folder" in err


def test_check_refuses_an_outbox_that_cannot_be_written(workdir: Path, message_copy: Path, example_clock: object,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """/proc refuses a new file even to root (permission bits alone would not: tests may run as root)."""
    code, _, err = run(capsys, "--plan", _outbox_plan(workdir, "/proc/budbringer-outbox"), "check", message_copy)
    assert code == 1 and "Traceback" not in err
    assert "plan.yaml: channels.mail.path: /proc/budbringer-outbox cannot be written to (" in err
    assert not list(workdir.rglob("*.eml"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
def test_check_refuses_a_read_only_outbox(workdir: Path, message_copy: Path, example_clock: object,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "outbox").mkdir()
    (workdir / "outbox").chmod(0o555)
    try:
        code, _, err = run(capsys, "--plan", _outbox_plan(workdir, "outbox"), "check", message_copy)
    finally:
        (workdir / "outbox").chmod(0o755)
    assert code == 1 and "plan.yaml: channels.mail.path: outbox cannot be written to (Permission denied" in err


def test_an_outbox_write_that_fails_is_a_permanent_failure_not_uncertain(workdir: Path, message_copy: Path,
                                                                          example_clock: object) -> None:
    """Written whole or not at all: a failed write delivered nothing, so the delivery failed (never uncertain)."""
    (workdir / "outbox-file").write_text("not a folder", encoding="utf-8")
    prepared = cascade.prepare(memory_plan(workdir), message_copy)
    variant = prepared.variants[0]
    adapter = OutboxAdapter.from_config("mail", {"path": "outbox-file"}, os.environ)
    with pytest.raises(PermanentDeliveryError, match="cannot be written") as raised:
        adapter.deliver(Delivery(MESSAGE_ID, variant, "mail", approval_id=1))
    assert "point the channel's `path` at a folder" in raised.value.fix


@pytest.mark.slow
def test_send_with_an_unusable_outbox_is_one_line_and_sends_nothing(workdir: Path, message_copy: Path) -> None:
    plan = _outbox_plan(workdir, "/proc/budbringer-outbox")
    done = process(workdir, "--plan", plan, "send", message_copy, "--approved-by", "Mette Lund",
                   "--approval-ref", "x")
    assert done.returncode == 1
    assert "error: 1 problem found; nothing was sent:" in done.stderr and "Traceback" not in done.stderr
    assert "/proc/budbringer-outbox cannot be written to" in done.stderr
    assert Ledger().records() == []


# a plan with 1,500 fora ---------------------------------------------------------------------------------------


def test_a_plan_with_1500_fora_loads_and_checks(workdir: Path, message_copy: Path, example_clock: object,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Written out in full (no aliases) it has about 40,000 YAML values; aliases may add 20,000 to that. 100
    of the fora are in use (every variant is rendered; one message sent to hundreds: tests/test_many_fora.py),
    the rest wait for a later phase."""
    base = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    base["templates"] = str(ROOT / "templates")
    model = base["fora"]["intranet_local"]
    for number in range(1500):
        forum = copy.deepcopy(model)
        forum["title"] = f"Lokal intranetside {number:04d}"
        forum["sites"] = [f"socialomraadet.sharepoint.example/sites/omraade-{number:04d}"]
        if number >= 100:
            forum.update({"enabled": False, "disabled_reason": "En senere fase."})
        base["fora"][f"site_{number:04d}"] = forum
        base["tiers"][2]["fora"].append(f"site_{number:04d}")
    plan = workdir / "big.yaml"
    plan.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    assert plan.stat().st_size > 512 * 1024  # over the former limit of the file too

    code, out, err = run(capsys, "--plan", plan, "plan")
    assert code == 0, err
    assert "Lokal intranetside 1499 (site_1499)" in out
    code, out, err = run(capsys, "--plan", plan, "check", message_copy)
    assert code == 0, err
    assert "112 variants rendered" in out and "ok: nothing was sent" in out


# the ledger copy and `db backup` ------------------------------------------------------------------------------


def _requests_in(copy_: Path) -> int:
    with sqlite3.connect(copy_) as db:
        return db.execute("SELECT count(*) FROM approval_requests").fetchone()[0]


@pytest.mark.slow
def test_a_copy_of_ledger_db_right_after_a_waiting_send_shows_the_request(workdir: Path, message_copy: Path,
                                                                          tmp_path: Path) -> None:
    done = process(workdir, "--plan", memory_plan(workdir), "send", message_copy)
    assert done.returncode == 0, done.stderr
    assert "Approval of 2026-11-status-udbud was requested (request 1" in done.stdout
    ledger = workdir / ".budbringer" / "ledger.db"
    wal = ledger.with_name("ledger.db-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed at the command's end
    alone = tmp_path / "copied" / "ledger.db"
    alone.parent.mkdir()
    shutil.copy(ledger, alone)  # the file alone, as `cp ledger.db` takes it
    assert _requests_in(alone) == 1


def test_db_backup_copies_a_ledger_in_use(workdir: Path, message_copy: Path, example_clock: object,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    plan = memory_plan(workdir)
    approval_request.open_request(cascade.prepare(plan, message_copy), Ledger())
    writer = sqlite3.connect(workdir / ".budbringer" / "ledger.db")  # another process's open, uncommitted work
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN")
    writer.execute("UPDATE approval_requests SET title = 'uncommitted'")
    try:
        code, out, err = run(capsys, "--plan", plan, "db", "backup", "backup.db")
    finally:
        writer.rollback()
        writer.close()
    assert code == 0, err
    assert out.startswith(f"ledger backed up to {(workdir / 'backup.db').resolve()} (")
    assert _requests_in(workdir / "backup.db") == 1
    assert oct((workdir / "backup.db").stat().st_mode & 0o777) == "0o600"
    assert not (workdir / "backup.db-wal").exists()
    with sqlite3.connect(workdir / "backup.db") as db:
        assert db.execute("SELECT title FROM approval_requests").fetchone()[0] != "uncommitted"

    code, _, err = run(capsys, "--plan", plan, "db", "backup", "backup.db")
    assert code == 1
    assert "backup.db exists already: give the backup a new file name (nothing was overwritten)" in one_line(err)


def test_db_backup_of_postgresql_says_pg_dump(workdir: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUDBRINGER_DATABASE_URL", "postgresql+psycopg://budbringer:hemmelig@db.example:5432/ledger")
    code, out, err = run(capsys, "db", "backup", "ledger.dump")
    assert code == 1 and out == ""
    line = one_line(err)
    assert "not SQLite: back it up with PostgreSQL's own tool, e.g. pg_dump --format=custom --file ledger.dump " \
           "'postgresql://budbringer:***@db.example:5432/ledger'" in line
    assert "hemmelig" not in err and not (workdir / "ledger.dump").exists()


# send: a locked ledger, an uncertain LinkedIn post --------------------------------------------------------------


@pytest.mark.slow
def test_a_locked_ledger_during_send_is_one_line(workdir: Path, message_copy: Path) -> None:
    """Another process holds the ledger's write lock for longer than a command waits (30 s)."""
    plan = memory_plan(workdir)
    Ledger().records()  # the ledger exists, at the newest revision
    holder = sqlite3.connect(workdir / ".budbringer" / "ledger.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = process(workdir, "--plan", plan, "send", message_copy, "--approved-by", "Mette Lund",
                       "--approval-ref", "x")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.endswith("database is locked; another process holds the ledger: wait for it to finish, then "
                         "try again")
    assert Ledger().approvals_for(MESSAGE_ID) == []


@pytest.fixture
def linkedin(ca: object) -> Iterator[HTTPSServer]:
    with HTTPSServer(LinkedInEmulator(TOKEN, ORGANIZATION), ca) as server:
        yield server


@pytest.mark.slow
def test_an_uncertain_linkedin_post_says_to_resolve_without_a_traceback(workdir: Path, message_copy: Path,
                                                                        linkedin: HTTPSServer) -> None:
    """LinkedIn answers 503 to the post (it may have acted): uncertain, as designed, never posted twice; the
    command ends with the delivery's short key and `budbringer resolve`, not Prefect's traceback."""
    emulator = linkedin.emulator
    with emulator.lock:
        emulator.faults.append(Fault("status", match=lambda r: r.method == "POST", status=503, times=99))
    base = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    base["templates"] = str(ROOT / "templates")
    base["channels"]["linkedin"] = {"type": "linkedin", "reconcile_delay": 0.0, "retry": {
        "attempts": 2, "budget": 5.0, "backoff_initial": 0.01, "backoff_max": 0.02, "max_retry_after": 0.05}}
    plan = workdir / "linkedin-plan.yaml"
    plan.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    done = process(workdir, "--plan", plan, "send", message_copy, "--approved-by", "Mette Lund",
                   "--approval-ref", "x", BUDBRINGER_LINKEDIN_URL=linkedin.url, BUDBRINGER_LINKEDIN_TOKEN=TOKEN,
                   BUDBRINGER_LINKEDIN_ORGANIZATION=ORGANIZATION,
                   REQUESTS_CA_BUNDLE=os.environ["REQUESTS_CA_BUNDLE"])
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "Finished in state" not in done.stderr
    [record] = [r for r in Ledger().records(MESSAGE_ID) if r.forum == "linkedin"]
    assert record.state == "uncertain"
    assert f"check with the provider, then: budbringer resolve {short_key(record.key)} sent|resend" in done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"error: 1 of \d+ deliveries did not succeed: linkedin uncertain; settle each uncertain "
                        r"delivery with `budbringer resolve` as shown above .*", last), done.stderr
    assert emulator.created() == []


# the temporary Prefect server's home ----------------------------------------------------------------------------


def test_a_damaged_prefect_database_is_one_line(workdir: Path, message_copy: Path) -> None:
    home = workdir / "prefect-home"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"\x00garbage, not SQLite\n" * 500)
    done = process(workdir, "--plan", memory_plan(workdir), "send", message_copy, "--approved-by", "Mette Lund",
                   "--approval-ref", "x", timeout=120)
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert f"the Prefect database {home / 'prefect.db'} is damaged (not a readable SQLite database)" in line
    assert f"move it aside (mv {home / 'prefect.db'} {home / 'prefect.db'}.damaged) and send again" in line
    assert Ledger().records() == []


@pytest.mark.slow
def test_a_damaged_prefect_database_behind_a_good_header_is_one_line(workdir: Path, message_copy: Path) -> None:
    """The file starts like SQLite, but its pages are not: the server fails at its start, and is not restarted."""
    home = workdir / "prefect-home"
    home.mkdir()
    (home / "prefect.db").write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 400)
    done = process(workdir, "--plan", memory_plan(workdir), "send", message_copy, "--approved-by", "Mette Lund",
                   "--approval-ref", "x", timeout=170)
    assert done.returncode == 1
    assert "is damaged (not a readable SQLite database)" in one_line(done.stderr)
    assert done.stderr.count("Traceback") == 0
    assert (home / "budbringer-temporary-server.log").is_file()  # the server's own output went there


@pytest.mark.slow
def test_two_first_sends_on_a_new_prefect_home_both_deliver(workdir: Path, message_copy: Path) -> None:
    plan = memory_plan(workdir)
    results: list[subprocess.CompletedProcess] = []

    def send(number: int) -> None:
        results.append(process(workdir, "--plan", plan, "send", message_copy, "--approved-by", "Mette Lund",
                               "--approval-ref", "x", timeout=300,
                               BUDBRINGER_HOME=str(workdir / f"ledger-{number}")))

    threads = [threading.Thread(target=send, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for done in results:
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        assert "12 delivered now, 0 delivered before." in done.stdout
    # the new home's database came from the shipped seed (flows/prefect_seed.py), under the first-start lock
    from budbringer.flows import prefect_seed

    seed = prefect_seed.shipped()
    assert seed is not None
    assert prefect_seed.revision(workdir / "prefect-home" / "prefect.db") == seed.name.removesuffix(".sqlite.gz")
    log = (workdir / "prefect-home" / "budbringer-temporary-server.log").read_text(encoding="utf-8")
    assert log.count("created from Budbringer's empty Prefect database") == 1  # once, by one of the two
