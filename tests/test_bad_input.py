"""Bad input and misuse (issue 11): the holes found when the tool was attacked as a careless or hostile user
would. Each case ends in one clear error line (never a traceback), discloses no file, and sends nothing.
"""

from __future__ import annotations

import os
import re
import resource
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from budbringer import approval, approval_request, cascade
from budbringer import cli
from budbringer.adapters import memory
from budbringer.errors import ApprovalError, InputError
from budbringer.ledger import Ledger
from tests.conftest import MESSAGE, PLAN, ROOT, memory_plan, write_plan

BUDBRINGER = Path(sys.executable).parent / "budbringer"
MESSAGE_ID = "2026-11-status-udbud"
SECRET_LINE = "root:$6$hunter2hunter2$Zm9vYmFy:19000:0:99999:7:::"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(err: str) -> str:
    """The error output is one `error:` report and no traceback."""
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    return err


def environment(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDBRINGER_", "PREFECT_API"))}
    env.update({"BUDBRINGER_HOME": str(folder / ".budbringer"), "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


def process(folder: Path, *argv: str | Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BUDBRINGER), *map(str, argv)], cwd=folder, env=environment(folder, **extra),
                          capture_output=True, text=True, timeout=timeout)


def edit_front(message: Path, old: str, new: str) -> None:
    text = message.read_text(encoding="utf-8")
    assert old in text
    message.write_text(text.replace(old, new, 1), encoding="utf-8")


# 1. The override is the chair's alone, whichever way it is given ------------------------------------------


def test_members_without_the_chair_cannot_override_the_order(workdir: Path, message_copy: Path) -> None:
    prepared = cascade.prepare(memory_plan(workdir), message_copy)
    for approved_by in ("Jens Kragh, Sofie Dahl", "Styregruppen", "jens kragh, sofie dahl, lars bech"):
        with pytest.raises(ApprovalError, match=r"only the chair \(Mette Lund\) may override the order"):
            cascade.record_approval(prepared, Ledger(), approved_by, "ref", override_order=True,
                                    override_reason="nu")
    assert Ledger().approvals_for(MESSAGE_ID) == []
    # Without the override the same members approve; with the chair among them the override stands.
    assert cascade.record_approval(prepared, Ledger(), "Jens Kragh, Sofie Dahl", "ref").override_order is False
    granted = cascade.record_approval(prepared, Ledger(), "Sofie Dahl, mette lund", "ref", override_order=True,
                                      override_reason="nu")
    assert granted.override_order and granted.approved_by == "Sofie Dahl, Mette Lund"


def test_the_cli_refuses_an_override_by_members_before_prefect_starts(workdir: Path, message_copy: Path) -> None:
    done = process(workdir, "--plan", memory_plan(workdir), "send", message_copy, "--approved-by",
                   "Jens Kragh, Sofie Dahl", "--approval-ref", "x", "--override-order", "--reason", "nu", timeout=60)
    assert done.returncode == 1
    assert one_error(done.stderr).startswith("error: only the chair (Mette Lund) may override the order")
    assert len(done.stderr.strip().splitlines()) == 1
    assert Ledger().approvals_for(MESSAGE_ID) == [] and Ledger().records() == []


def test_a_deployment_parameter_cannot_override_without_the_chair(prefect_api: None, workdir: Path,
                                                                  message_copy: Path) -> None:
    """The flow's `override_order` parameter (as a deployment run passes it) meets the same rule."""
    from budbringer.flows.send import send_flow

    with pytest.raises(ApprovalError, match="only the chair"):
        send_flow(message=str(message_copy), approved_by="Jens Kragh, Sofie Dahl", approval_ref="x",
                  plan=str(memory_plan(workdir)), override_order=True, reason="nu", wait_for_approval=False)
    assert memory.SENT == [] and Ledger().records() == [] and Ledger().approvals_for(MESSAGE_ID) == []


def test_an_in_run_approval_by_members_cannot_carry_the_override(workdir: Path, message_copy: Path) -> None:
    prepared = cascade.prepare(memory_plan(workdir), message_copy)
    by_members = cascade.record_approval(prepared, Ledger(), "Jens Kragh, Sofie Dahl", "request 1")
    with pytest.raises(ApprovalError, match="only the chair"):
        approval_request.with_override(by_members, prepared.plan, Ledger(), "nu")
    assert [a.override_order for a in Ledger().approvals_for(MESSAGE_ID)] == [False]


def test_approved_by_is_stored_as_the_plan_spells_it(workdir: Path, message_copy: Path) -> None:
    prepared = cascade.prepare(memory_plan(workdir), message_copy)
    stored = cascade.record_approval(prepared, Ledger(), "  mette LUND ", "ref")
    assert stored.approved_by == "Mette Lund"
    stored = cascade.record_approval(prepared, Ledger(), "jens.kragh@socialomraadet.example; SOFIE DAHL", "ref")
    assert stored.approved_by == "Jens Kragh, Sofie Dahl"
    assert cascade.record_approval(prepared, Ledger(), "styregruppen", "ref").approved_by == "Styregruppen"


# 2. A plan path never discloses a file --------------------------------------------------------------------


def test_a_file_that_is_not_a_plan_is_refused_without_its_content(workdir: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    shadow = workdir / "shadow.yaml"
    shadow.write_text(f"{SECRET_LINE}\ndaemon: '*:19000:0:99999:7:::'\nbin: x\n", encoding="utf-8")
    passwd = workdir / "passwd"
    passwd.write_text(f"root: {SECRET_LINE}\n", encoding="utf-8")
    overlay = workdir / "overlay.yaml"
    overlay.write_text(f"extends: {shadow}\nname: x\n", encoding="utf-8")
    for plan, field in ((shadow, "(top level)"), (passwd, "(file)"), (overlay, "extends")):
        for command in (["plan"], ["check", MESSAGE]):
            code, out, err = run(capsys, "--plan", plan, *command)
            assert code == 1
            one_error(err)
            assert f": {field}: " in err
            for secret in ("hunter2", "root", "daemon", "19000", "bin"):
                assert secret not in err.replace(str(workdir), "") and secret not in out


def test_keys_are_quoted_cut_short(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long_key = "k" * 300
    plan = write_plan(workdir, {"fora": {"hmu": {long_key: 1}}, "name": "z" * 5000 + "@"})
    code, _, err = run(capsys, "--plan", plan, "plan")
    assert code == 1
    assert "fora.hmu." + "k" * 39 + "…: is not a known field" in one_error(err)
    assert "k" * 41 not in err


def test_a_fifo_as_plan_or_message_is_refused_at_once(workdir: Path) -> None:
    fifo = workdir / "plan.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    done = process(workdir, "--plan", fifo, "plan", timeout=30)
    assert done.returncode == 1
    assert "plan.yaml: (file): is a FIFO (named pipe), not a regular file" in one_error(done.stderr)
    done = process(workdir, "check", fifo, timeout=30)
    assert done.returncode == 1 and "is a FIFO" in one_error(done.stderr)
    assert time.monotonic() - started < 30


# 3. YAML alias bombs -------------------------------------------------------------------------------------

BOMB = "".join(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9) if i else '1, 2, 3, 4, 5, 6, 7, 8, 9'}]\n"
               for i in range(9))


