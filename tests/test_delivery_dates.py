"""Dates checked against delivery (budbringer/delivery_dates.py, docs/dates.md).

Three drafts a busy officer might write for December and January (tests/drafts/), each with its own date
defect, checked with the plan's HMU gate switched on (`not_before: meeting`) and the clock pinned:

- 2026-12-evaluering: the networks' reply-by date falls before the OC meeting their invitation waits for;
- 2027-01-superbrugere: OC's deadline is one working day after OC gets the briefing, and the staff text asks
  for an answer "senest den 3. februar", before the intranet gets it;
- 2026-12-demodage: the MidtNyt item lands in the 4 February issue and says "I januar holder vi demodage".

And the approval deadline against the clock: passed is an error naming `date` and the fix; the shipped
example has no date findings before its deadline.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from budbringer import cascade, delivery_dates, message as message_, plan as plan_, render
from budbringer.checks import Finding
from budbringer.errors import InputError
from budbringer import cli
from tests.conftest import MESSAGE, PLAN, write_plan

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
DRAFTS = Path(__file__).parent / "drafts"
NETWORK_TITLES = ("Netværk for kvalitetskoordinatorerne", "Netværk for Sensum Bosted-tovholderne",
                  "Netværk for sundhedskoordinatorerne")
NETWORKS = ", ".join(NETWORK_TITLES)
NETWORKS_DA = f"{NETWORK_TITLES[0]}, {NETWORK_TITLES[1]} og {NETWORK_TITLES[2]}"
NETWORKS_EN = f"{NETWORK_TITLES[0]}, {NETWORK_TITLES[1]}, and {NETWORK_TITLES[2]}"
GATE = "the gate of tier hmu_and_networks, `not_before`, holds it and the tiers after it"


def at(moment: str) -> time_machine.travel:
    return time_machine.travel(dt.datetime.fromisoformat(moment).replace(tzinfo=COPENHAGEN), tick=False)


@pytest.fixture
def gated(workdir: Path) -> Path:
    """The shipped plan with HMU and the networks held until the OC meeting (config/plan.yaml's comment)."""
    tiers = yaml_tiers()
    tiers[1]["not_before"] = "meeting"
    return write_plan(workdir, {"tiers": tiers})


def yaml_tiers() -> list[dict]:
    import yaml

    return yaml.safe_load(PLAN.read_text(encoding="utf-8"))["tiers"]


def draft(workdir: Path, name: str, *edits: tuple[str, str]) -> Path:
    """A copy of a draft with some lines changed (each edit must apply)."""
    text = (DRAFTS / name).read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = workdir / name
    path.write_text(text, encoding="utf-8")
    return path


def date_findings(plan_path: Path, message_path: Path) -> list[Finding]:
    plan = plan_.load(plan_path)
    message = message_.load(message_path, plan)
    return delivery_dates.date_findings(plan, message, render.render_variants(plan, message))


def check(capsys: pytest.CaptureFixture[str], plan: Path, message: Path, lang: str = "da") -> tuple[int, str, str]:
    code = cli.main(["--plan", str(plan), "check", "--lang", lang, str(message)])
    out, err = capsys.readouterr()
    return code, out, err


# -- a reply-by date before the day the forum gets its text -------------------------------------------------

def test_a_reply_by_date_before_the_networks_get_their_invitation_fails_check(
        workdir: Path, gated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = draft(workdir, "2026-12-evaluering.md")
    with at("2026-12-14T09:00"):
        code, out, err = check(capsys, gated, path)
    assert code == 1
    danish = (f"Svarfristen 12. januar 2027 ligger før den 14. januar 2027, hvor {NETWORKS_DA} får teksten. Flyt "
              "den til 18. januar 2027 eller senere (mindst 2 arbejdsdage efter, at teksten er kommet frem), eller "
              "slet den.")
    # Told once, for the field that feeds the three networks, naming them all (in Danish by default).
    assert (f"  fejl: forum_texts.network_briefing.invitation.reply_by ({NETWORKS_DA}): {danish}\n") in out
    what = (f"the reply-by date 2027-01-12 falls before 2027-01-14, the day {NETWORKS} get the text ({GATE})")
    fix = "set it to 2027-01-18 or later (at least 2 working days after the text arrives), or drop it"
    assert err.count(f"{path}: forum_texts.network_briefing.invitation.reply_by: {what}\n    fix: {fix}\n") == 1
    # One finding for each network the field reaches, in the same words.
    found = [f for f in date_findings(gated, path) if f.field.endswith("reply_by")]
    assert found == [Finding(name, "error", f"{what}: {fix}", danish, "delivery_date",
                             "forum_texts.network_briefing.invitation.reply_by")
                     for name in ("network_quality", "network_sensum", "network_health")]
    # HMU's own ask (the officer gave it the leaders' date) falls before HMU gets its text on the meeting day.
    assert ("  fejl: forum_texts.hmu.action.by (HMU): Fristen 13. januar 2027 ligger før den 14. januar 2027, hvor "
            "HMU får teksten. Flyt den til 18. januar 2027 eller senere") in out
    with at("2026-12-14T09:00"):
        code, out, _ = check(capsys, gated, path, "en")
    assert f"  error: forum_texts.network_briefing.invitation.reply_by ({NETWORKS_EN}): {what}: {fix}\n" in out


def test_the_same_reply_by_date_is_fine_when_the_networks_are_not_held_until_the_meeting(workdir: Path) -> None:
    # Without the gate the networks get the text at the approval deadline, 7 January: 12 January leaves them
    # three working days (8, 11 and 12 January).
    path = draft(workdir, "2026-12-evaluering.md")
    assert [f for f in date_findings(PLAN, path) if f.field.endswith("reply_by")] == []


def test_the_corrected_draft_passes_check(workdir: Path, gated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = draft(workdir, "2026-12-evaluering.md", ("reply_by: 2027-01-12", "reply_by: 2027-01-18"),
                 ("by: 2027-01-13", "by: 2027-01-18"))
    with at("2026-12-14T09:00"):
        code, out, _ = check(capsys, gated, path)
    assert code == 0, out
    assert list(dict.fromkeys((f.severity, f.field) for f in date_findings(gated, path))) == [
        ("warning", "timeline[0].text"), ("warning", "timeline[0].citizens")]


# -- a deadline too soon after the day the reader gets it ---------------------------------------------------

def test_ocs_deadline_one_working_day_after_oc_gets_the_briefing_fails_check(
        workdir: Path, gated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = draft(workdir, "2027-01-superbrugere.md")
    with at("2027-01-18T09:00"):
        code, out, err = check(capsys, gated, path)
    assert code == 1
    danish = ("Fristen 5. februar 2027 giver kun 1 arbejdsdag efter den 4. februar 2027, hvor OC-kredsen får "
              "teksten. Flyt den til 8. februar 2027 eller senere (mindst 2 arbejdsdage efter, at teksten er kommet "
              "frem), eller slet den.")
    assert f"  fejl: forum_texts.oc.action.by (OC-kredsen): {danish}\n" in out
    what = ("the deadline 2027-02-05 leaves 1 working day after 2027-02-04, the day OC-kredsen gets the text "
            "(the approval deadline)")
    fix = "set it to 2027-02-08 or later (at least 2 working days after the text arrives), or drop it"
    assert f"{path}: forum_texts.oc.action.by: {what}\n    fix: {fix}\n" in err
    finding = next(f for f in date_findings(gated, path) if f.field == "forum_texts.oc.action.by")
    assert (finding.text, finding.text_da) == (f"{what}: {fix}", danish)
    with at("2027-01-18T09:00"):
        assert f"  error: forum_texts.oc.action.by (OC-kredsen): {what}: {fix}\n" in check(capsys, gated, path, "en")[1]


def test_a_deadline_written_in_the_text_is_checked_against_its_readers_day(workdir: Path, gated: Path) -> None:
    path = draft(workdir, "2027-01-superbrugere.md")
    found = [f for f in date_findings(gated, path) if f.field == "groups.employees.text"]
    assert found == [Finding(
        "intranet", "error",
        f"the deadline “den 3. februar” (2027-02-03) in the text falls before 2027-02-11, the day Socialområdets "
        f"intranet gets the text ({GATE}): set it to 2027-02-15 or later (at least 2 working days after the text "
        "arrives), or drop it",
        "Fristen »den 3. februar« i teksten ligger før den 11. februar 2027, hvor Socialområdets intranet får "
        "teksten. Flyt den til 15. februar 2027 eller senere (mindst 2 arbejdsdage efter, at teksten er kommet "
        "frem), eller slet den.", "delivery_date", "groups.employees.text")]
    later = draft(workdir, "2027-01-superbrugere.md", ("senest den 3. februar", "inden den 15.2."),
                  ("by: 2027-02-05", "by: 2027-02-08"))
    assert date_findings(gated, later) == []


# -- a newsletter item that announces what has happened by its issue ------------------------------------------

def test_a_midtnyt_item_in_the_4_february_issue_announcing_januarys_demo_days_is_flagged(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = draft(workdir, "2026-12-demodage.md")
    sentence = "I januar holder vi demodage, hvor superbrugere fra praksis prøver systemerne."
    assert date_findings(PLAN, path) == [Finding(
        "midtnyt", "warning",
        f"“{sentence}” speaks of “januar” as still to come, but it has passed by 2027-02-04, the day MidtNyt gets "
        "the text (the issue of 2027-02-04): write what happened, in the past tense, or leave it out",
        f"»{sentence}« omtaler januar som noget, der kommer, men det er forbi, når MidtNyt får teksten den "
        "4. februar 2027. Skriv i datid, hvad der skete, eller udelad det.", "delivery_date",
        "forum_texts.midtnyt.text")]
    with at("2026-12-14T09:00"):
        code, out, _ = check(capsys, PLAN, path)
    assert code == 0  # a warning: the tense is read by a heuristic (docs/dates.md)
    assert (f"  advarsel: forum_texts.midtnyt.text (MidtNyt): »{sentence}« omtaler januar som noget, der kommer, men "
            "det er forbi, når MidtNyt får teksten den 4. februar 2027. Skriv i datid, hvad der skete, eller udelad "
            "det.\n") in out
    past = draft(workdir, "2026-12-demodage.md", ("I januar holder vi demodage", "I januar holdt vi demodage"))
    assert date_findings(PLAN, past) == []
    # Markdown marks do not hide it; a January date after "efter" is a reference point, not the event's time.
    marked = draft(workdir, "2026-12-demodage.md", ("I januar holder vi demodage", "**I januar** holder vi demodage"))
    assert [f.field for f in date_findings(PLAN, marked)] == ["forum_texts.midtnyt.text"]
    after = draft(workdir, "2026-12-demodage.md",
                  ("I januar holder vi demodage, hvor", "Efter demodagene i januar skal vi vælge, og"))
    assert date_findings(PLAN, after) == []


# -- the approval deadline against the clock -----------------------------------------------------------------

def test_a_passed_approval_deadline_fails_check_naming_the_date_and_the_fix(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = draft(workdir, "2026-12-demodage.md", ("I januar holder vi demodage", "I januar holdt vi demodage"))
    with at("2027-01-07T08:59"):
        assert check(capsys, PLAN, path)[0] == 0
    with at("2027-01-07T09:00"):
        code, out, err = check(capsys, PLAN, path)
    assert code == 1
    assert ("  fejl: date (godkendelsen): Godkendelsesfristen 7. januar 2027 kl. 09.00 for mødet 14. januar 2027 er "
            "overskredet, så linkene i anmodningen om godkendelse ville være udløbet, når den kommer frem. Sæt "
            "`date: 2027-01-15` (eller senere) til mødet 11. februar 2027, hvis godkendelsesfrist er 4. februar 2027 "
            "kl. 09.00, og tjek budskabets datoer igen.\n") in out
    assert (f"{path}: date: the approval deadline 2027-01-07 09:00 for the meeting on 2027-01-14 has passed (now "
            "2027-01-07 09:00); approval links would be expired on arrival\n    fix: set `date: 2027-01-15` (or "
            "later) for the meeting on 2027-02-11, whose approval deadline is 2027-02-04 09:00, and check its "
            "dates again\n") in err


def test_the_clock_is_an_argument() -> None:
    plan = plan_.load(PLAN)
    message = message_.load(MESSAGE, plan)
    before = dt.datetime(2026, 12, 3, 8, 59, tzinfo=COPENHAGEN)
    assert delivery_dates.approval_findings(plan, message, before) == []
    [late] = delivery_dates.approval_findings(plan, message, dt.datetime(2027, 1, 8, 9, tzinfo=COPENHAGEN))
    assert (late.severity, late.field, late.forum) == ("error", "date", "approval")
    # Past the January round too: the next round still open is February's.
    assert "set `date: 2027-01-15` (or later) for the meeting on 2027-02-11" in late.text
    [none_left] = delivery_dates.approval_findings(plan, message, dt.datetime(2027, 6, 9, tzinfo=COPENHAGEN))
    assert none_left.text.endswith("add the next meetings under fora.oc.meetings in the plan, then date the "
                                   "message for the next one")


def test_a_message_dated_after_its_own_approval_deadline_is_an_error(workdir: Path) -> None:
    path = draft(workdir, "2026-12-demodage.md", ("date: 2026-12-14", "date: 2027-01-11"),
                 ("I januar holder vi demodage", "I januar holdt vi demodage"))
    assert [(f.severity, f.field, f.text, f.text_da) for f in date_findings(PLAN, path)] == [(
        "error", "date", "the message is dated 2027-01-11, after the approval deadline 2027-01-07 of the OC meeting "
        "on 2027-01-14: date it 2027-01-07 or earlier for that meeting, or 2027-01-15 or later for the next one",
        "Budskabet er dateret 11. januar 2027, efter godkendelsesfristen 7. januar 2027 for mødet 14. januar 2027. "
        "Dater det 7. januar 2027 eller tidligere til det møde, eller 15. januar 2027 eller senere til det næste.")]


def test_the_shipped_example_has_no_date_findings_before_its_deadline() -> None:
    plan = plan_.load(PLAN)
    message = message_.load(MESSAGE, plan)
    variants = render.render_variants(plan, message)
    now = dt.datetime(2026, 11, 24, 9, tzinfo=COPENHAGEN)
    assert delivery_dates.findings(plan, message, variants, now=now) == []
    assert {a.forum: a.day.isoformat() for a in delivery_dates.arrivals(plan, message).values()
            if a.day != dt.date(2026, 12, 3)} == {"midtnyt": "2027-01-07", "perspektiv": "2027-01-26"}


def test_prepare_after_the_deadline_still_works_for_the_approved_cascade() -> None:
    # The cascade runs on past the deadline (HMU on the meeting day): prepare checks the texts' dates, not
    # the clock. `check` is where a passed deadline is said (and `send` refuses expired links).
    with at("2027-03-01T12:00"):
        prepared = cascade.prepare(PLAN, MESSAGE)
    assert not [f for f in prepared.findings if f.rule in ("delivery_date", "approval_deadline")]


def test_prepare_refuses_a_reply_by_date_before_delivery_naming_the_field(workdir: Path, gated: Path) -> None:
    path = draft(workdir, "2026-12-evaluering.md")
    with pytest.raises(InputError) as caught:
        cascade.prepare(gated, path)
    assert "forum_texts.network_briefing.invitation.reply_by" in [p.field for p in caught.value.problems]


# -- Danish dates and periods ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Svar senest 15. januar.", [("15. januar", "2027-01-15")]),
    ("inden den 12.1.", [("den 12.1.", "2027-01-12")]),
    ("senest fredag den 15. jan. 2027", [("fredag den 15. jan. 2027", "2027-01-15")]),
    ("tilmelding 12/1-2027 eller 2027-01-20", [("12/1-2027", "2027-01-12"), ("2027-01-20", "2027-01-20")]),
    ("kl. 9.30-12.00 i Viborg", []),
    ("den 9. december", [("den 9. december", "2026-12-09")]),
    ("den 31. februar", []),
])
def test_danish_dates_are_read(text: str, expected: list[tuple[str, str]]) -> None:
    near = dt.date(2026, 12, 11)
    assert [(m.written, m.day.isoformat()) for m in delivery_dates.find_dates(text, near)] == expected


@pytest.mark.parametrize(("words", "first", "last"), [
    ("November 2026", "2026-11-01", "2026-11-30"),
    ("Vinteren 2026/27", "2026-12-01", "2027-02-28"),
    ("Foråret 2027", "2027-03-01", "2027-05-31"),
    ("januar", "2027-01-01", "2027-01-31"),
    ("uge 3", "2027-01-18", "2027-01-24"),
])
def test_danish_periods_are_read(words: str, first: str, last: str) -> None:
    found = delivery_dates.period_of(words, dt.date(2026, 12, 11))
    assert found is not None and (found[0].isoformat(), found[1].isoformat()) == (first, last)
    assert delivery_dates.period_of("Derefter", dt.date(2026, 12, 11)) is None
