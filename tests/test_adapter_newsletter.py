"""Newsletter submissions (MidtNyt, Perspektiv) as mail to the editor over the plan's mail channel.

The transport here is the default plan's: the local outbox, so each submission is an .eml file that is read
back and checked as the editor would receive it. Deadlines are tested on fixed days (time-machine).
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from budbringer.adapters import memory
from budbringer.adapters.newsletter import NewsletterAdapter, Submission
from budbringer import cascade
from budbringer import cli
from budbringer import plan as plan_
from budbringer.checks import counted_text, plain_text, word_count
from budbringer.delivery import Delivery
from budbringer.errors import InputError
from budbringer.ledger import Ledger
from tests.conftest import MESSAGE, ROOT, write_plan

PUBLIC_PLAN = ROOT / "config" / "plan.public.yaml"
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def on(day: str):  # type: ignore[no-untyped-def]
    """Travel to 10 o'clock in Copenhagen on that day."""
    return time_machine.travel(dt.datetime.fromisoformat(day).replace(hour=10, tzinfo=COPENHAGEN), tick=False)


def submission_for(forum: str, plan: Path = PUBLIC_PLAN, message: Path = MESSAGE) -> tuple[NewsletterAdapter, Delivery]:
    prepared = cascade.prepare(plan, message)
    variant = next(v for v in prepared.variants if v.forum == forum)
    channel = cascade.channels(prepared.plan)[variant.channel]
    assert isinstance(channel, NewsletterAdapter)
    return channel, Delivery(prepared.message.id, variant, variant.channel, approval_id=1)


def read_mail(path: str) -> email.message.EmailMessage:
    with open(path, "rb") as handle:
        return email.message_from_binary_file(handle, policy=email.policy.default)  # type: ignore[return-value]


def test_a_submission_is_a_mail_to_the_editor_in_the_newsletters_format(workdir: Path) -> None:
    channel, delivery = submission_for("midtnyt")
    with on("2026-11-23"):
        receipt = channel.deliver(delivery)

    assert receipt.provider == "outbox"
    assert receipt.details | {"issue": "2027-01-07", "deadline": "2026-12-17", "late": False,
                              "editor": "midtnyt-redaktion@regionmidtjylland.example"} == receipt.details
    mail = read_mail(receipt.provider_id)
    assert mail["To"] == "midtnyt-redaktion@regionmidtjylland.example"
    assert mail["Subject"] == "Forslag til MidtNyt: Ét system skal samle dokumentationen på Socialområdet"
    assert mail["X-Budbringer-Delivery"].strip() == delivery.key  # the transport marks it with the newsletter's key
    html = mail.get_content()
    assert html == delivery.variant.body  # on time: exactly what was approved
    # the issue whose deadline falls after the approval deadline (3 December), not the one of 3 December
    assert "nummeret den 7. januar 2027" in html and "<article>" in html and "Bemærk" not in html
    assert channel.find(delivery) is not None


@pytest.mark.parametrize(("forum", "day", "note"), [
    ("midtnyt", "2026-11-27", None),  # an earlier issue has closed: the one offered has not
    ("midtnyt", "2026-12-17", None),  # the deadline day itself is in time
    ("midtnyt", "2026-12-18",
     "<p><strong>Bemærk:</strong> Forslaget kommer efter deadline den 17. december 2026 for nummeret den "
     "7. januar 2027. Vi foreslår det derfor i stedet til nummeret den 4. februar 2027, som har deadline den "
     "28. januar 2027.</p>"),
    ("perspektiv", "2027-01-13",
     "<p><strong>Bemærk:</strong> Forslaget kommer efter deadline den 12. januar 2027 for nummeret den "
     "26. januar 2027. Vi foreslår det derfor i stedet til nummeret den 15. marts 2027, som har deadline den "
     "1. marts 2027.</p>"),
    ("midtnyt", "2027-02-01",
     "<p><strong>Bemærk:</strong> Forslaget kommer efter deadline den 17. december 2026 for nummeret den "
     "7. januar 2027. Vi kender endnu ikke datoen for det næste nummer af MidtNyt, så vi foreslår det til "
     "det første nummer, hvor der er plads.</p>"),
])
def test_a_late_submission_targets_the_next_issue_and_says_so(workdir: Path, forum: str, day: str,
                                                              note: str | None) -> None:
    channel, delivery = submission_for(forum)
    with on(day):
        receipt = channel.deliver(delivery)

    html = read_mail(receipt.provider_id).get_content()
    if note is None:
        assert html == delivery.variant.body
        assert receipt.details["late"] is False
    else:
        assert html == note + "\n" + delivery.variant.body  # the approved text follows, unchanged
        assert receipt.details["late"] is True
    # found again on another day: the transport knows it by the delivery key, not by its text
    with on("2027-06-01"):
        found = channel.find(delivery)
    assert found is not None and found.provider_id == receipt.provider_id