def _limited(limit_bytes: int = 1_500_000_000):  # noqa: ANN202 - a preexec_fn
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return apply


def test_an_alias_bomb_in_a_plan_is_refused_at_once(workdir: Path) -> None:
    plan = workdir / "bomb.yaml"
    plan.write_text(f"extends: {PLAN}\n{BOMB}", encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run([str(BUDBRINGER), "--plan", str(plan), "plan"], cwd=workdir, env=environment(workdir),
                          capture_output=True, text=True, timeout=120, preexec_fn=_limited())
    assert done.returncode == 1
    assert re.search(r"bomb\.yaml:\d+: \(aliases\): its aliases \(\*name\) add more than 20,000 values",
                     one_error(done.stderr))
    assert time.monotonic() - started < 60


def test_aliases_in_message_front_matter_are_refused(workdir: Path, message_copy: Path) -> None:
    edit_front(message_copy, "date: 2026-11-23\n", "date: 2026-11-23\n" + BOMB)
    done = subprocess.run([str(BUDBRINGER), "check", str(message_copy)], cwd=workdir, env=environment(workdir),
                          capture_output=True, text=True, timeout=120, preexec_fn=_limited())
    assert done.returncode == 1
    assert "(aliases): uses a YAML alias (*name)" in one_error(done.stderr)
    small = message_copy.read_text(encoding="utf-8").replace(BOMB, "author: &a navn@socialomraadet.example\n"
                                                                   "x: *a\n")
    message_copy.write_text(small, encoding="utf-8")
    with pytest.raises(InputError, match=r"uses a YAML alias"):
        cascade.prepare(PLAN, message_copy)


def test_a_self_referring_alias_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = workdir / "loop.yaml"
    plan.write_text(f"extends: {PLAN}\nfora: &f {{oc: *f}}\n", encoding="utf-8")
    code, _, err = run(capsys, "--plan", plan, "plan")
    assert code == 1 and "refers to the value that contains it" in one_error(err)


# 4. The message size limit ---------------------------------------------------------------------------------

PARAGRAPH = "Vi skriver en lang og grundig orientering om udbuddet, så alle ved, hvad der sker næste gang.\n\n"


def test_a_message_too_big_to_send_is_refused_by_check(workdir: Path, message_copy: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    message_copy.write_text(message_copy.read_text(encoding="utf-8") + PARAGRAPH * 900, encoding="utf-8")
    assert message_copy.stat().st_size > 83_000
    code, out, err = run(capsys, "--plan", PLAN, "check", message_copy)
    assert code == 1 and "ok" not in out
    assert re.search(r"\(file\): is [\d,]+ bytes; at most 32,768 are read", one_error(err))


# 5. One clear line, never a traceback ------------------------------------------------------------------


def test_invalid_utf8_and_utf16_files(workdir: Path, message_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = message_copy.read_bytes()
    message_copy.write_bytes(raw.replace("Status".encode(), b"St\xc3\x28tus", 1))
    code, _, err = run(capsys, "--plan", PLAN, "check", message_copy)
    assert code == 1 and re.search(r":\d+: \(file\): is not valid UTF-8", one_error(err))
    message_copy.write_bytes(raw.decode("utf-8").encode("utf-16"))
    code, _, err = run(capsys, "--plan", PLAN, "check", message_copy)
    assert code == 1 and "(file): is UTF-16 text" in one_error(err) and "save it as UTF-8" in err
    plan = workdir / "plan.yaml"
    plan.write_bytes(PLAN.read_bytes().decode("utf-8").encode("utf-16-le"))
    code, _, err = run(capsys, "--plan", plan, "plan")
    assert code == 1 and "(file): is not valid UTF-8" in one_error(err)


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-45", "!!int abc", "!!float abc", "!!timestamp foo"])
def test_a_value_yaml_cannot_build_in_front_matter(workdir: Path, message_copy: Path, value: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    edit_front(message_copy, "date: 2026-11-23\n", f"date: {value}\n")
    line = next(n for n, row in enumerate(message_copy.read_text(encoding="utf-8").splitlines(), 1)
                if row.startswith("date:"))
    code, _, err = run(capsys, "--plan", PLAN, "check", message_copy)
    assert code == 1
    assert f"{message_copy}:{line}: (syntax): holds a value that cannot be read as its type" in one_error(err)


def test_an_extends_cycle(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "a.yaml").write_text("extends: b.yaml\nname: a\n", encoding="utf-8")
    (workdir / "b.yaml").write_text("extends: a.yaml\nname: b\n", encoding="utf-8")
    (workdir / "self.yaml").write_text("extends: self.yaml\n", encoding="utf-8")
    code, _, err = run(capsys, "--plan", workdir / "a.yaml", "plan")
    assert code == 1 and "b.yaml:1: extends: forms a cycle (a.yaml → b.yaml → a.yaml)" in one_error(err)
    code, _, err = run(capsys, "--plan", workdir / "self.yaml", "plan")
    assert code == 1 and "forms a cycle (self.yaml → self.yaml)" in one_error(err)


@pytest.mark.parametrize("url, said", [
    ("not a url", "it is not a database URL SQLAlchemy can read"),
    ("nosuchdialect://host/db", "SQLAlchemy knows no database type 'nosuchdialect'"),
    ("postgresql+psycopg://bud:hunter2@127.0.0.1:1/ledger", "Connection refused"),
])
def test_a_ledger_with_a_bad_url_or_unreachable(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str], url: str, said: str) -> None:
    monkeypatch.setenv("BUDBRINGER_DATABASE_URL", url)
    code, _, err = run(capsys, "status")
    assert code == 1 and said in one_error(err) and len(err.strip().splitlines()) == 1
    assert "hunter2" not in err


def test_a_corrupt_ledger(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = workdir / ".budbringer"
    home.mkdir(exist_ok=True)
    (home / "ledger.db").write_bytes(b"this is not a database\n" * 100)
    code, _, err = run(capsys, "status")
    assert code == 1
    assert "cannot be used: file is not a database; the file is damaged" in one_error(err)


@pytest.mark.slow  # it waits out SQLite's busy timeout (30 s, fixed in budbringer/ledger/database.py)
def test_a_locked_ledger(workdir: Path) -> None:
    """Another process holds the SQLite file exclusively: after SQLite's wait (30 s), one line."""
    database = workdir / "locked.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = process(workdir, "status", timeout=180, BUDBRINGER_DATABASE_URL=f"sqlite:///{database}")
    finally:
        holder.close()
    assert done.returncode == 1
    assert "cannot be used: database is locked; another process holds the ledger" in one_error(done.stderr)


def test_preview_out_an_existing_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = workdir / "notes.txt"
    target.write_text("mine\n", encoding="utf-8")
    code, _, err = run(capsys, "--plan", PLAN, "preview", MESSAGE, "--out", target)
    assert code == 1 and "notes.txt: --out: is an existing file" in one_error(err)
    assert target.read_text(encoding="utf-8") == "mine\n"


def test_status_into_a_closed_pipe(workdir: Path) -> None:
    prepared = cascade.prepare(PLAN, MESSAGE)
    ledger = Ledger()
    approved = cascade.record_approval(prepared, ledger, "Mette Lund", "ref")
    for delivery in cascade.deliveries(prepared, approved):
        ledger.claim(delivery)
    reader = subprocess.Popen([str(BUDBRINGER), "status"], cwd=workdir, env=environment(workdir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # as `| head` does once it has its lines
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 1
    assert err == ""


def test_an_approver_who_is_not_a_member_is_refused_before_prefect(workdir: Path, message_copy: Path) -> None:
    done = process(workdir, "send", message_copy, "--approved-by", "Hans Hansen", "--approval-ref", "x",
                   timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: Hans Hansen may not approve: only members of Styregruppen (Mette Lund, Jens Kragh, Sofie Dahl, "
        "Lars Bech) or the group itself may"]
    assert Ledger().records() == []


# 6. Weak answers -----------------------------------------------------------------------------------------


def test_an_empty_approved_by_is_refused(workdir: Path, message_copy: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    for empty in ("", " ", ", ;"):
        code, _, err = run(capsys, "--plan", memory_plan(workdir), "send", message_copy, "--approved-by", empty,
                           "--approval-ref", "x")
        assert code == 1 and "--approved-by names nobody" in one_error(err)
    assert Ledger().request(MESSAGE_ID) is None and memory.SENT == []


def test_a_member_without_a_name_is_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    members = yaml.safe_load(PLAN.read_text(encoding="utf-8"))["approval"]["members"]
    for bad, what in (("", "is empty"), ("  ", "is empty"), ("Lund, Mette", "is not a person's name")):
        plan = write_plan(workdir, {"approval": {"members": [*members, {"name": bad, "email": "x@y.example"}]}})
        code, _, err = run(capsys, "--plan", plan, "plan")
        assert code == 1 and f"approval.members[4].name: {what}" in one_error(err)


def test_an_outbox_sender_with_a_line_break_is_refused_by_check(workdir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(workdir, {"channels": {"mail": {"sender": "a@b.example\r\nBcc: all@c.example"}}})
    code, out, err = run(capsys, "--plan", plan, "check", MESSAGE)
    assert code == 1 and "ok" not in out
    assert "channels.mail.sender: is not an e-mail address" in one_error(err)


@pytest.mark.parametrize("link", ['https://x.example/"><script>alert(1)</script>', "https://x.example/a b",
                                  "https://user:password@x.example/", "https://x.example:99999/",
                                  "https:///path-without-host"])
def test_a_link_must_be_a_clean_https_url(workdir: Path, message_copy: Path, link: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    text = message_copy.read_text(encoding="utf-8")
    message_copy.write_text(re.sub(r"^link: .*$", f"link: '{link}'", text, count=1, flags=re.M), encoding="utf-8")
    code, _, err = run(capsys, "--plan", PLAN, "check", message_copy)
    assert code == 1 and re.search(r":\d+: link: ", one_error(err))
    assert "password" not in err.split("link:", 1)[1].split("fix:")[0] or "user name or password" in err


def test_urls_with_credentials_are_masked(workdir: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    hook = "http://prod.example/workflows/1/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=S3CRETSIG"
    data = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    data["channels"]["website"] = {"type": "webhook", "url": hook, "secret_env": "HOOK_SECRET"}
    data["templates"] = str(ROOT / "templates")
    plan = workdir / "webhook-plan.yaml"
    plan.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code, _, err = run(capsys, "--plan", plan, "check", MESSAGE)
    assert code == 1 and "sig=***" in one_error(err) and "S3CRETSIG" not in err.upper()
    monkeypatch.setenv("BUDBRINGER_DATABASE_URL", "postgresql+psycopg://bud:hunter2@127.0.0.1:1/ledger")
    code, _, err = run(capsys, "status")
    assert code == 1 and "bud:***@127.0.0.1:1" in err and "hunter2" not in err
    from budbringer.errors import mask_urls

    assert mask_urls("x https://u:p@h/?token=t&a=1 y") == "x https://u:***@h/?token=***&a=1 y"


def test_concurrent_sends_each_say_what_they_delivered(prefect_api: None, workdir: Path, message_copy: Path) -> None:
    """Two `send`s of the same message at once: together they deliver each forum once, and each one's
    count and table say what *it* delivered (before, each said "12 delivered now")."""
    from prefect.settings import PREFECT_API_URL

    env = environment(workdir, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    argv = [str(BUDBRINGER), "send", str(message_copy), "--approved-by", "Mette Lund", "--approval-ref", "x"]
    runs = [subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run_.communicate(timeout=300) for run_ in runs]
    assert [run_.returncode for run_ in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    counts = []
    for out, _ in outputs:
        found = re.search(r"(\d+) delivered now, (\d+) delivered before\.", out)
        now = int(found.group(1)) if found else 0
        assert found or "Nothing new delivered" in out, out
        rows = [line for line in out.splitlines() if re.match(r"\d\. ", line)]
        assert len(rows) == 12
        header = next(line for line in out.splitlines() if line.startswith("tier "))
        this_run = slice(header.index("this run"), header.index("title"))  # the column of what this send did
        assert sum(line[this_run].strip() == "delivered" for line in rows) == now, out
        counts.append(now)
    assert sum(counts) == 12, counts
    files = [p for p in (workdir / "outbox").rglob("*") if p.is_file()]
    assert len(files) == 12


def test_the_ledger_follows_the_plan_not_the_working_folder(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BUDBRINGER_HOME")
    project = workdir / "project"
    (project / "config").mkdir(parents=True)
    plan = write_plan(project / "config", {})
    prepared = cascade.prepare(plan, MESSAGE)
    (project / ".budbringer").mkdir()
    ledger = Ledger(f"sqlite:///{(project / '.budbringer' / 'ledger.db').resolve()}")
    approved = cascade.record_approval(prepared, ledger, "Mette Lund", "ref")
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run(capsys, "--plan", plan, "status", MESSAGE_ID)
    assert code == 0, err
    assert f"approval {approved.id}: Mette Lund (ref)" in out
    assert not (elsewhere / ".budbringer").exists()
    monkeypatch.setenv("BUDBRINGER_PLAN", str(plan))
    assert Ledger().url == ledger.url
    monkeypatch.setenv("BUDBRINGER_DIR", str(workdir / "checkout"))
    assert Ledger().url == f"sqlite:///{(workdir / 'checkout' / '.budbringer' / 'ledger.db').resolve()}"


def test_a_new_ledger_for_a_plan_that_delivered_before_is_announced(workdir: Path, message_copy: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "outbox" / "2026-10-status").mkdir(parents=True)  # an earlier run delivered to the outbox here
    done = process(workdir, "send", message_copy, "--approved-by", "Hans Hansen", "--approval-ref", "x",
                   timeout=60, BUDBRINGER_HOME=str(workdir / "new-home"))
    assert "WARNING: a NEW, EMPTY ledger is being created at" in done.stderr
    assert f"{(workdir / 'outbox').resolve()} (outbox of channel mail)" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_group_and_names_round_trip_through_approvers() -> None:
    policy = yaml.safe_load(PLAN.read_text(encoding="utf-8"))["approval"]
    from budbringer.plan import ApprovalPolicy

    loaded = ApprovalPolicy.model_validate(policy)
    assert approval.as_spelled(loaded, "METTE LUND, mette lund, Lars Bech") == "Mette Lund, Lars Bech"
    with pytest.raises(ApprovalError, match="no approver given"):
        approval.check_approvers(loaded, " , ")


@pytest.mark.usefixtures("before_deadline")
def test_good_input_still_passes(workdir: Path, message_copy: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--plan", PLAN, "check", message_copy)
    assert code == 0 and out.rstrip().endswith("ok: nothing was sent") and err == ""
