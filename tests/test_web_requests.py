"""Requests that can't hurt (issue 21, item 3): a body limit before anything is read, a same-origin check on
every POST, comments cleaned of terminal escape codes and limited in length on every path, a decision that
races another refused with the truth, `/` and `/plan` behind sign-in when the plan requires it, and a ledger
readable by its owner only. docs/security.md, "Requests", lists each case with its test.

The 1 GB POST goes to a real uvicorn in a process of its own (tests/servers/approval_pages.py), whose memory is
read from /proc; the other pages are driven through Starlette's TestClient. The clock is pinned (time-machine)
to a day before the example message's deadline, so the personal links are valid on any real date.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import select
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
import yaml
from fastapi.testclient import TestClient

from budbringer import approval_request, cascade, comment
from budbringer.adapters import memory
from budbringer.approval_request import AlreadyDecided, Decision
from budbringer import cli
from budbringer.ledger import Ledger
from budbringer.web.app import create_app
from tests.conftest import MESSAGE, ROOT, memory_plan
from tests.servers.ports import free_port
from tests.servers.waiting import wait_until

MESSAGE_ID = "2026-11-status-udbud"
LINK = re.compile(r'href="(https?://[^"]+/godkend/[^"]+)"')
WEB_URL = "http://approver.test"
#: a day the example message's approval request is open (its deadline is 2026-12-03)
CLOCK = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
#: a comment as a hostile approver might write it: colours, a bell, a window title (OSC), a clear screen,
#: a C1 control, a NUL and a right-to-left override
ESCAPED = ("Ret \x1b[31mdatoen\x1b[0m\x07 i \x1b]0;pwned\x07afsnit 2.\x1b[2J\x9b1m\x00\r\n"
           "Og \u202etitlen\u202c.")
CLEAN = "Ret datoen i afsnit 2.\nOg titlen."


@pytest.fixture
def pages(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """The example message's approval request, sent to the members (in memory), and the pages for it."""
    monkeypatch.setenv("BUDBRINGER_WEB_URL", WEB_URL)
    monkeypatch.setenv("BUDBRINGER_WEB_SECRET", "web-secret-" + "k3" * 20)
    with time_machine.travel(CLOCK, tick=True):
        (workdir / "messages").mkdir()
        message = workdir / "messages" / MESSAGE.name
        shutil.copy(MESSAGE, message)
        plan = memory_plan(workdir)
        prepared = cascade.prepare(plan, message)
        ledger = Ledger()
        request, _ = approval_request.open_request(prepared, ledger)
        approval_request.send_request(prepared, ledger, request, cascade.channels(prepared.plan))
        yield {"plan": plan, "message": message, "prepared": prepared, "request": request, "ledger": ledger,
               "client": TestClient(create_app(plan, workdir / "messages"))}


def link_of(email: str) -> str:
    mails = {d.variant.recipients[0]: d.variant.body for d in memory.SENT if d.forum.startswith("approval-request")}
    return html.unescape(LINK.findall(mails[email])[0]).removeprefix(WEB_URL)


def text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


JENS, SOFIE = "jens.kragh@socialomraadet.example", "sofie.dahl@socialomraadet.example"


# -- the body limit ---------------------------------------------------------------------------------------


def _memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak) of a process, in kB, from /proc."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def _answer(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _post_chunked(port: int, path: str, total: int, chunk: int = 64 * 1024) -> tuple[bytes, int]:
    """POST `total` bytes in chunks of `chunk` (Transfer-Encoding: chunked, no length), made up as they go:
    stops sending when the server answers or closes. Returns the answer and how many bytes went out."""
    piece = b"%x\r\n" % chunk + b"a" * chunk + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode())
        answered = select.poll()  # not select(): the test process may hold more than 1,024 descriptors by now
        answered.register(sock, select.POLLIN)
        while sent < total:
            if answered.poll(0):
                break  # the server has answered
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += chunk
        return _answer(sock), sent


