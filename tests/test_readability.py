"""Danish plain language: sentence splitting, LIX on what the reader reads, the glossary, repetition, the form
of address, the severity of each rule, and what `check` and `preview` show.

Every text here is written in the test, so the tests do not depend on the shipped example message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from budbringer import checks, plan as plan_, readability
from budbringer import cli
from budbringer.readability import Measure, reader_text, sentences, words
from budbringer.render import Variant
from tests.conftest import MESSAGE, PLAN

SHIPPED = yaml.safe_load(PLAN.read_text(encoding="utf-8"))


# -- sentences ------------------------------------------------------------------------------------------------

ABBREVIATIONS = ["bl.a.", "dvs.", "f.eks.", "fx", "mv.", "ca.", "jf.", "pga.", "pr.", "nr.", "kl.", "evt.", "inkl.",
                 "ift.", "vedr.", "mht.", "osv."]


def test_remembered_sentences_and_words_are_a_fresh_list_each_time() -> None:
    """`sentences` and `words` remember their answer per text (the checks at 1,000 fora): a caller that changes
    the list it got changes nothing for the next caller."""
    text = "Vi tester systemerne i januar. Superbrugerne er fundet."
    first = sentences(text)
    first.append("noget andet")
    assert sentences(text) == ["Vi tester systemerne i januar.", "Superbrugerne er fundet."]
    got = words(text)
    got.clear()
    assert words(text)[:3] == ["Vi", "tester", "systemerne"]


@pytest.mark.parametrize("abbreviation", ABBREVIATIONS)
def test_an_abbreviation_inside_a_sentence_does_not_end_it(abbreviation: str) -> None:
    text = f"Vi taler {abbreviation} med netværkene om kravene. Derefter skriver vi dem ned."
    assert sentences(text) == [f"Vi taler {abbreviation} med netværkene om kravene.", "Derefter skriver vi dem ned."]


@pytest.mark.parametrize("text", [
    "Vi mødes kl. 10 i Viborg.",
    "Status pr. 23. november 2026 er klar.",
    "Sagen har nr. 5 på listen.",
    "Det koster ca. 5.000 kr. om året.",
    "Vi følger reglerne, jf. Serviceloven, i alt vores arbejde.",
    "Vi vælger f.eks. Aarhus som første sted.",
    "Vi spørger bl.a. Region Midtjylland om hjælp.",
    "Projektet er forsinket pga. Nytår og ferie.",
    "Skriv ang. mødet til projektgruppen.",  # an abbreviation we do not list: a small letter follows
])
def test_abbreviations_before_numbers_and_names_do_not_end_a_sentence(text: str) -> None:
    assert sentences(text) == [text]


def test_abbreviations_that_close_a_list_end_a_sentence_before_a_capital() -> None:
    assert sentences("Vi bruger journaler, planer osv. Derfor vælger vi ét system.") == [
        "Vi bruger journaler, planer osv.", "Derfor vælger vi ét system."]
    assert sentences("Vi bruger journaler, planer mv. Nu samler vi dem.") == [
        "Vi bruger journaler, planer mv.", "Nu samler vi dem."]
    assert sentences("Journaler, planer mv. skal samles.") == ["Journaler, planer mv. skal samles."]


@pytest.mark.parametrize("text", [
    "OC-mødet er den 10. december 2026, og vi sender status før.",
    "Vi holder workshop den 17. og 18. januar.",
    "Svar senest den 20.11. kl. 12 til projektgruppen.",
    "Svar senest 20.11.2026 til projektgruppen.",
    "Det er den 3. gang, vi mødes.",
])
def test_ordinals_and_dates_do_not_end_a_sentence(text: str) -> None:
    assert sentences(text) == [text]


def test_an_ordinal_or_a_date_at_the_end_ends_the_sentence() -> None:
    assert sentences("Vi mødes den 17. Tag gerne en kollega med.") == ["Vi mødes den 17.", "Tag gerne en kollega med."]
    assert sentences("Fristen er den 17.") == ["Fristen er den 17."]
    assert sentences("Svar senest 20.11.2026. Tak for hjælpen.") == ["Svar senest 20.11.2026.", "Tak for hjælpen."]


def test_numbers_with_a_thousands_point_and_dates_are_one_word() -> None:
    assert words("Vi har 5.678 borgere og 1.250 medarbejdere.") == ["Vi", "har", "5.678", "borgere", "og", "1.250",
                                                                   "medarbejdere"]
    assert words("Fristen er 20.11.2026.") == ["Fristen", "er", "20.11.2026"]
    assert sentences("Vi har 5.678 borgere. De får hjælp hver dag.") == ["Vi har 5.678 borgere.",
                                                                         "De får hjælp hver dag."]
    # Digits are not letters: a long number is not a long word.
    assert Measure.of(["Vi har 5.678.000 kr."]).long_words == 0


def test_a_colon_ends_a_sentence_only_before_a_capital() -> None:
    assert sentences("Tidsplanen: kravene skrives i vinter.") == ["Tidsplanen: kravene skrives i vinter."]
    assert sentences("Husk dette: Alle skal med.") == ["Husk dette:", "Alle skal med."]
    assert sentences("Vinteren 2026/27: kravspecifikation og markedsdialog") == [
        "Vinteren 2026/27: kravspecifikation og markedsdialog"]


def test_question_and_exclamation_marks_and_blocks_end_sentences() -> None:
    assert sentences("Hvad betyder det for dig? Ingenting lige nu! Læs mere") == [
        "Hvad betyder det for dig?", "Ingenting lige nu!", "Læs mere"]
    assert sentences("Første afsnit uden punktum\n\nAndet afsnit.") == ["Første afsnit uden punktum", "Andet afsnit."]
    assert sentences("Citatet lyder »Vi hjælper dig.« Så ved du det.") == ["Citatet lyder »Vi hjælper dig.«",
                                                                          "Så ved du det."]


def test_addresses_are_not_words_and_do_not_split_sentences() -> None:
    text = "Skriv til udbud@socialomraadet.example eller læs https://www.rm.dk/nyt-system/ i dag."
    assert sentences(text) == ["Skriv til eller læs i dag."]
    assert "rm" not in words(text)


def test_splitting_neither_drops_nor_adds_words() -> None:
    text = ("Status pr. 23. november 2026: Vi har bl.a. talt med ca. 5.678 borgere, jf. planen. Mødet er kl. 10. "
            "Svar senest 20.11.2026. Tak! Hvad så? Journaler mv. Derfor: Alle skal med.\n\nNyt afsnit uden punktum")
    assert [w for s in sentences(text) for w in words(s)] == words(text)
    assert sentences(text) == ["Status pr. 23. november 2026:", "Vi har bl.a. talt med ca. 5.678 borgere, jf. planen.",
                               "Mødet er kl. 10.", "Svar senest 20.11.2026.", "Tak!", "Hvad så?", "Journaler mv.",
                               "Derfor:", "Alle skal med.", "Nyt afsnit uden punktum"]


def test_lix() -> None:
    # 11 words, 2 sentences, one word of more than six letters (lettere; "fælles" and "system" have six).
    assert readability.lix("Vi skal finde ét fælles system. Det bliver lettere for alle.") == pytest.approx(
        11 / 2 + 100 / 11)
    # One sentence of 7 words, one of them long (november).
    assert checks.lix("Status pr. 23. november 2026 er klar.") == pytest.approx(7 / 1 + 100 / 7)


# -- what the reader reads ------------------------------------------------------------------------------------

def variant(forum: str, body: str, stakeholder: str = "employees", subject: str = "Nyt om systemet",
            medium: str = "mail", template: str | None = None, tier: str = "t") -> Variant:
    fmt = "text" if medium == "post" else "html"
    return Variant(forum=forum, forum_title=forum.title(), tier=tier, tier_index=1, phase="cascade", medium=medium,
                   channel="mail", template=template or f"{forum}.html.j2", stakeholder=stakeholder,
                   subject=subject, body=body, body_format=fmt, summary="", link=None)


def test_greeting_headings_and_sign_off_do_not_count_the_headline_does() -> None:
    body = ("<div><p>Kære alle i netværket</p><h2>Status</h2><p>Vi er i gang. Det går godt.</p>"
            "<p><strong>Hvad betyder det for dig</strong></p><p>Læs mere:</p>"
            "<p>Med venlig hilsen<br>Projektgruppen<br>Socialområdet</p><p>Anne Holm</p></div>")
    reader = reader_text(variant("net", body))
    assert reader.greeting == "Kære alle i netværket"
    assert reader.measured == ["Nyt om systemet", "Vi er i gang.", "Det går godt."]
    assert [b.kind for b in reader.blocks] == ["greeting", "heading", "prose", "heading", "heading", "signature",
                                               "signature"]
    assert reader_text(variant("net", "<p>Hej alle sammen!</p><p>Vi er i gang.</p>")).greeting == "Hej alle sammen!"
    measure = Measure.of(reader.measured)
    assert (measure.words, measure.sentences, measure.longest) == (10, 3, 4)


def test_a_submission_is_measured_on_its_article_with_its_heading_as_headline() -> None:
    body = ("<div><p>Til redaktionen af MidtNyt</p><p>Vi foreslår indlægget nedenfor til jeres næste nummer af "
            "nyhedsbrevet, som udkommer i december.</p><article><h2>Nyt system på vej</h2>"
            "<p>Vi skal have ét system. Du skal ikke gøre noget.</p></article><p>Med venlig hilsen</p></div>")
    reader = reader_text(variant("midtnyt", body, subject="Forslag til MidtNyt", medium="submission"))
    assert reader.measured == ["Nyt system på vej", "Vi skal have ét system.", "Du skal ikke gøre noget."]


def test_a_post_has_no_headline_and_hashtags_are_not_prose() -> None:
    body = "Nyt fælles it-system på vej\n\nVi har nu kortlagt, hvordan vi skriver ned i dag.\n\n#Socialområdet #Region"
    reader = reader_text(variant("linkedin", body, stakeholder="others", medium="post"))
    assert reader.headline is None
    assert reader.measured == ["Nyt fælles it-system på vej", "Vi har nu kortlagt, hvordan vi skriver ned i dag."]


# -- rules on small plans -------------------------------------------------------------------------------------

def plan_with(tmp_path: Path, readability_overlay: dict | None = None) -> plan_.Plan:
    section = {**SHIPPED["readability"], **(readability_overlay or {})}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"extends": str(PLAN), "readability": section}, allow_unicode=True),
                    encoding="utf-8")
    return plan_.load(path)


CITIZENS_OK = ("<div><p>Når du får hjælp fra os, skriver vi ned, hvad der sker. Nu skal vi have ét fælles it-system. "
               "Du skal ikke gøre noget.</p></div>")


def test_the_shipped_defaults_are_the_issues_ceilings(tmp_path: Path) -> None:
    policy = plan_.load(PLAN).readability
    assert [policy.max_lix(g) for g in ("citizens", "employees", "management", "others")] == [34, 44, 44, 44]
    assert policy.severity("citizens", "lix") == "block" and policy.severity("citizens", "glossary") == "block"
    assert policy.severity("employees", "glossary") == "warn" and policy.severity("others", "lix") == "warn"
    # A plan without a readability section gets the same defaults.
    bare = plan_.ReadabilityPolicy()
    assert bare.max_lix("citizens") == 34 and bare.max_lix("others") == 44
    assert bare.terms("citizens") == "avoid" and bare.terms("employees") == "explain"
    # The old form of the section (groups with max_lix and avoid) still loads.
    old = plan_.ReadabilityPolicy.model_validate({"citizens": {"max_lix": 40, "avoid": ["foranalyse"]},
                                                  "management": {"max_lix": 55}})
    assert old.get("citizens").avoid == ["foranalyse"] and old.max_lix("management") == 55


def test_a_glossary_term_in_a_citizens_text_blocks(tmp_path: Path) -> None:
    plan = plan_.load(PLAN)
    good = variant("website", CITIZENS_OK, stakeholder="citizens", subject="Nyt it-system", medium="web")
    assert [f for f in checks.check_variants(plan, [good]) if f.severity == "error"] == []
    bad = variant("website", CITIZENS_OK.replace("ét fælles it-system", "et nyt dokumentationssystem gennem "
                                                 "udbuddet"), stakeholder="citizens", subject="Nyt it-system",
                  medium="web")
    errors = [f for f in checks.check_variants(plan, [bad]) if f.severity == "error"]
    assert {f.rule for f in errors} == {"glossary"}
    assert any("udbuddet (udbud)" in f.text and "say" in f.text for f in errors)
    assert any("dokumentationssystem" in f.text for f in errors)
    assert all(f.forum == "website" and f.text_da for f in errors)
    assert readability.figures(plan, [bad])["website"].terms == ["dokumentationssystem", "udbud"]


def test_a_citizens_text_over_its_ceiling_blocks_and_the_rule_can_be_made_a_warning(tmp_path: Path) -> None:
    hard = ("<div><p>Implementeringsprocessen forudsætter dokumentationsmæssige tilpasninger, organisatoriske "
            "forandringsprocesser og omfattende kompetenceudvikling blandt medarbejderne.</p></div>")
    website = variant("website", hard, stakeholder="citizens", subject="Orientering", medium="web")
    plan = plan_.load(PLAN)
    errors = [f for f in checks.check_variants(plan, [website]) if f.rule == "lix"]
    assert len(errors) == 1 and errors[0].severity == "error" and "above 34 for citizens" in errors[0].text
    relaxed = plan_with(tmp_path, {"citizens": {"max_lix": 34, "terms": "avoid", "rules": {"lix": "warn"}}})
    assert [f.severity for f in checks.check_variants(relaxed, [website]) if f.rule == "lix"] == ["warning"]
    off = plan_with(tmp_path, {"rules": {"lix": "off"}, "citizens": {"rules": {}}})
    assert [f for f in checks.check_variants(off, [website]) if f.rule == "lix"] == []


def test_an_employees_text_must_explain_a_term_on_first_use() -> None:
    plan = plan_.load(PLAN)
    unexplained = variant("intranet", "<div><p>Nu skriver vi kravspecifikationen. Den bliver klar i foråret.</p>"
                                      "</div>", subject="Kravene skrives")
    found = [f for f in checks.check_variants(plan, [unexplained]) if f.rule == "glossary"]
    assert len(found) == 1 and found[0].severity == "warning" and "kravspecifikationen" in found[0].text
    for explained in (
        "Nu skriver vi kravspecifikationen. Det er listen over, hvad systemet skal kunne.",
        "Nu skriver vi kravspecifikationen (listen over, hvad systemet skal kunne).",
        "Nu skriver vi kravspecifikationen – listen over, hvad systemet skal kunne.",
        "Kravspecifikationen er en liste over, hvad systemet skal kunne.",
        "Nu skriver vi kravspecifikationen, det vil sige listen over, hvad systemet skal kunne.",
        "Vi skriver ned, hvad systemet skal kunne. Det kalder vi en kravspecifikation.",
    ):
        ok = variant("intranet", f"<div><p>{explained}</p></div>", subject="Kravene skrives")
        assert [f for f in checks.check_variants(plan, [ok]) if f.rule == "glossary"] == [], explained
    # A capitalised term matches only in capitals: "med" is a word, MED is a committee.
    acronym = variant("intranet", "<div><p>Vi taler med alle. MED-udvalget hører om det.</p></div>", subject="Nyt")
    assert readability.figures(plan, [acronym])["intranet"].terms == ["MED"]


def test_tilbud_in_two_meanings_is_flagged() -> None:
    plan = plan_.load(PLAN)
    both = variant("oc", "<div><p>Kravene skal passe til hverdagen på tilbuddene. Når udbuddet er sendt ud, "
                         "vurderer vi tilbuddene fra firmaerne.</p></div>", stakeholder="management")
    found = [f for f in checks.check_variants(plan, [both]) if f.rule == "ambiguous_term"]
    assert len(found) == 1 and "tilbud is used in two meanings" in found[0].text
    one = variant("oc", "<div><p>Kravene skal passe til hverdagen på tilbuddene.</p></div>", stakeholder="management")
    assert [f for f in checks.check_variants(plan, [one]) if f.rule == "ambiguous_term"] == []


def test_long_sentences_are_flagged() -> None:
    plan = plan_.load(PLAN)
    long = "Denne " + " ".join(["ord"] * 25) + "."
    v = variant("intranet", f"<div><p>Kort sætning her. {long}</p></div>", subject="Nyt")
    figure = readability.figures(plan, [v])["intranet"]
    assert figure.longest == 26 and len(figure.long_sentences) == 1
    assert [f.rule for f in checks.check_variants(plan, [v])].count("long_sentence") == 1


def test_a_sentence_said_twice_in_a_variant_is_flagged() -> None:
    plan = plan_.load(PLAN)
    twice = variant("intranet", "<div><p>Du skal ikke gøre noget lige nu.</p><p>Vi skriver kravene i vinter.</p>"
                                "<p>Du skal ikke gøre noget lige nu.</p></div>", subject="Nyt")
    found = [f for f in checks.check_variants(plan, [twice]) if f.rule == "repeated_sentence"]
    assert len(found) == 1 and "says a sentence twice" in found[0].text


PASTED = "Foranalysen viser, at vi dokumenterer på mange forskellige måder i specialområderne i dag."


def test_a_paragraph_pasted_into_two_variants_is_flagged() -> None:
    plan = plan_.load(PLAN)
    oc = variant("oc", f"<div><p>Kære alle i OC-kredsen</p><p>{PASTED}</p></div>", stakeholder="management",
                 tier="oc")
    intranet = variant("intranet", f"<div><p>Vi har nyt om systemet.</p><p>{PASTED}</p></div>", tier="employees")
    found = [f for f in checks.check_variants(plan, [oc, intranet]) if f.rule == "repeated_paragraph"]
    assert len(found) == 1 and "oc, intranet" in found[0].text and found[0].severity == "warning"
    figures = readability.figures(plan, [oc, intranet])
    assert figures["oc"].repeated == [PASTED] and figures["intranet"].repeated == [PASTED]
    # The same template in one tier is one text for different people (the three networks): not a repetition.
    a = variant("network_quality", f"<div><p>{PASTED}</p></div>", template="network.html.j2", tier="hmu")
    b = variant("network_sensum", f"<div><p>{PASTED}</p></div>", template="network.html.j2", tier="hmu")
    assert [f for f in checks.check_variants(plan, [a, b]) if f.rule == "repeated_paragraph"] == []


def test_a_sentence_in_more_than_three_variants_is_flagged() -> None:
    plan = plan_.load(PLAN)
    sentence = "Vi skriver kravene sammen med netværkene i løbet af vinteren og foråret næste år."
    fora = [variant(name, f"<div><p>Tekst nummer {i} til læseren.</p><ul><li>{sentence}</li></ul></div>",
                    tier=f"t{i}") for i, name in enumerate(["oc", "hmu", "intranet", "midtnyt"])]
    assert [f for f in checks.check_variants(plan, fora[:3]) if f.rule == "widespread_sentence"] == []
    found = [f for f in checks.check_variants(plan, fora) if f.rule == "widespread_sentence"]
    assert len(found) == 1 and "in 4 variants (at most 3; oc, hmu, intranet, midtnyt)" in found[0].text


@pytest.mark.parametrize(("greeting", "text", "wrong"), [
    ("Kære alle i OC-kredsen", "Som leder er du vigtig for dine medarbejdere.", True),
    ("Til HMU", "Som leder er du vigtig.", True),
    ("Kære medlemmer af HMU", "I kan sende teksten videre til jeres LMU.", False),
    ("Kære Mette Lund", "I kan svare i Prefect.", True),
    ("Kære Mette Lund", "Du kan svare i Prefect.", False),
    ("Kære Mette Lund", "I dag sender vi status til dig.", False),  # "I dag": the preposition
])
def test_the_form_of_address_follows_the_greeting(greeting: str, text: str, wrong: bool) -> None:
    plan = plan_.load(PLAN)
    v = variant("oc", f"<div><p>{greeting}</p><p>{text}</p></div>", stakeholder="management")
    found = [f for f in checks.check_variants(plan, [v]) if f.rule == "form_of_address"]
    assert bool(found) is wrong, found


def test_without_a_greeting_du_and_i_must_not_be_mixed_but_a_quoted_text_keeps_its_own() -> None:
    plan = plan_.load(PLAN)
    mixed = variant("intranet", "<div><p>Du skal ikke gøre noget. I kan spørge jeres leder.</p></div>", subject="Nyt")
    assert [f.rule for f in checks.check_variants(plan, [mixed])].count("form_of_address") == 1
    quoted = variant("oc", "<div><p>Kære alle i OC-kredsen</p><p>I kan sende teksten videre.</p><blockquote>"
                           "<p>Du skal ikke gøre noget lige nu.</p></blockquote></div>", stakeholder="management")
    assert [f for f in checks.check_variants(plan, [quoted]) if f.rule == "form_of_address"] == []


def test_a_rule_in_the_plan_must_be_known(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"extends": str(PLAN), "readability": {"rules": {"lix_max": "block"}}}),
                    encoding="utf-8")
    with pytest.raises(plan_.InputError) as raised:
        plan_.load(path)
    assert "readability.rules" in str(raised.value)


# -- check and preview ----------------------------------------------------------------------------------------

STATIC = "{{% set subject = {subject!r} %}}\n{body}\n"


def small_plan(tmp_path: Path, texts: dict[str, tuple[str, str, str, str]]) -> Path:
    """A plan of our own with static templates (forum -> (stakeholder, medium, subject, body)), so the test does
    not depend on the shipped message or templates."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "approval.html.j2").write_text(STATIC.format(subject="Til godkendelse", body="<p>Godkend.</p>"),
                                                encoding="utf-8")
    fora = {}
    for name, (stakeholder, medium, subject, body) in texts.items():
        (templates / f"{name}.html.j2").write_text(STATIC.format(subject=subject, body=body), encoding="utf-8")
        fora[name] = {"title": name.title(), "stakeholder": stakeholder, "medium": medium, "channel": "outbox",
                      "template": f"{name}.html.j2"}
        if medium == "mail":
            fora[name]["recipients"] = [f"{name}@socialomraadet.example"]
        if medium == "page":
            fora[name]["sites"] = ["socialomraadet.sharepoint.example/sites/test"]
    first = next(iter(texts))
    fora[first]["meetings"] = ["2027-01-14"]  # the calendar's forum needs its meetings
    plan = {
        "name": "Testplan", "narrative": SHIPPED["narrative"],
        "approval": {**SHIPPED["approval"], "template": "approval.html.j2", "channel": "outbox"},
        "templates": str(templates), "channels": {"outbox": {"type": "outbox", "path": str(tmp_path / "outbox")}},
        "fora": fora, "tiers": [{"name": f"t{i}", "title": f"Trin {i}", "fora": [name]}
                                for i, name in enumerate(texts)],
        "readability": SHIPPED["readability"], "calendar": {"meetings_forum": first},
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    return path


def small_message(folder: Path) -> Path:
    """A message of our own with a text for every stakeholder group, so that the static templates of
    `small_plan` find what they need and the shipped example's per-forum texts do not come into it."""
    group = ("    headline: Nyt it-system\n    lead: Vi finder et nyt it-system.\n"
             "    text: Du skal ikke gøre noget.\n    action: {ask: Læs med her.}\n")
    path = folder / "small.md"
    path.write_text("---\nid: 2026-11-small\ntitle: Status på arbejdet\nsummary: Vi er godt i gang med arbejdet.\n"
                    "date: 2026-11-23\ncontact: {name: Anne Holm, role: projektleder, email: anne.holm@example.dk}\ngroups:\n" + "".join(f"  {name}:\n{group}" for name in
                                                           ("citizens", "employees", "management", "others"))
                    + "---\n", encoding="utf-8")
    return path


@pytest.mark.usefixtures("before_deadline")  # `check` says when the approval deadline has passed
def test_check_prints_the_table_and_blocks_a_glossary_term_in_a_citizens_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    message = small_message(tmp_path)
    good = ("citizens", "web", "Nyt it-system", CITIZENS_OK)
    plan = small_plan(tmp_path, {"website": good})
    assert cli.main(["--plan", str(plan), "check", str(message)]) == 0
    out = capsys.readouterr().out
    for column in ("forum", "group", "words", "sentences", "LIX / max", "long words", "longest", "glossary terms",
                   "repeated passages"):
        assert column in out
    row = next(line for line in out.splitlines() if "website" in line)
    assert "citizens" in row and "/ 34" in row
    assert out.rstrip().endswith("ok: nothing was sent")

    bad = tmp_path / "bad"
    bad.mkdir()
    plan = small_plan(bad, {"website": ("citizens", "web", "Nyt it-system",
                                        CITIZENS_OK.replace("it-system", "dokumentationssystem"))})
    assert cli.main(["--plan", str(plan), "check", str(message)]) == 1
    out, err = capsys.readouterr()
    assert "dokumentationssystem" in next(line for line in out.splitlines() if "website" in line)
    assert (f"{message}: variant for website: uses dokumentationssystem (dokumentationssystem), which citizens "
            f"may not know\n    fix: say “it-system, hvor medarbejderne skriver ned, hvad der sker” (in “Nu skal vi "
            f"have ét fælles dokumentationssystem.”)") in err
    assert "ok: nothing was sent" not in out
    assert not (bad / "outbox").exists()


@pytest.mark.usefixtures("before_deadline")  # `check` says when the approval deadline has passed
def test_check_and_preview_flag_a_paragraph_pasted_into_two_variants(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    message = small_message(tmp_path)
    plan = small_plan(tmp_path, {
        "oc": ("management", "mail", "Status til OC", f"<p>Kære alle i OC-kredsen</p><p>{PASTED}</p>"),
        "intranet": ("employees", "page", "Nyt om systemet", f"<p>Vi har nyt til dig.</p><p>{PASTED}</p>"),
    })
    assert cli.main(["--plan", str(plan), "check", "--lang", "en", str(message)]) == 0
    out = capsys.readouterr().out
    assert "warning: " in out and "a paragraph is in 2 variants one person may read (oc, intranet)" in out
    assert "keep it in one: “Foranalysen viser" in out
    for forum in ("oc", "intranet"):
        row = next(line for line in out.splitlines() if f" {forum} " in line)
        assert row.rstrip(" │").endswith("1"), row  # one repeated passage each

    assert cli.main(["--plan", str(plan), "preview", str(message), "--out", str(tmp_path / "preview")]) == 0
    page = (tmp_path / "preview" / "02-intranet.html").read_text(encoding="utf-8")
    assert 'data-slot="quality"' in page and "<li>LIX: " in page and "<li>Gentagelser: 1</li>" in page
    assert f"<li>Står også i en anden tekst: »{PASTED}«</li>" in page
    assert "<li>Gentagelser: 1</li>" in (tmp_path / "preview" / "01-oc.html").read_text(encoding="utf-8")
    index = (tmp_path / "preview" / "index.html").read_text(encoding="utf-8")
    assert "LIX" in index and (tmp_path / "preview" / "00-approval.html").exists()
