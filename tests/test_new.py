"""`budbringer new`: next month's message as a skeleton, dated by the plan's calendar, that `check` refuses field
by field (in Danish) until every field is written (budbringer/skeleton.py, message.empty_fields)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml

from budbringer import checks, message as message_, plan as plan_, render, skeleton, starter
from budbringer.errors import InputError
from budbringer import cli
from tests.conftest import MESSAGE, PLAN, write_plan

COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def at(day: str, hour: int = 10) -> time_machine.travel:
    """The runtime's "now" pinned to a day (Copenhagen time)."""
    return time_machine.travel(dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=COPENHAGEN), tick=False)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh `budbringer init` folder, as the working folder."""
    target = tmp_path / "kommunikation"
    starter.write(target)
    monkeypatch.chdir(target)
    monkeypatch.setenv("BUDBRINGER_HOME", str(target / ".budbringer"))
    monkeypatch.delenv("BUDBRINGER_PLAN", raising=False)
    return target


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])


def leaves(node: object, at_: tuple = ()) -> list[tuple[tuple, object]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in leaves(value, (*at_, key))]
    if isinstance(node, list):
        return [leaf for index, value in enumerate(node) for leaf in leaves(value, (*at_, index))]
    return [(at_, node)]


# Every field the shipped plan's fora read, as `check` names them on an unfilled skeleton, in file order: a group's
# text for the forum the plan writes it for (`group_text`) and the fora sharing it (`shares_text_with`); a text
# of its own for every other forum; the optional forward and invitations too (to delete in a month without).
GROUP_FIELDS = ["headline", "lead", "text", "action.ask"]
EMPTY = (["title", "summary", "link", "contact.name", "contact.role",
          "timeline[0].when", "timeline[0].text", "timeline[0].citizens"]
         + [f"groups.management.{f}" for f in GROUP_FIELDS] + ["groups.management.action.by"]
         + [f"groups.{g}.{f}" for g in ("employees", "citizens", "others") for f in GROUP_FIELDS]
         + ["forum_texts.oc.forward.headline", "forum_texts.oc.forward.text"]
         + [f"forum_texts.hmu.{f}" for f in GROUP_FIELDS]
         + ["forum_texts.hmu.action.by", "forum_texts.hmu.forward.headline", "forum_texts.hmu.forward.text"]
         + [f"forum_texts.network_briefing.{f}" for f in GROUP_FIELDS]
         + [f"forum_texts.{n}.invitation.{f}" for n in ("network_quality", "network_sensum", "network_health")
            for f in ("what", "date", "time", "place", "reply_by")]
         # LinkedIn reads no group's text (the others' is written for Perspektiv: the plan's group_text)
         + ["forum_texts.linkedin.hook", "forum_texts.linkedin.text", "forum_texts.linkedin.action.ask",
            "forum_texts.linkedin.hashtags"]
         + [f"forum_texts.{n}.{f}" for n in ("regional_intranet", "midtnyt") for f in GROUP_FIELDS])


def test_new_then_check_on_a_fresh_init_folder_lists_every_empty_field_in_danish(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with at("2026-11-02"):
        assert cli.main(["new"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("messages/2026-11-status.md written: the message for the OC meeting on "
                                   "2026-12-10; approval is asked for on 2026-11-26 09:00 and due on "
                                   "2026-12-03 09:00.")
    # The starter's example is for November too: the monthly run takes one file a month, so the author is told.
    assert ("note: messages/2026-11-status-udbud.md is for the same month; the monthly run takes exactly one file "
            "per month: move one") in out

    assert cli.main(["check", "messages/2026-11-status.md"]) == 1
    err = capsys.readouterr().err
    found = re.findall(r"^  - messages/2026-11-status\.md:(\d+): (\S+): er tomt$", err, flags=re.M)
    assert [field for _, field in found] == EMPTY
    assert err.startswith(f"error: {len(EMPTY)} problems found; nothing was sent:")
    lines = Path("messages/2026-11-status.md").read_text(encoding="utf-8").splitlines()
    for number, field in found:  # each named at its own line
        assert lines[int(number) - 1].lstrip(" -").startswith(field.split(".")[-1].split("[")[0] + ":")
    assert ("  - messages/2026-11-status.md:34: groups.management.headline: er tomt\n"
            "    fix: skriv en overskrift på én linje, med læserens ord\n") in err
    assert ("groups.management.action.by: er tomt\n"
            "    fix: skriv en dato (ÅÅÅÅ-MM-DD) – eller slet linjen, hvis feltet ikke skal bruges\n") in err
    assert "is missing" not in err and "Traceback" not in err


def test_the_skeleton_carries_the_calendars_dates(folder: Path) -> None:
    plan = plan_.load(folder / "config" / "plan.yaml")
    with at("2026-11-02"):
        path, dates, skipped = skeleton.write(plan, folder / "messages", dt.datetime.now(dt.UTC))
    text = path.read_text(encoding="utf-8")
    for line in (
            "# Budskabet til mødet i OC-kredsen torsdag den 10. december 2026, skrevet af `budbringer new`.",
            "#   anmodningen om godkendelse sendes: torsdag den 26. november 2026 kl. 09.00",
            "#   styregruppens frist, hvor OC-kredsen får orienteringen: torsdag den 3. december 2026 kl. 09.00",
            "#   mødet: torsdag den 10. december 2026",
            "#     1. OC-kredsen: 26. november 2026 (når styregruppen har godkendt)",
            "#     4. Ekstern kommunikation: 26. november 2026 (når trinnet før er leveret)",
            # the issue whose deadline falls after the approval deadline
            "#   MidtNyt: forslaget går til nummeret 7. januar 2027 (redaktionens deadline 17. december 2026); "
            "skriv i datid om det, der er sket inden da",
            "id: 2026-11-status"):
        assert line in text.splitlines(), line
    data = front_matter(path)
    assert (data["date"], data["next_status"]) == (dt.date(2026, 11, 26), dt.date(2027, 1, 14))
    assert skipped == [] and dates.meeting == dt.date(2026, 12, 10)


def test_a_tier_gate_moves_its_earliest_day_and_every_tier_after_it(tmp_path: Path) -> None:
    plan = plan_.load(write_plan(tmp_path, {"tiers": [
        {"name": "oc", "title": "OC-kredsen", "fora": ["oc"]},
        {"name": "hmu_and_networks", "title": "HMU og netværkene", "not_before": "meeting",
         "fora": ["hmu", "network_quality", "network_sensum", "network_health"]},
        {"name": "employees", "title": "Medarbejderne", "fora": ["intranet", "intranet_local"]},
        {"name": "external", "title": "Ekstern kommunikation", "phase": "publish",
         "fora": ["website", "linkedin", "regional_intranet", "midtnyt", "perspektiv", "facebook", "instagram"]}]}))
    dates = skeleton.dates_for(plan, dt.date(2027, 3, 11))
    assert (dates.request_at.date(), dates.deadline.date()) == (dt.date(2027, 2, 25), dt.date(2027, 3, 4))
    assert dates.tiers == [
        ("OC-kredsen", dt.date(2027, 2, 25), "når styregruppen har godkendt"),
        ("HMU og netværkene", dt.date(2027, 3, 11), "planens dato for trinnet (not_before)"),
        ("Medarbejderne", dt.date(2027, 3, 11), "når trinnet før er leveret"),
        ("Ekstern kommunikation", dt.date(2027, 3, 11), "når trinnet før er leveret")]


def test_without_meeting_a_meeting_whose_deadline_has_passed_is_skipped(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with at("2026-12-03", hour=8):  # the deadline is 09:00 that day: still ahead
        assert cli.main(["new"]) == 0
    assert "for the OC meeting on 2026-12-10;" in capsys.readouterr().out
    with at("2026-12-07"):
        assert cli.main(["new"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        "note: the OC meeting on 2026-12-10 is skipped: its approval deadline has passed",
        "messages/2026-12-status.md written: the message for the OC meeting on 2027-01-14; approval is asked for "
        "on 2026-12-29 09:00 and due on 2027-01-07 09:00."]


def test_meeting_given_and_an_existing_file_is_never_overwritten(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with at("2026-11-02"):
        assert cli.main(["new", "--meeting", "2027-03-11"]) == 0
        path = folder / "messages" / "2027-02-status.md"
        before = path.read_text(encoding="utf-8")
        path.write_text(before + "Mine noter.\n", encoding="utf-8")
        assert cli.main(["new", "--meeting", "2027-03-11"]) == 1
    assert path.read_text(encoding="utf-8") == before + "Mine noter.\n"
    err = capsys.readouterr().err
    assert ("messages/2027-02-status.md: (file): exists already; `budbringer new` never overwrites a file\n"
            "    fix: edit that file, or move it away and run `budbringer new` again") in err


def test_a_meeting_that_is_not_in_the_plan_or_no_date_is_refused(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["new", "--meeting", "2027-03-12"]) == 1
    assert cli.main(["new", "--meeting", "12/3"]) == 1
    err = capsys.readouterr().err
    assert ("config/plan.yaml: --meeting: 2027-03-12 is not a meeting of oc in the plan\n    fix: use one of "
            "2026-12-10, 2027-01-14, 2027-02-11, 2027-03-11, 2027-04-08, 2027-05-06, 2027-06-10, or add it under "
            "fora.oc.meetings") in err
    assert "budbringer new: --meeting: '12/3' is not a date\n    fix: give the meeting as YYYY-MM-DD" in err
    assert not list((folder / "messages").glob("*-status.md"))


def test_the_prompts_are_comments_never_values(tmp_path: Path) -> None:
    plan = plan_.load(PLAN)
    text = skeleton.skeleton_text(plan, skeleton.dates_for(plan, dt.date(2027, 1, 14)))
    data = front_matter_of(text)
    filled = {at_: value for at_, value in leaves(data) if value is not None}
    # Only what the calendar and the plan know is filled in; every text is empty.
    assert filled == {("id",): "2026-12-status", ("date",): dt.date(2026, 12, 29),
                      ("contact", "email"): "udbud.dokumentation@socialomraadet.example",
                      ("next_status",): dt.date(2027, 2, 11), ("timeline", 0, "now"): True}
    prompts = [line.split("# ", 1)[1] for line in text.splitlines() if re.match(r"^\s*-?\s*\w+:\s+# ", line)]
    assert "Hvad ændrer sig i din hverdag, og hvornår? Hvad afløser det? Hvor får du hjælp? Skriv »du«, og forklar " \
           "et fagord, første gang det bruges" in prompts
    assert "Hvilken forskel gør det for dig? Skal du gøre noget? Korte sætninger og ingen fagord (fx ikke »udbud« " \
           "eller »leverandør«)" in prompts
    assert "Hvorfor (visionen, ét socialområde), målene, status, og jeres rolle som ledere. Skriv »I«" in prompts


def front_matter_of(text: str) -> dict:
    return yaml.safe_load(text.split("---\n")[1])


WRITTEN = {
    "title": "Status på udbuddet – januar 2027", "summary": "Evalueringen er i gang, og demodagene ligger i januar.",
    "headline": "Demodage i januar", "lead": "Tre firmaer viser deres systemer frem i januar.",
    "text": "Vi har valgt tre firmaer, som må give et bud. I januar viser de deres systemer frem.",
    "ask": "Giv superbrugerne fri til demodagene.", "by": dt.date(2027, 1, 8), "when": "Januar 2027",
    "citizens": "Vi ser på de systemer, vi kan vælge imellem.", "name": "Anne Holm", "role": "projektleder",
    "link": "https://www.rm.dk/socialomraadet/", "what": "Demodag om systemerne", "date": dt.date(2027, 1, 26),
    "time": "9.00-12.00", "place": "Regionshuset Viborg", "reply_by": dt.date(2027, 1, 15),
    "hook": "Tre systemer, én hverdag: hvilket passer bedst?", "hashtags": ["Socialområdet"],
}


def test_a_skeleton_with_every_field_written_renders_for_every_forum(tmp_path: Path) -> None:
    # The skeleton asks for every field each forum needs: filled in, nothing is missing for any forum.
    plan = plan_.load(PLAN)
    data = front_matter_of(skeleton.skeleton_text(plan, skeleton.dates_for(plan, dt.date(2027, 1, 14))))

    def fill(node: object, key: str = "") -> object:
        if isinstance(node, dict):
            return {k: fill(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v, key) for v in node]
        return WRITTEN[key] if node is None else node

    path = tmp_path / "2026-12-status.md"
    dumper = type("NoAliases", (yaml.SafeDumper,), {"ignore_aliases": lambda self, data: True})
    path.write_text("---\n" + yaml.dump(fill(data), Dumper=dumper, allow_unicode=True) + "---\n", encoding="utf-8")
    message = message_.load(path, plan)
    assert render.missing_content(plan, message, render.selected_fora(plan, message)) == []
    variants = render.render_variants(plan, message)
    assert len(variants) == len(render.selected_fora(plan, message)) == 12
    quality = next(v for v in variants if v.forum == "network_quality").body
    assert "tirsdag den 26. januar 2027 kl. 9.00–12.00" in quality
    # Every forum reads a text written for it: the skeleton follows the plan's group_text and shares_text_with.
    assert checks.reader_findings(plan, message, variants) == []
    assert all(source.written_for_it for forum in render.text_sources(plan, message, variants)
               for source in forum.fields)


def test_an_empty_field_in_a_written_message_is_named_with_its_line_and_fix(tmp_path: Path) -> None:
    text = MESSAGE.read_text(encoding="utf-8")
    path = tmp_path / MESSAGE.name
    path.write_text(text.replace("link: https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/", "link:", 1)
                    .replace("      by: 2026-12-18", '      by: ""', 1), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        message_.load(path, plan_.load(PLAN))
    assert [(p.field, p.what, p.fix, p.line) for p in caught.value.problems] == [
        ("link", "er tomt", "skriv en https-adresse – eller slet linjen, hvis feltet ikke skal bruges",
         text.splitlines().index("link: https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/") + 1),
        ("groups.management.action.by", "er tomt",
         "skriv en dato (ÅÅÅÅ-MM-DD) – eller slet linjen, hvis feltet ikke skal bruges",
         text.splitlines().index("      by: 2026-12-18") + 1)]
