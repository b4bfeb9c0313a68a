"""Every forum's text has a known source, and findings are told once per field, by consequence, in Danish by
default (issue 22, items 1 and 2). The drafts are a busy officer's December status, not the shipped example."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from budbringer import catalogue, checks, findings, message as message_, plan as plan_, render
from budbringer import cli
from tests.conftest import write_plan

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "config" / "plan.yaml"

HEAD = """---
id: 2026-12-status-udbud
title: Status på udbuddet – december 2026
summary: Evalueringen er gået i gang. Tre leverandører er prækvalificeret, og der er demodage i januar.
date: 2026-12-14
contact: {name: Anne Holm, role: projektleder, email: udbud.dokumentation@socialomraadet.example}
timeline:
  - when: December 2026
    now: true
    text: Vi vurderer de tre leverandører.
    citizens: Vi ser på tre firmaer, der kan levere systemet.
  - when: Januar 2027
    text: Leverandørerne viser deres systemer.
    citizens: Firmaerne viser os deres systemer.
"""

GROUPS = """groups:
  citizens:
    headline: Tre firmaer kan levere det nye system
    lead: Vi har fundet tre firmaer, som kan levere det system, vi skal skrive i. Nu ser vi på dem.
    text: |
      Vi skal have ét system, som alle, der hjælper dig, kan bruge. Nu ser vi på tre firmaer. Din hjælp er den
      samme som i dag.
    action: {ask: \"Du er velkommen til at skrive til os, hvis du vil vide mere.\"}
  employees:
    headline: Er du superbruger? Så viser leverandørerne dig systemet i januar
    lead: Tre leverandører er med i udbuddet. I januar kan du se deres systemer.
    text: |
      Vi vurderer nu de tre systemer. Er du superbruger, får du en invitation til at se dem i januar. Du
      dokumenterer, som du plejer, indtil videre.
    action: {ask: \"Er du superbruger, så tal med din leder om at få fri til at se systemerne.\"}
  management:
    headline: Evalueringen er i gang
    lead: Tre leverandører er godkendt til udbuddet. Nu vurderer vi deres tilbud og systemer.
    text: |
      Evalueringen følger den plan, styregruppen har godkendt. I januar viser leverandørerne deres systemer
      for superbrugerne.
    action: {ask: \"Sørg for, at superbrugerne i jeres område har fri til at se systemerne i januar.\", by: 2027-01-12}
  others:
    headline: Tre leverandører går videre i udbuddet
    lead: Socialområdet i Region Midtjylland vurderer nu tre systemer til dokumentation.
    text: |
      Tre leverandører går videre. I januar viser de deres systemer for medarbejdere fra praksis. Vi
      fortæller, når vi har valgt.
    action: {ask: \"Har du spørgsmål, så skriv til projektet.\"}
forum_texts:
  oc:
    forward:
      headline: Nyt om det fælles system
      text: Tre leverandører er med i udbuddet. I januar viser de deres systemer. Intet ændrer sig endnu.
  linkedin:
    hook: Tre leverandører går videre i vores udbud af et fælles system.
"""

OWN = """  hmu:
    headline: Evalueringen er i gang – sådan er medarbejderne med
    lead: Her er HMU's orientering. Tre leverandører er godkendt, og superbrugere ser systemerne i januar.
    text: |
      Superbrugere fra alle specialområder ser systemerne i januar. På den måde kommer praksis med, før vi
      vælger. Ingen skifter system endnu.
    action: {ask: \"Vi beder jer tage orienteringen til efterretning og stille spørgsmål, hvis I har nogen.\"}
  network_briefing:
    headline: Tak for kravene – nu vurderer vi systemerne
    lead: Jeres krav er grundlaget for vurderingen af de tre systemer.
    text: |
      I skrev kravene med os. Nu bruger vi dem, når vi vurderer de tre systemer. Vi fortæller jer, hvordan
      det går.
    action: {ask: \"Har I spørgsmål til vurderingen, så skriv til projektgruppen.\"}
  midtnyt:
    headline: Socialområdet vurderer tre systemer til dokumentation
    lead: Socialområdet skal have ét system til dokumentation. Tre leverandører er med i udbuddet.
    text: |
      Socialområdets medarbejdere skriver i dag i flere systemer. Nu vurderer Socialområdet tre systemer,
      der kan afløse dem. For dig, der arbejder andre steder i regionen, ændrer det ikke noget.
    action: {ask: \"Vil du vide mere om projektet?\"}
"""


def draft(folder: Path, text: str, name: str = "2026-12-status-udbud.md") -> Path:
    path = folder / name
    path.write_text(text + "---\nTil styregruppen: decemberstatus.\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _danish_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _the_drafts_day() -> Iterator[None]:
    """The drafts' own date (their approval deadline, 7 January 2027, is ahead): `check` compares it with now."""
    with time_machine.travel(dt.datetime(2026, 12, 14, 10, tzinfo=ZoneInfo("Europe/Copenhagen")), tick=False):
        yield


def author_findings(plan_path: Path, path: Path, lang: str = "da") -> list[findings.AuthorFinding]:
    plan = plan_.load(plan_path)
    message = message_.load(path, plan)
    variants = render.render_variants(plan, message)
    found = checks.all_findings(plan, message, variants)
    return findings.for_author(found, {n: f.title for n, f in plan.fora.items()}, lang)


MIDTNYT_DA = ("fejl: forum_texts.midtnyt.text (MidtNyt): text, lead, headline og action kommer fra groups.employees, "
              "som er skrevet til Socialområdets intranet: skriv forum_texts.midtnyt.text til dette forums egne "
              "læsere, eller skriv i planen, at forummet deler teksten (shares_text_with: intranet)")
MIDTNYT_EN = ("error: forum_texts.midtnyt.text (MidtNyt): text, lead, headline, and action come from "
              "groups.employees, written for Socialområdets intranet: write forum_texts.midtnyt.text for this "
              "forum's readers, or declare in the plan that it shares that text (shares_text_with: intranet)")


def test_a_forum_without_its_own_text_fails_check_naming_the_forum_and_the_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = draft(tmp_path, HEAD + GROUPS)
    assert cli.main(["check", "--plan", str(PLAN), str(path)]) == 1
    out = capsys.readouterr().out
    assert f"  {MIDTNYT_DA}\n" in out
    shown = author_findings(PLAN, path)
    wrong = [f for f in shown if f.rule == findings.WRONG_READER]
    # once per field: the three networks read forum_texts.network_briefing, so one finding names all three
    assert [(f.field, f.fora) for f in wrong] == [
        ("forum_texts.hmu.text", ("hmu",)),
        ("forum_texts.network_briefing.text", ("network_quality", "network_sensum", "network_health")),
        ("forum_texts.linkedin.text", ("linkedin",)),
        ("forum_texts.regional_intranet.text", ("regional_intranet",)),
        ("forum_texts.midtnyt.text", ("midtnyt",)),
    ]
    assert "groups.management, som er skrevet til OC-kredsen" in wrong[0].text
    # the sources line shows where the HMU text comes from, marked as another reader's
    assert "  hmu: text, lead, headline, action ← groups.management ✗ · timeline[].text · template " \
           "hmu_briefing.html.j2\n" in out


def test_findings_are_english_with_lang_en_or_an_english_locale(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = draft(tmp_path, HEAD + GROUPS)
    assert cli.main(["check", "--lang", "en", "--plan", str(PLAN), str(path)]) == 1
    assert f"  {MIDTNYT_EN}\n" in capsys.readouterr().out
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert cli.main(["check", "--plan", str(PLAN), str(path)]) == 1
    assert f"  {MIDTNYT_EN}\n" in capsys.readouterr().out
    assert cli.main(["check", "--lang", "da", "--plan", str(PLAN), str(path)]) == 1
    assert f"  {MIDTNYT_DA}\n" in capsys.readouterr().out


def test_a_plan_that_declares_sharing_passes_and_headings_follow_their_fields(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = draft(tmp_path, HEAD + GROUPS.replace(
        "    hook: Tre leverandører går videre i vores udbud af et fælles system.\n",
        "    hook: Tre leverandører går videre i vores udbud af et fælles system.\n"
        "    text: Vi vurderer nu tre systemer til dokumentation. I januar viser leverandørerne dem for os.\n"
        "    action: {ask: \"Vil I vide mere om udbuddet? Skriv til os.\"}\n") + OWN)
    refused = author_findings(PLAN, path)
    assert [(f.field, f.fora) for f in refused if f.rule == findings.WRONG_READER] == [
        ("forum_texts.regional_intranet.text", ("regional_intranet",))]
    # Deliberately: the regional intranet and MidtNyt reach the same readers (all the region's staff).
    sharing = write_plan(tmp_path, {"fora": {"regional_intranet": {"shares_text_with": "midtnyt"}}})
    assert cli.main(["check", "--plan", str(sharing), str(path)]) == 0
    out = capsys.readouterr().out
    assert "  regional_intranet: text, lead, headline, action ← forum_texts.midtnyt · shares_text_with: midtnyt" \
           in out
    plan = plan_.load(sharing)
    variants = {v.forum: v for v in render.render_variants(plan, message_.load(path, plan))}
    hmu = variants["hmu"].body
    # no text for the LMUs: neither the heading that introduces it nor the short version
    assert "Husk at orientere" not in hmu and "Kort version" not in hmu
    assert "<h3>Det beder vi jer om</h3>" in hmu
    # no invitation this month: the networks get a briefing
    assert variants["network_quality"].subject == ("Orientering til Netværk for kvalitetskoordinatorerne: Tak for "
                                                   "kravene – nu vurderer vi systemerne")
    assert "Invitation" not in variants["network_quality"].body


def test_the_shipped_example_reads_only_texts_written_for_each_forum() -> None:
    plan = plan_.load(PLAN)
    message = message_.load(ROOT / "messages" / "2026-11-status-udbud.md", plan)
    variants = render.render_variants(plan, message)
    assert checks.reader_findings(plan, message, variants) == []
    hmu = next(v for v in variants if v.forum == "hmu").body
    assert "<h3>Husk at orientere LMU</h3>" in hmu and "<h3>Kort version til LMU</h3>" in hmu


def test_a_finding_repeated_in_several_fora_is_told_once_for_its_field(tmp_path: Path) -> None:
    long = ("Vi vurderer nu de tre systemer grundigt sammen med superbrugerne fra alle specialområder, og vi "
            "ser på pris, kvalitet, brugervenlighed, sikkerhed og på, hvordan systemerne passer til hverdagen.")
    path = draft(tmp_path, HEAD + GROUPS.replace("    hook: Tre leverandører går videre i vores udbud af et "
                                                 "fælles system.\n",
                                                 "    hook: Tre leverandører går videre i vores udbud af et "
                                                 "fælles system.\n    text: Vi vurderer nu tre systemer.\n"
                                                 "    action: {ask: \"Vil I vide mere om udbuddet? Skriv til os.\"}\n")
                 + OWN.replace("    text: |\n      I skrev kravene med os.", f"    text: |\n      {long}\n      I "
                               "skrev kravene med os."))
    shown = author_findings(PLAN, path)
    long_ones = [f for f in shown if f.rule == "long_sentence"]
    assert [(f.field, f.fora) for f in long_ones] == [
        ("forum_texts.network_briefing.text", ("network_quality", "network_sensum", "network_health"))]
    assert long_ones[0].text.startswith("En sætning på 28 ord")
    # by consequence: what blocks and what reaches the wrong reader before the language
    ranks = [findings.consequence(f) for f in shown]
    assert ranks == sorted(ranks) and ranks[0] == 1 and ranks[-1] == 3


def test_the_catalogue_translates_every_msgid_the_code_says() -> None:
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    with catalogue.catalogue_path("da").open("rb") as po:
        danish = read_po(po)
    said = {m[2] for m in extract_from_dir(str(ROOT / "budbringer"), method_map=[("**.py", "python")],
                                            keywords={"say": (1,), "pair": (1,), "N_": (1,)}, comment_tags=())}
    assert said, "no msgid found"
    assert sorted(m for m in said if not (danish.get(m) and danish.get(m).string)) == []
    assert catalogue.language(None, {"LANG": "C.UTF-8"}) == "da"
    assert catalogue.language(None, {"LC_MESSAGES": "en_US.UTF-8", "LANG": "da_DK.UTF-8"}) == "en"
    assert catalogue.language("en", {"LANG": "da_DK.UTF-8"}) == "en"


def test_shares_text_with_names_a_forum_and_no_circle(tmp_path: Path) -> None:
    from budbringer.errors import InputError

    unknown = write_plan(tmp_path, {"fora": {"midtnyt": {"shares_text_with": "midtnytt"}}}, "unknown.yaml")
    with pytest.raises(InputError) as caught:
        plan_.load(unknown)
    [problem] = caught.value.problems
    assert (problem.field, problem.what) == ("fora.midtnyt.shares_text_with", "names the unknown forum 'midtnytt'")
    circle = write_plan(tmp_path, {"fora": {"midtnyt": {"shares_text_with": "regional_intranet"},
                                            "regional_intranet": {"shares_text_with": "midtnyt"}}}, "circle.yaml")
    with pytest.raises(InputError) as caught:
        plan_.load(circle)
    assert {p.what for p in caught.value.problems} == {
        "goes round in a circle (midtnyt → regional_intranet → midtnyt)",
        "goes round in a circle (regional_intranet → midtnyt → regional_intranet)"}