def _post_declared(port: int, path: str, length: int) -> bytes:
    """A POST whose Content-Length says `length` bytes, of which only the headers are sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {length}\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode())
        return _answer(sock)


def test_a_1_gb_post_is_refused_before_it_is_read_and_the_server_grows_by_at_most_a_few_mb(
        pages: dict, workdir: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.servers.approval_pages", str(pages["plan"]),
                               str(workdir / "messages"), str(port)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)
    try:
        import httpx

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/sundhed", timeout=2).text == "ok"
            except httpx.TransportError:
                return False
        wait_until(healthy, 60, "the approval pages to answer")
        path = link_of(JENS)
        # warm up the refusal's own code (the plan, the template) so that only the body could grow the server
        warm, _ = _post_chunked(port, path, 64 * 1024, chunk=32 * 1024)
        assert warm.startswith(b"HTTP/1.1 413")
        before = _memory_kb(server.pid)

        started = time.monotonic()
        answer, sent = _post_chunked(port, path, 1024 ** 3)
        elapsed = time.monotonic() - started
        declared = _post_declared(port, path, 1024 ** 3)
        after = _memory_kb(server.pid)

        for refused in (answer, declared):
            head, _, body = refused.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413"), head
            assert "Forespørgslen er for stor" in body.decode("utf-8", "replace")
            assert "Der er ikke registreret noget svar" in body.decode("utf-8", "replace")
        growth = (max(after["VmHWM"], after["VmRSS"]) - before["VmRSS"]) / 1024
        print(f"\n1 GB chunked POST: refused after {sent / 1024:,.0f} KiB sent, in {elapsed:.2f} s; server RSS "
              f"{before['VmRSS'] / 1024:.1f} MB before, {after['VmRSS'] / 1024:.1f} MB after, peak "
              f"{after['VmHWM'] / 1024:.1f} MB (growth at most {growth:.1f} MB)")
        assert sent < 64 * 1024 ** 2, "the server went on reading the body"
        assert growth <= 5, f"the server grew by {growth:.1f} MB"
        assert pages["ledger"].votes(pages["request"].id) == []
    finally:
        server.terminate()
        server.wait(10)


def test_a_body_over_the_limit_is_refused_with_413_in_danish_and_one_under_it_is_read(pages: dict) -> None:
    client, path = pages["client"], link_of(JENS)
    big = client.post(path, data={"beslutning": "godkend", "medlem": "Jens Kragh", "fyld": "x" * 20_000})
    assert big.status_code == 413 and "Forespørgslen er for stor" in text(big)
    assert pages["ledger"].votes(pages["request"].id) == []
    # the longest comment allowed, in Danish letters (six bytes each, percent-encoded), is under the limit
    longest = client.post(path, data={"beslutning": "afvis", "medlem": "Jens Kragh",
                                      "bemaerkning": "æ" * comment.MAX_LENGTH})
    assert longest.status_code == 200 and "Budskabet er afvist" in text(longest)


# -- the same-origin check --------------------------------------------------------------------------------


def test_a_post_from_another_site_is_refused_with_403_and_records_nothing(pages: dict) -> None:
    client, path = pages["client"], link_of(JENS)
    form = {"beslutning": "godkend", "medlem": "Jens Kragh"}
    for headers in ({"Origin": "https://angriber.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site", "Origin": WEB_URL},
                    {"Origin": "http://approver.test.angriber.example"}):
        refused = client.post(path, data=form, headers=headers)
        assert refused.status_code == 403, headers
        assert "Svaret kom fra en anden side" in text(refused)
    assert pages["ledger"].votes(pages["request"].id) == []
    same = client.post(path, data=form, headers={"Origin": WEB_URL, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and "Din godkendelse er registreret" in text(same)
    own = client.post(link_of(SOFIE), data={"beslutning": "godkend", "medlem": "Sofie Dahl"},
                      headers={"Origin": "http://testserver"})  # the origin the page was served from
    assert own.status_code == 200 and "Budskabet er nu godkendt" in text(own)


def test_chromiums_own_form_post_under_no_referrer_is_accepted(pages: dict) -> None:
    """Under `Referrer-Policy: no-referrer` Chromium posts the page's own form with `Origin: null`; its
    Sec-Fetch-Site (which no page can set) says same-origin (tests/test_browser.py does it in Chromium)."""
    posted = pages["client"].post(link_of(JENS), data={"beslutning": "godkend", "medlem": "Jens Kragh"},
                                  headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert posted.status_code == 200 and "Din godkendelse er registreret" in text(posted)


# -- comments ---------------------------------------------------------------------------------------------


def test_comment_cleaning_keeps_the_text_and_line_breaks_and_removes_every_control() -> None:
    assert comment.clean(ESCAPED) == CLEAN
    assert comment.clean("  Æbler, øl og år – “citat” 🙂\ttab  ") == "Æbler, øl og år – “citat” 🙂 tab"
    assert comment.clean("\x1b]8;;https://x.example\x1b\\klik\x1b]8;;\x1b\\") == "klik"  # an OSC 8 hyperlink
    for code in [*range(0, 10), *range(11, 32), *range(127, 160)]:
        if chr(code) in "\x1b\x9b\x9d":  # these open a sequence, which the next characters may end
            assert comment.clean(f"a{chr(code)}") == "a"
        else:
            assert comment.clean(f"a{chr(code)}b") in ("ab", "a b", "a\nb"), code


def test_a_comment_with_escape_codes_is_shown_clean_in_status_the_page_and_the_rejection_mail(
        pages: dict, capsys: pytest.CaptureFixture[str]) -> None:
    client = pages["client"]
    done = client.post(link_of(SOFIE), data={"beslutning": "afvis", "medlem": "Sofie Dahl", "bemaerkning": ESCAPED})
    assert done.status_code == 200 and "Budskabet er afvist" in text(done)
    assert "Ret datoen i afsnit 2." in text(done) and "\x1b" not in done.text and "\u202e" not in done.text
    ledger = pages["ledger"]
    vote = ledger.votes(pages["request"].id)[0]
    assert vote.comment == CLEAN
    request = ledger.request(MESSAGE_ID)
    assert request is not None and request.comment == f"Sofie Dahl: {CLEAN}"

    assert cli.main(["status", MESSAGE_ID, "--plan", str(pages["plan"])]) == 0
    out = capsys.readouterr()
    assert "  Sofie Dahl: reject (personal link," in out.out and "Ret datoen i afsnit 2." in out.out
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", out.out + out.err)

    status = approval_request.evaluate(pages["prepared"], ledger, request)
    assert approval_request.send_rejection(pages["prepared"], ledger, status,
                                           cascade.channels(pages["prepared"].plan)) == "sent"
    mail = next(d.variant for d in memory.SENT if d.forum == "approval-rejection")
    assert "Ret datoen i afsnit 2." in html.unescape(mail.body)
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", mail.subject + mail.body)


def test_a_comment_given_on_the_command_line_is_cleaned_and_one_too_long_is_refused(
        pages: dict, capsys: pytest.CaptureFixture[str]) -> None:
    plan, message = str(pages["plan"]), str(pages["message"])
    assert cli.main(["approve", message, "--plan", plan, "--by", "Lars Bech", "--reject",
                     "--comment", "x" * (comment.MAX_LENGTH + 1)]) != 0
    err = capsys.readouterr().err
    assert "2,001 characters; a comment is at most 2,000" in err and "Traceback" not in err
    assert pages["ledger"].votes(pages["request"].id) == []
    assert cli.main(["approve", message, "--plan", plan, "--by", "Lars Bech", "--reject", "--comment", ESCAPED]) == 0
    out = capsys.readouterr()
    assert "is rejected: Lars Bech: Ret datoen i afsnit 2.\nOg titlen.. Nothing will be sent." in out.out
    assert "\x1b" not in out.out + out.err
    assert pages["ledger"].votes(pages["request"].id)[0].comment == CLEAN


def test_a_too_long_comment_on_the_page_is_refused_in_danish_and_records_nothing(pages: dict) -> None:
    refused = pages["client"].post(link_of(SOFIE), data={"beslutning": "afvis", "medlem": "Sofie Dahl",
                                                         "bemaerkning": "a" * (comment.MAX_LENGTH + 1)})
    assert refused.status_code == 400
    assert "Bemærkningen er på 2.001 tegn. Den må højst være på 2.000 tegn" in text(refused)
    assert pages["ledger"].votes(pages["request"].id) == []
    assert 'maxlength="2000"' in pages["client"].get(link_of(SOFIE)).text


# -- decisions that race ----------------------------------------------------------------------------------


def test_a_rejection_after_the_approval_closed_the_request_is_refused_with_the_truth(pages: dict) -> None:
    prepared, ledger, request = pages["prepared"], pages["ledger"], pages["request"]
    approved = approval_request.decide(prepared, ledger, request, Decision("approve", "Mette Lund"), "cli")
    assert approved.approval is not None  # the chair may approve alone
    with pytest.raises(AlreadyDecided) as late:
        approval_request.decide(prepared, ledger, request, Decision("reject", "Jens Kragh", "Nej."), "cli")
    assert late.value.request.state == "approved"
    assert str(late.value) == (f"{MESSAGE_ID} was already approved before Jens Kragh's decision, which was not "
                               "recorded: see `budbringer status`")
    assert [v.voter for v in ledger.votes(request.id)] == ["Mette Lund"]
    # the same decision arriving again (the waiting run resumed with it) is no error: the request stands
    again = approval_request.decide(prepared, ledger, request, Decision("approve", "Mette Lund"), "prefect-ui")
    assert again.approval is not None and again.approval.id == approved.approval.id
    with pytest.raises(AlreadyDecided, match="Mette Lund had already decided \\(approve\\)"):
        approval_request.decide(prepared, ledger, request, Decision("reject", "Mette Lund", "Nej."), "cli")
    refused = pages["client"].post(link_of(JENS), data={"beslutning": "afvis", "medlem": "Jens Kragh",
                                                        "bemaerkning": "Nej."})
    assert refused.status_code == 409 and "Budskabet er allerede godkendt eller afvist" in text(refused)


def test_a_rejection_that_comes_in_while_an_approval_is_being_closed_wins_and_both_are_told_rejected(
        pages: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The interleaving that recorded a late rejection under an approved request: the chair's approval has
    counted the votes (only its own) and is about to close the request when Jens's rejection is recorded."""
    prepared, request = pages["prepared"], pages["request"]
    counted, rejected = threading.Event(), threading.Event()
    real_decide = Ledger.decide

    def decide_after_the_rejection(self, request_id, state, *args, **kwargs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "chair" and state == "approved":
            counted.set()
            assert rejected.wait(30)
        return real_decide(self, request_id, state, *args, **kwargs)

    monkeypatch.setattr(Ledger, "decide", decide_after_the_rejection)
    results: dict[str, object] = {}

    def chair() -> None:
        results["chair"] = approval_request.decide(prepared, Ledger(), request, Decision("approve", "Mette Lund"),
                                                   "link")

    thread = threading.Thread(target=chair, name="chair")
    thread.start()
    assert counted.wait(30)
    results["jens"] = approval_request.decide(prepared, Ledger(), request,
                                              Decision("reject", "Jens Kragh", "Datoen er forkert."), "link")
    rejected.set()
    thread.join(30)
    chair_status, jens_status = results["chair"], results["jens"]
    assert isinstance(chair_status, approval_request.Status) and isinstance(jens_status, approval_request.Status)
    assert chair_status.rejected and chair_status.approval is None  # the chair is told the truth: rejected
    assert jens_status.rejected
    ledger = Ledger()
    assert ledger.request(MESSAGE_ID).state == "rejected"  # type: ignore[union-attr]
    assert ledger.approvals_for(MESSAGE_ID) == []  # no approval left behind for the rejected content


def test_two_decisions_racing_in_threads_end_in_one_truth_told_to_both(pages: dict) -> None:
    """An approval by the chair and a rejection by Jens, started together, over and over on fresh content:
    whichever wins, the loser is told how the request ended, and no vote is recorded under a closed request."""
    original = pages["message"].read_text(encoding="utf-8")
    outcomes = set()
    for round_ in range(12):
        pages["message"].write_text(original.replace("Foranalysen er afsluttet", f"Runde {round_} – Foranalysen er afsluttet"),
                                    encoding="utf-8")  # new content: a new request
        content = cascade.prepare(pages["plan"], pages["message"])
        request, new = approval_request.open_request(content, Ledger())
        assert new
        start = threading.Barrier(2)
        told: dict[str, str] = {}

        def decide(name: str, decision: Decision) -> None:
            start.wait(10)
            try:
                status = approval_request.decide(content, Ledger(), request, decision, "link")
                told[name] = "approved" if status.approval else "rejected" if status.rejected else "open"
            except AlreadyDecided as exc:
                told[name] = f"refused: {exc.request.state}"

        threads = [threading.Thread(target=decide, args=("chair", Decision("approve", "Mette Lund"))),
                   threading.Thread(target=decide, args=("jens", Decision("reject", "Jens Kragh", "Nej.")))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        final = Ledger().request(content.message.id, content.approval_hash)
        assert final is not None and final.state in ("approved", "rejected")
        votes = {v.voter: v.decision for v in Ledger().votes(request.id)}
        assert {told["chair"], told["jens"]} <= {final.state, f"refused: {final.state}"}, (told, final.state)
        if final.state == "approved":
            assert votes == {"Mette Lund": "approve"} and told["jens"] == "refused: approved"
        else:
            assert votes["Jens Kragh"] == "reject" and told["jens"] == "rejected"
        outcomes.add(final.state)
    print(f"\n12 races: {sorted(outcomes)}")


# -- sign-in for the other pages --------------------------------------------------------------------------


def _sign_in_plan(workdir: Path, required: bool) -> Path:
    path = workdir / f"signin-{required}.yaml"
    path.write_text(yaml.safe_dump({"extends": str(memory_plan(workdir)), "approval": {"sign_in": {
        "tenant": "8a1f5c2e-4b7d-4e21-9c3a-1d2e3f4a5b6c", "client_id": "budbringer-test", "required": required}}}), encoding="utf-8")
    return path


def test_the_index_and_the_plan_need_sign_in_when_the_plan_requires_it(pages: dict, workdir: Path) -> None:
    for required, status in ((True, 403), (False, 200)):
        client = TestClient(create_app(_sign_in_plan(workdir, required), workdir / "messages"))
        for path in ("/", "/plan"):
            shown = client.get(path)
            assert shown.status_code == status, (required, path)
            if required:
                assert "Log ind for at svare" in text(shown) and "OC-kredsen" not in text(shown)
    assert "OC-kredsen" in text(pages["client"].get("/plan"))  # without sign-in in the plan: public
    assert pages["client"].get("/sundhed").text == "ok"


# -- the ledger's files -----------------------------------------------------------------------------------


def test_the_ledger_folder_and_files_are_readable_by_their_owner_only(pages: dict, workdir: Path) -> None:
    folder = workdir / ".budbringer"
    pages["ledger"].waiting_run(pages["request"].id, "run-1")  # a write: the -wal and -shm files exist
    files = [folder / name for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm")]
    assert all(f.exists() for f in files)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
