"""Jargon found, not listed (issue 22, item 3): rare Danish words by wordfreq's frequencies, explained where
first used or flagged, compounds judged per group, words a reader knows, and the month's words.

The drafts are December's status (evaluation phase, prequalified suppliers, demo days, super-users), written
here as an officer would, not the shipped example. The frequency list and lemmas are the real ones.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
import wordfreq

from budbringer import checks, jargon, message as message_, plan as plan_
from budbringer.errors import InputError
from budbringer import cli
from tests.conftest import PLAN
from tests.test_readability import small_plan, variant

#: the drafts' date, 14 December 2026, before their approval deadline (7 January 2027)
DRAFTS_DAY = time_machine.travel(dt.datetime(2026, 12, 14, 10, tzinfo=ZoneInfo("Europe/Copenhagen")), tick=False)
DEMO_DAYS = ("<div><p>Vi er nu i gang med at vælge et nyt system. I januar holder vi demodage på "
             "Regionshuset i Viborg. Du skal ikke gøre noget.</p></div>")


def jargon_findings(plan: plan_.Plan, *variants, month_words=None) -> list[checks.Finding]:
    return [f for f in checks.check_variants(plan, list(variants), month_words=month_words) if f.rule == "jargon"]


def test_the_frequency_list_is_wordfreqs_danish_list() -> None:
    """The list is read from wordfreq's file without importing wordfreq: the values must be wordfreq's own."""
    for word in ("leverandør", "udbud", "implementering", "tilbud", "demo", "bruger", "udleve", "demodage"):
        assert jargon.LEXICON.zipf(word) == pytest.approx(wordfreq.zipf_frequency(word, "da"), abs=0.01), word
    assert jargon.LEXICON.lemma("leverandørerne") == "leverandør"


def test_compounds_are_judged_per_group() -> None:
    citizens = jargon.Judge(compound_zipf=jargon.COMPOUND_ZIPF["citizens"])
    staff = jargon.Judge(compound_zipf=jargon.COMPOUND_ZIPF["employees"])
    # demo (3.91) + dage: built of words in the list, so staff pass it; demo is no everyday word for citizens
    assert citizens.rare("demodage") == (0.0, ("demo", "dage"), ("demo",))
    assert staff.rare("demodage") is None
    assert citizens.rare("evalueringsfasen") is not None and staff.rare("evalueringsfasen") is None
    # everyday parts pass for everyone; a hyphenated word is judged by its parts
    for word in ("hjemmehjælp", "handleplanen", "it-systemer", "leverandørerne"):
        assert citizens.rare(word) is None and staff.rare(word) is None, word
    # a rare word that is not built of known words is rare for staff too
    assert staff.rare("interoperabilitet") == (0.0, (), ())


def test_a_rare_word_in_a_citizens_text_blocks_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):  # the author's language by default: Danish
        monkeypatch.delenv(name, raising=False)
    reads_the_draft = "<div><p>{{ content.lead }}</p>{{ content.text_html }}</div>"
    plan = small_plan(tmp_path, {"website": ("citizens", "web", "Vi vælger et nyt system", reads_the_draft)})
    draft = tmp_path / "2026-12-status.md"
    draft.write_text(
        "---\nid: 2026-12-status\ntitle: Status på udbuddet – december 2026\n"
        "summary: Evalueringen er i gang, og tre firmaer er udvalgt til at give bud.\ndate: 2026-12-14\n"
        "contact: {name: Anne Holm, role: projektleder, email: anne.holm@example.dk}\n"
        "groups:\n  citizens:\n    headline: Vi vælger et nyt system\n"
        "    lead: Vi er nu i gang med at vælge et nyt system.\n"
        "    text: I januar holder vi demodage på Regionshuset i Viborg. Du skal ikke gøre noget.\n"
        "    action: {ask: 'Skriv til os, hvis du vil vide mere.'}\n---\n", encoding="utf-8")
    with DRAFTS_DAY:  # before the draft's approval deadline: `check` compares it with now
        assert cli.main(["--plan", str(plan), "check", str(draft)]) == 1
    out, err = capsys.readouterr()
    assert out, err
    # Told to the author in Danish, naming the field to change.
    assert ("  fejl: groups.citizens.text (Website): »demodage« er ikke et hverdagsord (sammensat af demo + dage, og "
            "»demo« er ikke almindeligt nok for målgruppen), og det er ikke forklaret, første gang det bruges (»I "
            "januar holder vi demodage på Regionshuset i Viborg.«). Forklar det der, fx »demodage, hvor …« eller i "
            "en parentes, eller skriv det med almindelige ord.\n") in out
    assert (f"{draft}: groups.citizens.text: “demodage” is uncommon in everyday Danish (built of demo + dage, and "
            f"“demo” is not an everyday word for citizens) and is not explained where it is first used\n") in err
    with DRAFTS_DAY:
        assert cli.main(["--plan", str(plan), "check", "--lang", "en", str(draft)]) == 1
    assert ("  error: groups.citizens.text (Website): “demodage” is uncommon in everyday Danish (built of demo + "
            "dage, and “demo” is not an everyday word for citizens) and is not explained where it is first used: "
            "explain it there (“demodage, hvor …”, “demodage (…)” or “det vil sige …”), say it in everyday words, or "
            "list it under the message's `words:` (in “I januar holder vi demodage på Regionshuset i Viborg.”)\n"
            ) in capsys.readouterr().out
    assert "ok: nothing was sent" not in out
    assert not (tmp_path / "outbox").exists()

    # The officer lists it as this month's word, known to the website's readers: check passes.
    front, _ = draft.read_text(encoding="utf-8").rsplit("---\n", 1)
    draft.write_text(front + "words:\n  demodag: {known: [website]}\n---\n", encoding="utf-8")
    with DRAFTS_DAY:
        assert cli.main(["--plan", str(plan), "check", str(draft)]) == 0
    assert "ok: nothing was sent" in capsys.readouterr().out


def test_the_finding_names_the_word_the_text_and_the_fix_in_danish() -> None:
    plan = plan_.load(PLAN)
    website = variant("website", DEMO_DAYS, stakeholder="citizens", subject="Vi vælger et nyt system", medium="web")
    [finding] = jargon_findings(plan, website)
    assert finding.severity == "error" and finding.forum == "website"
    assert finding.text_da == (
        "»demodage« er ikke et hverdagsord (sammensat af demo + dage, og »demo« er ikke almindeligt nok for "
        "målgruppen), og det er ikke forklaret, første gang det bruges (»I januar holder vi demodage på "
        "Regionshuset i Viborg.«). Forklar det der, fx »demodage, hvor …« eller i en parentes, eller skriv det med "
        "almindelige ord.")
    # the same word in a staff text is built of words in the list: no finding
    intranet = variant("intranet", DEMO_DAYS, subject="Vi vælger et nyt system")
    assert jargon_findings(plan, intranet) == []


@pytest.mark.parametrize("explained", [
    # an apposition
    "I januar holder vi demodage, dage hvor firmaerne viser deres system frem.",
    # a relative clause
    "I januar holder vi demodage, hvor firmaerne viser deres system frem.",
    # a parenthesis, after the word or around it
    "I januar holder vi demodage (firmaerne viser deres system frem).",
    "I januar viser firmaerne deres system frem (demodage).",
    # a dash
    "I januar holder vi demodage – firmaerne viser deres system frem.",
    # det vil sige / dvs.
    "I januar holder vi demodage, det vil sige at firmaerne viser deres system frem.",
    "I januar holder vi demodage, dvs. firmaerne viser deres system frem.",
])
def test_a_rare_word_explained_where_it_is_first_used_gives_no_finding(explained: str) -> None:
    plan = plan_.load(PLAN)
    website = variant("website", f"<div><p>Vi er nu i gang med at vælge et nyt system. {explained} Du skal ikke "
                                 f"gøre noget. Senere i foråret holder vi flere demodage.</p></div>",
                      stakeholder="citizens", subject="Vi vælger et nyt system", medium="web")
    assert jargon_findings(plan, website) == []


def test_an_explanation_later_than_the_first_use_does_not_count() -> None:
    plan = plan_.load(PLAN)
    website = variant("website", "<div><p>I januar holder vi demodage. Firmaerne kommer til Viborg. På "
                                 "demodagene, dage hvor firmaerne viser systemet frem, er alle velkomne.</p></div>",
                      stakeholder="citizens", subject="Vi vælger et nyt system", medium="web")
    assert [f.severity for f in jargon_findings(plan, website)] == ["error"]


def test_a_relative_clause_explains_a_glossary_term() -> None:
    """Issue 22: "et udbud, hvor firmaer konkurrerer om at levere det" was not taken as an explanation."""
    plan = plan_.load(PLAN)
    draft = ("<div><p>Socialområdet køber et nyt system gennem et udbud, hvor firmaer konkurrerer om at levere det. "
             "Tre firmaer er nu med i evalueringsfasen.</p></div>")
    intranet = variant("intranet", draft, subject="Tre firmaer er med")
    assert [f for f in checks.check_variants(plan, [intranet]) if f.rule in ("glossary", "jargon")] == []
    bare = variant("intranet", draft.replace(", hvor firmaer konkurrerer om at levere det", ""),
                   subject="Tre firmaer er med")
    assert [f.rule for f in checks.check_variants(plan, [bare]) if f.rule in ("glossary", "jargon")] == ["glossary"]


def test_a_word_the_reader_knows_gives_no_finding(tmp_path: Path) -> None:
    # The networks write the requirements: the shipped plan says they know "kravspecifikation".
    plan = plan_.load(PLAN)
    text = ("<div><p>Tak for jeres arbejde med kravspecifikationen. I januar læser vi de tre bud sammen. "
            "Leverandørerne viser deres system frem på demodage.</p></div>")
    network = variant("network_quality", text, subject="Vi læser buddene sammen",
                      template="network_briefing.html.j2")
    assert [f for f in checks.check_variants(plan, [network]) if f.rule in ("glossary", "jargon")] == []
    intranet = variant("intranet", text, subject="Vi læser buddene sammen")
    assert [f.text.split(" ")[0] for f in checks.check_variants(plan, [intranet]) if f.rule == "glossary"] == [
        "kravspecifikationen"]  # the intranet's readers do not know it; everyone knows "leverandør"


def test_the_months_words_explain_or_are_known(tmp_path: Path) -> None:
    plan = plan_.load(PLAN)
    citizens = variant("website", DEMO_DAYS, stakeholder="citizens", subject="Vi vælger et nyt system", medium="web")
    staff = variant("intranet", "<div><p>Er du superbruger, får du fri til demodagene i januar. "
                                "Aftal det med din leder.</p></div>", subject="Superbrugere til demodage")
    words = {"demodag": message_.Word(explain="en dag, hvor firmaerne viser deres system frem",
                                      plain="en dag, hvor firmaerne viser systemet frem")}
    # explained words join the glossary: citizens are told the plain words, staff to explain it
    found = checks.check_variants(plan, [citizens, staff], month_words=words)
    assert [(f.forum, f.rule, f.severity) for f in found if f.rule in ("glossary", "jargon")] == [
        ("website", "glossary", "error"), ("intranet", "glossary", "warning")]
    assert "say “en dag, hvor firmaerne viser systemet frem”" in found[0].text
    known = {"demodag": message_.Word(known=["all"])}
    assert [f for f in checks.check_variants(plan, [citizens, staff], month_words=known)
            if f.rule in ("glossary", "jargon")] == []


def test_names_and_abbreviations_are_not_jargon() -> None:
    plan = plan_.load(PLAN)
    text = ("<div><p>Sensum er det system, mange bruger i dag. Vi mødes i Skottenborg hos Regionshuset Viborg. "
            "Kolleger fra Sensum og FSIII er med.</p></div>")
    website = variant("website", text, stakeholder="citizens", subject="Vi mødes i Viborg", medium="web")
    assert jargon_findings(plan, website) == []


def test_the_months_known_words_must_name_a_reader(tmp_path: Path) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text("---\nid: 2026-12-status\ntitle: Status i december\nsummary: Evalueringen er i gang nu.\n"
                     "date: 2026-12-14\nwords:\n  demodag: {known: [borgere]}\n  superbruger: {}\n---\n",
                     encoding="utf-8")
    with pytest.raises(InputError) as raised:
        message_.load(draft, plan_.load(PLAN))
    text = str(raised.value)
    assert "words.superbruger" in text and "says nothing about the word" in text
    draft.write_text(draft.read_text(encoding="utf-8").replace("  superbruger: {}\n", ""), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        message_.load(draft, plan_.load(PLAN))
    assert "words.demodag.known[0]" in str(raised.value)