def test_check_warns_the_approvers_when_a_deadline_has_passed(workdir: Path) -> None:
    with on("2026-12-18"):
        prepared = cascade.prepare(PUBLIC_PLAN, MESSAGE)
    [warning] = [f for f in prepared.findings if f.forum == "midtnyt" and "deadline" in f.text]
    assert warning.severity == "warning"
    assert "goes to the issue of 2027-02-04 instead" in warning.text
    assert warning.text_da == ("Fristen for MidtNyt den 7. januar 2027 var den 17. december 2026. Sendes det, "
                               "foreslås det i stedet til nummeret den 4. februar 2027.")


def test_any_mail_channel_can_carry_it(workdir: Path) -> None:
    plan = write_plan(workdir, {"extends": str(PUBLIC_PLAN),
                                "channels": {"memory_mail": {"type": "memory"},
                                             "newsletter_mail": {"transport": "memory_mail"}}})
    channel, delivery = submission_for("perspektiv", plan)
    with on("2026-11-23"):
        receipt = channel.deliver(delivery)

    [sent] = memory.SENT
    assert isinstance(sent, Submission)
    assert sent.key == delivery.key and sent.channel == "memory_mail"
    assert sent.variant.recipients == ("perspektiv-redaktion@regionmidtjylland.example",)
    assert sent.variant.body == delivery.variant.body
    assert receipt.provider == "memory" and receipt.details["transport"] == "memory_mail"
    assert channel.find(delivery) is not None


@pytest.mark.parametrize(("transport", "what"), [
    ("nowhere", "transport 'nowhere' is not a channel of the plan"),
    ("newsletter_mail", "transport 'newsletter_mail' (newsletter) does not send mail"),
    ("linkedin_api", "transport 'linkedin_api' (linkedin) does not send mail"),
])
def test_preflight_refuses_a_transport_that_cannot_send_mail(workdir: Path, transport: str, what: str) -> None:
    plan = write_plan(workdir, {"extends": str(PUBLIC_PLAN), "channels": {"newsletter_mail": {"transport": transport}}})
    problems = cascade.preflight(plan_.load(plan))
    assert [p.what for p in problems if p.field.startswith("channels.newsletter_mail")] == [what]
    assert {p.file for p in problems} == {str(plan)}  # the plan file, the channel's field, the fix


