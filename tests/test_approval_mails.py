"""The approval request, a reminder and the rejection, as mailed over a real SMTP relay (aiosmtpd): each a
multipart/alternative with a written Danish text part and an HTML document with a viewport. The rejection greets
the author by name, names the member who rejected, quotes the comment, and links to the author's page when it
is given, never telling the author to run a command."""

from __future__ import annotations

import datetime as dt
import email.message
import re
import shutil
from pathlib import Path

import pytest
import time_machine
import yaml

from budbringer import approval_request, cascade
from budbringer.approval_request import Decision
from budbringer.cascade import Prepared
from budbringer.channel import Adapter
from budbringer.ledger import ApprovalRequest, Ledger, NoticeOutcome
from tests.conftest import ROOT, memory_plan
from tests.servers.smtp import PASSWORD_ENV, USER, Relay

pytestmark = [pytest.mark.usefixtures("example_clock"),
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")]

DRAFTS = ROOT / "tests" / "drafts"
VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
AUTHOR_PAGE = "https://budbringer.region.example/forfatter/2026-12-evaluering"


@pytest.fixture
def plan(workdir: Path, relay: Relay, ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fora in memory; the approval notices over the SMTP relay."""
    monkeypatch.setenv("BUDBRINGER_WEB_URL", "https://budbringer.region.example")
    path = memory_plan(workdir)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["channels"]["relay_mail"] = {"type": "smtp", "host": "127.0.0.1", "port": relay.port,
                                      "security": relay.security, "sender": "kommunikation@region.example",
                                      "username": USER, "password_env": PASSWORD_ENV, "ca_file": str(ca_file),
                                      "timeout": 5}
    data["approval"]["channel"] = "relay_mail"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (workdir / "messages").mkdir()
    for draft in ("2026-12-demodage.md", "2026-12-evaluering.md"):
        shutil.copy(DRAFTS / draft, workdir / "messages" / draft)
    return path


def parts(mail: email.message.EmailMessage) -> tuple[str, str]:
    """The text and the HTML part of a multipart/alternative mail, in that order (the HTML is preferred)."""
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")  # SMTP's line ends


def written(text: str) -> None:
    """A text part written as text: no tags, no entities, no runs of blank lines."""
    assert not re.search(r"</?[a-z][a-z0-9]*[ >]|&[a-z]+;|&#\d+;", text), text
    assert "\n\n\n\n" not in text


def received(relay: Relay, to: str) -> list[email.message.EmailMessage]:
    return [relay.message(i) for i, e in enumerate(relay.envelopes) if e.rcpt_tos == [to]]


def request_mailed(plan: Path, message: Path) -> tuple[Prepared, Ledger, ApprovalRequest, dict[str, Adapter]]:
    """The message prepared, its approval request opened in a new ledger and mailed to every member; with the
    channels that mailed it."""
    prepared = cascade.prepare(plan, message)
    ledger = Ledger()
    request, _ = approval_request.open_request(prepared, ledger)
    channels = cascade.channels(prepared.plan)
    assert approval_request.send_request(prepared, ledger, request, channels) == NoticeOutcome.SENT
    return prepared, ledger, request, channels


def test_the_request_and_a_reminder_have_a_written_text_part_and_a_viewport(plan: Path, relay: Relay,
                                                                           workdir: Path) -> None:
    prepared, ledger, request, channels = request_mailed(plan, workdir / "messages" / "2026-12-demodage.md")

    [mail] = received(relay, "sofie.dahl@socialomraadet.example")
    assert mail["Subject"] == "Til godkendelse: Demodage i januar – kort nyt"
    text, html = parts(mail)
    written(text)
    assert text.startswith("Kære Sofie Dahl\n\nVi beder dig godkende budskabet »Demodage i januar – kort nyt«")
    assert "Svar senest 7. januar 2027 kl. 09.00" in text
    link = re.search(r"https://budbringer\.region\.example/godkend/\S+", text)
    assert link is not None and f'href="{link.group(0)}"' in html  # the same personal link in both parts
    assert "1. OC-kredsen: OC-kredsen (mail)" in text and "Emne: Orientering til OC-kredsen" in text
    assert html.startswith("<!DOCTYPE html>") and VIEWPORT in html and '<html lang="da">' in html
    assert "budbringer " not in text and "budbringer " not in html

    assert request.deadline is not None
    with time_machine.travel(request.deadline - dt.timedelta(days=1), tick=False):
        sent = approval_request.send_due_nudges(prepared.plan, ledger, channels)
    assert "2026-12-demodage: reminder-2 to Sofie Dahl sent" in sent  # the day before the deadline
    reminder = received(relay, "sofie.dahl@socialomraadet.example")[-1]
    assert reminder["Subject"].startswith("Påmindelse: Demodage i januar")
    text, html = parts(reminder)
    written(text)
    assert text.startswith("Kære Sofie Dahl\n\nBudskabet »Demodage i januar – kort nyt« venter stadig på dit svar.")
    assert re.search(r"\nhttps://budbringer\.region\.example/godkend/\S+\n", text)
    assert VIEWPORT in html


def test_the_rejection_names_the_member_quotes_the_comment_and_links_to_the_authors_page(
        plan: Path, relay: Relay, workdir: Path) -> None:
    comment = "Datoen for evalueringen mangler.\n\nSkriv også, hvem fra praksis der deltager."
    prepared, ledger, request, channels = request_mailed(plan, workdir / "messages" / "2026-12-evaluering.md")
    status = approval_request.decide(prepared, ledger, request, Decision("reject", "Jens Kragh", comment), "link")
    assert status.rejected
    assert approval_request.send_rejection(prepared, ledger, status, channels, author_url=AUTHOR_PAGE) == "sent"

    [mail] = received(relay, "udbud.dokumentation@socialomraadet.example")  # the message's contact
    assert mail["Subject"] == "Afvist af Jens Kragh: Status på udbuddet – december 2026"
    text, html = parts(mail)
    written(text)
    assert text.startswith("Kære Anne Holm\n\nJens Kragh fra styregruppen har afvist budskabet »Status på "
                           "udbuddet – december 2026«. Det er derfor ikke sendt ud til nogen.")
    assert ("> Datoen for evalueringen mangler.\n>\n> Skriv også, hvem fra praksis der deltager.\n\n"
            "– Jens Kragh, 24. november 2026 kl. 10.00") in text
    assert f"Åbn budskabet, og ret det her:\n{AUTHOR_PAGE}\n" in text
    assert "<blockquote>\n<p>Datoen for evalueringen mangler.</p>\n<p>Skriv også, hvem fra praksis der deltager." in html
    assert f'<a href="{AUTHOR_PAGE}">' in html and VIEWPORT in html
    assert "Hej" not in html and "Afvist af styregruppen" not in html
    assert "budbringer send" not in text + html and "<pre>" not in html


def test_without_the_authors_page_the_rejection_says_where_the_message_is(plan: Path, relay: Relay,
                                                                            workdir: Path) -> None:
    prepared, ledger, request, channels = request_mailed(plan, workdir / "messages" / "2026-12-demodage.md")
    status = approval_request.decide(prepared, ledger, request,
                                     Decision("reject", "Mette Lund", "Nævn, hvor demodagene holdes."), "cli")
    approval_request.send_rejection(prepared, ledger, status, channels)

    text, html = parts(received(relay, "udbud.dokumentation@socialomraadet.example")[-1])
    written(text)
    assert "Mette Lund fra styregruppen har afvist" in text and "> Nævn, hvor demodagene holdes." in text
    assert "Budskabet ligger i filen messages/2026-12-demodage.md." in text
    assert "Åbn budskabet" not in text and "<a href" not in html
    assert "budbringer send" not in text + html