def test_over_graph_mail_a_submission_takes_the_mailboxs_limits_and_the_transports_preflight(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Composite channels delegate to their transport: the submission counts against the sending mailbox (the
    same SharedLimit as any mail of graph_mail), and a missing Graph credential shows in its preflight."""
    from budbringer.adapters.graph_mail import GraphMailAdapter, mailbox_limit_name

    for name in ("BUDBRINGER_GRAPH_TENANT_ID", "BUDBRINGER_GRAPH_CLIENT_ID", "BUDBRINGER_GRAPH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    m365 = ROOT / "config" / "plan.m365.yaml"
    channel, delivery = submission_for("midtnyt", m365)
    transport = channel.transport
    assert isinstance(transport, GraphMailAdapter)
    mail, _ = channel.submission(delivery)

    limits = channel.limits(delivery)
    assert limits == transport.limits(mail) and limits != []
    assert [limit.name for limit in limits] == [mailbox_limit_name("kommunikation@socialomraadet.example")]
    assert limits[0].concurrency == 4 and limits[0].per_minute == 30 and limits[0].weight == 1
    assert channel.preflight() == transport.preflight() != []


# the word limit ----------------------------------------------------------------------------------------

def _long_message(folder: Path, words: int) -> Path:
    text = MESSAGE.read_text(encoding="utf-8")
    start = text.index("    text: |\n", text.index("  midtnyt:\n")) + len("    text: |\n")
    end = text.index("    action:", start)
    filler = " ".join(["Medarbejderne"] + ["dokumenterer"] * (words - 1))
    path = folder / "langt-budskab.md"
    path.write_text(text[:start] + f"      {filler}.\n" + text[end:], encoding="utf-8")
    return path


def test_the_word_limit_counts_the_item_not_the_cover_note(workdir: Path) -> None:
    prepared = cascade.prepare(PUBLIC_PLAN, MESSAGE)  # no error: each item is within its limit
    for forum, limit in (("midtnyt", 250), ("perspektiv", 400)):
        variant = next(v for v in prepared.variants if v.forum == forum)
        assert word_count(counted_text(variant)) <= limit
    # an item of 240 words is within MidtNyt's 250, though with the cover note the mail holds more than 250
    longer = cascade.prepare(PUBLIC_PLAN, _long_message(workdir, 190))
    midtnyt = next(v for v in longer.variants if v.forum == "midtnyt")
    assert word_count(counted_text(midtnyt)) <= 250 < word_count(plain_text(midtnyt))


def test_check_refuses_an_item_over_the_word_limit_before_anything_is_sent(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = _long_message(workdir, 260)
    with pytest.raises(InputError) as raised:
        cascade.prepare(PUBLIC_PLAN, message)
    [problem] = raised.value.problems
    assert problem.field == "variant for midtnyt" and "takes at most 250" in problem.what

    assert cli.main(["check", "--plan", str(PUBLIC_PLAN), str(message)]) == 1
    assert "MidtNyt takes at most 250" in capsys.readouterr().err
    assert not (workdir / "outbox").exists()
    assert Ledger().records() == []


# the editor's answer -------------------------------------------------------------------------------------

def test_mark_records_the_editors_answer_and_status_shows_it(workdir: Path, message_copy: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    ledger = Ledger()
    prepared = cascade.prepare(PUBLIC_PLAN, message_copy)
    approval = cascade.record_approval(prepared, ledger, "Mette Lund", "Styregruppemøde 2026-11-20")
    channels = cascade.channels(prepared.plan)
    [midtnyt] = [d for d in cascade.deliveries(prepared, approval) if d.forum == "midtnyt"]
    with on("2026-11-23"):
        assert cascade.deliver(midtnyt, channels[midtnyt.channel], ledger).state == "delivered"
    plan = ["--plan", str(PUBLIC_PLAN)]

    assert cli.main(["mark", *plan, str(message_copy), "midtnyt", "accepted", "--note", "kommer i nummeret 3/12"]) == 0
    assert cli.main(["mark", *plan, prepared.message.id, "perspektiv", "declined"]) == 1  # never submitted
    assert cli.main(["mark", *plan, prepared.message.id, "website", "accepted"]) == 1  # not a newsletter
    err = capsys.readouterr().err
    assert "was not delivered to perspektiv (not sent)" in err and "'website' is not a newsletter forum" in err

    assert cli.main(["status", prepared.message.id]) == 0
    out = capsys.readouterr().out
    assert f"editor's answer: {prepared.message.id} midtnyt: accepted on " in out
    assert "(kommer i nummeret 3/12)" in out

    cli.main(["mark", *plan, prepared.message.id, "midtnyt", "declined", "--note", "ikke plads"])
    [answer] = ledger.answers(prepared.message.id)
    assert (answer.forum, answer.answer, answer.note) == ("midtnyt", "declined", "ikke plads")
