"""Rendering: the example message becomes one Danish variant per enabled forum, each written for its reader.

Each variant is tested for its headline, its form of address (du or I), what it must and must not say to its
reader, terms explained for employees and none for citizens, and the absence of pasted paragraphs (no sentence
of 12 or more words in more than three variants).

What a message must hold and the templates' strictness: tests/test_render_input.py; the content hash and the
approval request: tests/test_render_requests.py.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import nh3
import pytest

from budbringer import cascade, checks, deadlines, message as message_, plan as plan_, render
from budbringer.render import Variant
from tests.conftest import MESSAGE, PLAN

VISION = "Vi understøtter borgeren i at udleve ønsker, håb og drømme"
AIM = "ét socialområde"
LINK = "https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/"
TITLE = "Status på udbuddet af et nyt dokumentationssystem – november 2026"
CONTACT = "Anne Holm, projektleder, udbud.dokumentation@socialomraadet.example"
OLD_FOOTER = "endnu et skridt på vejen mod at blive"

# Common Danish function words; a Danish text of some length uses many of them.
DANISH_WORDS = {"og", "er", "at", "det", "til", "på", "med", "vi", "om", "for", "af", "en", "et", "de", "den",
                "i", "der", "som", "har", "kan", "nu"}
# English words that have no Danish homograph: any of them means leftover English.
ENGLISH_WORDS = {"the", "and", "with", "this", "your", "you", "please", "news", "update", "from", "that",
                 "which", "our", "are", "will", "dear", "regards", "approval", "status:", "none", "undefined",
                 "true", "false"}


@pytest.fixture(scope="module")
def prepared() -> cascade.Prepared:
    return cascade.prepare(PLAN, MESSAGE)


@pytest.fixture(scope="module")
def variants(prepared: cascade.Prepared) -> dict[str, Variant]:
    return {v.forum: v for v in prepared.variants}


def text_of(variant: Variant) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(checks.plain_text(variant)).split())


def words_of(text: str) -> list[str]:
    without_addresses = re.sub(r"\S+@\S+|https?://\S+", " ", text)
    return [w.casefold() for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*:?", without_addresses)]


def without(variant: Variant, *pattern: str) -> str:
    """The variant's reader text without the parts matching `pattern` (e.g. a text meant to be forwarded)."""
    body = variant.body
    for part in pattern:
        body = re.sub(part, " ", body, flags=re.S)
    return " ".join(html.unescape(nh3.clean(body, tags=set())).split())


def sentences(text: str) -> list[str]:
    """Sentences of running text: an end mark followed by a capital letter or a quote ends one; dates ("10.
    december"), times ("kl. 9.00") and abbreviations followed by small letters do not."""
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-ZÆØÅ»])", text) if re.search(r"[^\W\d_]", s)]


def prose_sentences(variant: Variant) -> list[str]:
    """Every sentence of the variant's paragraphs and list items (headings and the like are their own)."""
    if variant.body_format == "text":
        blocks = re.split(r"\n\s*\n", variant.body)
    else:
        blocks = [html.unescape(nh3.clean(b, tags=set())) for b in
                  re.findall(r"<(?:p|li)>(.*?)</(?:p|li)>", variant.body, flags=re.S)]
    return [s for block in blocks for s in sentences(" ".join(block.split()))]


SENTENCE_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")

# What each forum's variant says to its reader: its headline (from the message's text for the forum or its
# group), the phrases that address this reader, and the phrases that must not reach it. The keys must be
# exactly the enabled fora of the shipped plan.
HEADLINES = {
    "oc": "Foranalysen er afsluttet – nu skriver vi kravene",
    "hmu": "Status på udbuddet – kravene til det nye system skrives nu",
    "network_quality": "Vær med til at skrive kravene til det nye system",
    "network_sensum": "Vær med til at skrive kravene til det nye system",
    "network_health": "Vær med til at skrive kravene til det nye system",
    "intranet": "Nyt system til dokumentation: kravene skrives nu",
    "intranet_local": "Nyt system til dokumentation: kravene skrives nu",
    "website": "Vi vil samle vores notater om din hjælp i ét system",
    "linkedin": "Kan jeres system samle dokumentationen for et helt socialområde? Så vil vi gerne høre fra jer.",
    "regional_intranet": "Socialområdet samler sin dokumentation i ét system",
    "midtnyt": "Ét system skal samle dokumentationen på Socialområdet",
    "perspektiv": "Ét fælles system skal samle dokumentationen om borgerne",
}

SUBJECTS = {
    "oc": f"Orientering til OC-kredsen: {HEADLINES['oc']}",
    "hmu": f"Orientering til HMU: {HEADLINES['hmu']}",
    "network_quality": f"Invitation til Netværk for kvalitetskoordinatorerne: {HEADLINES['network_quality']}",
    "network_sensum": f"Invitation til Netværk for Sensum Bosted-tovholderne: {HEADLINES['network_sensum']}",
    "network_health": f"Invitation til Netværk for sundhedskoordinatorerne: {HEADLINES['network_health']}",
    "intranet": HEADLINES["intranet"],
    "intranet_local": HEADLINES["intranet_local"],
    "website": HEADLINES["website"],
    "linkedin": HEADLINES["linkedin"],
    "regional_intranet": HEADLINES["regional_intranet"],
    "midtnyt": f"Forslag til MidtNyt: {HEADLINES['midtnyt']}",
    "perspektiv": f"Forslag til Perspektiv: {HEADLINES['perspektiv']}",
}

EXPECTED: dict[str, list[str]] = {
    "oc": [
        "Kære alle i OC-kredsen",
        "orientering til OC-mødet den 10. december 2026",  # the next monthly meeting after the message's date
        # strategy and goals for management, the vision told as the reason
        f"Vores vision er »{VISION}«", "En af grundsøjlerne er at være ét socialområde", "Vi har tre mål",
        "Jeres rolle som ledere",
        # its role in the plan: inform its own specialty areas, with a text to pass on
        "Vi beder jer give status videre i jeres egne specialområder", "Frist: 18. december 2026",
        "Tekst til jeres specialområder", "Nyt om det fælles system til dokumentation",
        "Foranalysen er afsluttet.", f"Kontakt: {CONTACT}", "Næste status får I den 14. januar 2027",
    ],
    "hmu": [
        "Kære medlemmer af HMU",
        "I er vores vej ud til de lokale MED-udvalg",
        "Husk at orientere LMU", "Vi beder jer orientere LMU'erne, sådan som HMU har forpligtet sig til",
        "I kan sende teksten nedenfor videre, som den er",
        "Kort version til LMU", "Klar til at sende videre uændret", "Slut på den korte version",
        "Orientering fra HMU om det nye dokumentationssystem", "HMU følger arbejdet og orienterer jer løbende",
        f"Spørgsmål: {CONTACT}",  # the forwarded text travels alone: it carries its own contact
    ],
    "network_quality": [
        "Kære alle i Netværk for kvalitetskoordinatorerne", "på lige fod med HMU",
        "Tak for jeres hjælp med foranalysen",  # the analysis is done: they are thanked, not asked to redo it
        "Invitation: Workshop om krav til mål, indsatser og opfølgning",
        "Hvornår: tirsdag den 19. januar 2027 kl. 9.00–12.00", "Hvor: Regionshuset Viborg",
        "Tilmelding: senest fredag den 8. januar 2027 til udbud.dokumentation@socialomraadet.example",
    ],
    "network_sensum": [
        "Kære alle i Netværk for Sensum Bosted-tovholderne",
        "Invitation: Workshop om erfaringerne med Sensum Bosted", "Hvornår: onsdag den 20. januar 2027 kl. 9.00–12.00",
    ],
    "network_health": [
        "Kære alle i Netværk for sundhedskoordinatorerne",
        "Invitation: Workshop om krav til den sundhedsfaglige dokumentation", "Hvornår: torsdag den 21. januar 2027 kl. 13.00–16.00",
    ],
    "intranet": [
        "Lige nu ændrer intet sig i din hverdag",
        "Hvad betyder det for dig? Du dokumenterer, som du plejer",  # what changes for me
        "Du bliver oplært, før du skal bruge det",
        "Hvor kan du få hjælp? Har du spørgsmål, så spørg din leder eller skriv til projektgruppen",
        f"Skriv til: {CONTACT}",
    ],
    "intranet_local": ["Hvad betyder det for dig?", "Hvor kan du få hjælp?"],
    "website": [
        "Når du får hjælp fra os, skriver medarbejderne ned, hvad der sker",  # the lead, in citizens' words
        "Et fælles system betyder, at de medarbejdere, der hjælper dig, kan se det samme",
        "Du skal ikke gøre noget. Din hjælp er den samme som i dag",
        f"Det står i vores vision: »{VISION}«",
        # the facts, plainly, with the step we are at
        "Sådan er planen", "Vinteren 2026/27: Vi beskriver, hvad systemet skal kunne. Her er vi nu.",
        f"Har du spørgsmål? Du er altid velkommen til at skrive til os, hvis du vil vide mere. Skriv til: {CONTACT}",
    ],
    "linkedin": [
        "Nu går vi i markedsdialog", "Vi vil gerne møde leverandører og partnere",
        "Vil I deltage i markedsdialogen? Skriv til os. Svar gerne senest 15. januar 2027.",
        f"Læs mere: {LINK}", "#Socialområdet #RegionMidtjylland",
    ],
    "regional_intranet": [
        "Socialområdet skal have ét fælles system til dokumentation",
        "Et udbud er den måde, det offentlige køber ind på",
        "For dig, der arbejder andre steder i regionen, ændrer udbuddet ikke noget",
        f"Skriv til: {CONTACT}",
    ],
    "midtnyt": [
        "Til redaktionen af MidtNyt",
        # the issue whose deadline falls after the approval deadline (3 December 2026), not the one before it
        "nummeret den 7. januar 2027. Det har deadline den 17. december 2026",
        "Jeres grænse er 250 ord", "Styregruppen har godkendt teksten",
        f"Kontaktperson: {CONTACT}", "Forslag til indlæg:",
        "Systemet købes ind gennem et udbud",
    ],
    "perspektiv": [
        "Til redaktionen af Perspektiv",
        "nummeret den 26. januar 2027. Det har deadline den 12. januar 2027",
        "Jeres grænse er 400 ord", f"Kontaktperson: {CONTACT}",
        "For kommuner, pårørende og andre samarbejdspartnere ændrer intet sig lige nu",
        f"Det hænger sammen med vores vision: »{VISION}«",
        # the plan ahead, in the words written for this group
        "Vinteren 2026/27: Vi beskriver vores krav og taler med leverandører. Her er vi nu.",
        "Derefter: Systemet tages i brug på alle specialområder.",
    ],
}

# Phrases that address the wrong reader (issue 13), and the old pasted texts.
NEVER: dict[str, list[str]] = {
    "hmu": ["Som leder er du", "din leder"],  # a MED committee with employee representatives: "I"
    "midtnyt": ["tovholder", "kvalitetskoordinator", "din leder"],  # all the region's staff read it
    "regional_intranet": ["tovholder", "kvalitetskoordinator", "din leder"],
    "network_quality": ["tal med din", "kvalitetskoordinatoren"],  # the networks are the coordinators
    "network_sensum": ["tal med din", "tovholderen"],
    "network_health": ["tal med din", "sundhedskoordinatoren"],
    "oc": ["personalemøde"],  # OC informs its own specialty areas, it holds no staff meetings for us
    "website": ["udbud", "kravspecifikation", "foranalyse", "markedsdialog", "implementering", "leverandør",
                "dokumentationssystem", "Forarbejdet er færdigt"],
    "linkedin": [TITLE, "Status på udbuddet"],  # a hook first, not the report's title
}

# The reader addressed as "I" (a committee, a circle, a network, a company) or "du" (one person), measured
# outside the texts these fora forward to others and outside the newsletters' cover notes.
YOU_SINGULAR = re.compile(r"\b(du|dig|din|dit|dine)\b", re.IGNORECASE)
YOU_PLURAL = re.compile(r"\b(jer|jeres)\b", re.IGNORECASE)
ADDRESS = {
    "oc": "I", "hmu": "I", "network_quality": "I", "network_sensum": "I", "network_health": "I",
    "linkedin": "I", "intranet": "du", "intranet_local": "du", "website": "du", "regional_intranet": "du",
    "midtnyt": "du", "perspektiv": "du",
}
FORWARDED = [r"<blockquote>.*?</blockquote>", r"<h3>Kort version til.*?Slut på den korte version\.</em></p>"]
COVER_NOTE = r"^.*?<article>"


def test_one_variant_per_enabled_forum_in_tier_order(prepared: cascade.Prepared) -> None:
    plan = prepared.plan
    enabled = [name for tier in plan.tiers for name in tier.fora if plan.fora[name].enabled]
    assert [v.forum for v in prepared.variants] == enabled
    assert set(EXPECTED) == set(enabled) == set(SUBJECTS) == set(HEADLINES) == set(ADDRESS)
    assert len(enabled) == 12
    assert "facebook" not in enabled and "instagram" not in enabled
    assert [v.tier_index for v in prepared.variants] == sorted(v.tier_index for v in prepared.variants)
    for variant in prepared.variants:
        assert plan.tiers[variant.tier_index - 1].name == variant.tier
        assert variant.phase == ("publish" if variant.tier == "external" else "cascade")
    # The same thing through the renderer directly.
    direct = render.render_variants(plan, message_.load(MESSAGE, plan))
    assert [(v.forum, v.content_hash) for v in direct] == [(v.forum, v.content_hash) for v in prepared.variants]


@pytest.mark.parametrize("forum", sorted(EXPECTED))
def test_each_variant_addresses_its_forum(variants: dict[str, Variant], forum: str) -> None:
    variant = variants[forum]
    text = text_of(variant)
    assert variant.subject == SUBJECTS[forum]
    # A page or a post is titled by its subject; a mail and a newsletter item carry the headline themselves.
    assert variant.subject.endswith(HEADLINES[forum])
    if variant.medium in ("mail", "submission"):
        assert HEADLINES[forum] in text
    if forum == "linkedin":
        assert text.startswith(HEADLINES[forum])
    for phrase in EXPECTED[forum]:
        assert phrase in text, f"{forum}: {phrase!r} missing from:\n{text}"
    prose = re.sub(r"\S+@\S+|https?://\S+", " ", text).casefold()  # not the words of an address
    for phrase in NEVER.get(forum, []):
        assert phrase.casefold() not in prose, f"{forum}: {phrase!r} does not belong here"
    assert OLD_FOOTER not in text and "pejlemærke" not in text


@pytest.mark.parametrize("forum", sorted(ADDRESS))
def test_each_variant_uses_its_readers_form_of_address(variants: dict[str, Variant], forum: str) -> None:
    variant = variants[forum]
    own = without(variant, *FORWARDED, COVER_NOTE) if variant.body_format == "html" else variant.body
    singular, plural = YOU_SINGULAR.findall(own), YOU_PLURAL.findall(own)
    if ADDRESS[forum] == "I":
        assert plural and not singular, f"{forum} says {singular} to a group:\n{own}"
    else:
        assert singular and not plural, f"{forum} says {plural} to one reader:\n{own}"


def test_the_forwarded_texts_speak_to_their_own_readers(variants: dict[str, Variant]) -> None:
    oc = re.search(r"<blockquote>(.*?)</blockquote>", variants["oc"].body, flags=re.S)
    assert oc is not None and YOU_SINGULAR.search(oc.group(1))  # OC passes it on to each employee: "du"
    hmu = re.search(r"Kort version til LMU(.*?)Slut på den korte version", variants["hmu"].body, flags=re.S)
    assert hmu is not None
    lmu = " ".join(nh3.clean(hmu.group(1), tags=set()).split())
    assert "HMU følger arbejdet og orienterer jer løbende" in lmu and not YOU_SINGULAR.search(lmu)
    assert LINK in lmu and "udbud.dokumentation@socialomraadet.example" in lmu  # it travels alone


def test_no_long_sentence_is_pasted_into_more_than_three_variants(variants: dict[str, Variant]) -> None:
    where: dict[str, set[str]] = {}
    for forum, variant in variants.items():
        for sentence in prose_sentences(variant):
            words = SENTENCE_WORD.findall(sentence.casefold())
            if len(words) >= 12:
                where.setdefault(" ".join(words), set()).add(forum)
    assert len(where) > 25  # the probe sees the long sentences there are
    pasted = {sentence: sorted(fora) for sentence, fora in where.items() if len(fora) > 3}
    assert not pasted, pasted
    # The probe would see a pasted paragraph: the old shared summary was in ten variants.
    assert sentences("Nu skal vi finde ét fælles system. Det skal gøre det lettere for os at samarbejde om "
                     "din hjælp den 10. december kl. 9.00.")[1].endswith("9.00.")


def test_the_vision_is_told_where_it_fits_not_pasted(variants: dict[str, Variant]) -> None:
    told = {forum for forum, variant in variants.items() if VISION in text_of(variant)}
    # Management gets it as the reason behind the strategy; citizens and the wider public as a story.
    assert told == {"oc", "website", "perspektiv"}
    assert "En af grundsøjlerne er at være ét socialområde" in text_of(variants["oc"])
    assert "Vi vil være ét socialområde, hvor vi arbejder sammen om borgeren" in text_of(variants["perspektiv"])
    for forum in told:
        assert text_of(variants[forum]).count(VISION) == 1


@pytest.mark.parametrize("forum", ["intranet", "network_quality", "regional_intranet", "midtnyt", "hmu", "oc"])
def test_terms_are_explained_on_first_use_for_employees(variants: dict[str, Variant], forum: str) -> None:
    explanations = {
        "udbud": ("køber ind", "købes ind", "firmaerne byde", "firmaer byde"),
        "kravspecifikation": ("hvad systemet skal kunne", "hvad man har brug for"),
        "markedsdialog": ("taler med firmaer", "taler vi med firmaer", "hører man, hvad", "hører vi, hvad"),
        "implementering": ("tages i brug",),
    }
    variant = variants[forum]
    if forum == "hmu":  # the text HMU forwards to the LMUs is read by employees
        found = re.search(r"Kort version til LMU(.*?)Slut på den korte", variant.body, flags=re.S)
    elif forum == "oc":  # the text OC passes on to its specialty areas is read by employees
        found = re.search(r"<blockquote>(.*?)</blockquote>", variant.body, flags=re.S)
    else:
        found = re.search(r"<article>(.*?)</article>", variant.body, flags=re.S) if forum == "midtnyt" else None
    body = found.group(1) if found else variant.body
    said = sentences(" ".join(html.unescape(nh3.clean(re.sub(r"</(p|li|h\d)>", ". ", body), tags=set())).split()))
    used = 0
    for term, ways in explanations.items():
        first = next((i for i, s in enumerate(said) if term in s.casefold()), None)
        if first is None:
            continue
        used += 1
        near = " ".join(said[max(0, first - 1):first + 3]).casefold()
        assert any(way in near for way in ways), f"{forum}: {term!r} is not explained where it is first used"
    assert used >= 1, f"{forum}: the probe found no terms to check"


def test_tilbud_is_never_used_in_two_meanings(variants: dict[str, Variant]) -> None:
    # "tilbud" means both a care facility and a bid: the example avoids the word altogether.
    for forum, variant in variants.items():
        assert not re.search(r"\btilbud", text_of(variant), re.IGNORECASE), forum


@pytest.mark.parametrize("forum", sorted(EXPECTED))
def test_each_variant_is_danish(variants: dict[str, Variant], forum: str) -> None:
    variant = variants[forum]
    text = text_of(variant)
    words = words_of(text)
    assert len(words) >= 60, f"{forum}: only {len(words)} words"
    danish = [w for w in words if w in DANISH_WORDS]
    assert len(danish) / len(words) > 0.15, f"{forum}: few Danish function words ({len(danish)}/{len(words)})"
    assert re.search(r"[æøåÆØÅ]", text)
    english = sorted({w for w in words if w in ENGLISH_WORDS})
    assert not english, f"{forum}: English or leftover words {english} in:\n{text}"
    for leftover in ("{{", "}}", "{%", "%}", "None", "undefined"):
        assert leftover not in variant.body, f"{forum}: {leftover!r} left in the body"
    assert variant.subject.strip() and "\n" not in variant.subject


def test_recipients_and_formats_follow_the_plan(variants: dict[str, Variant]) -> None:
    assert variants["oc"].recipients == ("oc-kredsen@socialomraadet.example",)
    assert variants["hmu"].recipients == ("hmu@socialomraadet.example",)
    assert variants["midtnyt"].recipients == ("midtnyt-redaktion@regionmidtjylland.example",)
    assert variants["perspektiv"].recipients == ("perspektiv-redaktion@regionmidtjylland.example",)
    assert len(variants["intranet_local"].sites) == 3
    assert variants["linkedin"].body_format == "text" and "<" not in variants["linkedin"].body
    assert len(variants["linkedin"].body) <= 3000
    assert {v.body_format for f, v in variants.items() if f != "linkedin"} == {"html"}


def test_each_variant_summary_is_its_readers_lead(variants: dict[str, Variant]) -> None:
    # The summary travels beside the body (a SharePoint page's description, the website's teaser).
    assert variants["website"].summary.startswith("Når du får hjælp fra os, skriver medarbejderne ned")
    assert variants["intranet"].summary.startswith("Vi er et skridt nærmere ét fælles system til dokumentation")
    assert variants["linkedin"].summary == HEADLINES["linkedin"]
    assert len({v.summary for f, v in variants.items() if not f.startswith(("network_", "intranet"))}) == 7


def test_the_website_speaks_to_citizens_without_the_staff_text(variants: dict[str, Variant]) -> None:
    text = text_of(variants["website"])
    assert text.startswith("Når du får hjælp fra os")  # the citizens' lead comes first
    assert "Foranalysen er afsluttet" not in text
    assert "Når du får hjælp fra os" not in text_of(variants["oc"])


def test_the_linkedin_post_opens_with_its_hook_on_one_line(tmp_path: Path) -> None:
    text = MESSAGE.read_text(encoding="utf-8").replace(
        "    hook: Kan jeres system samle dokumentationen for et helt socialområde? Så vil vi gerne høre fra jer.",
        '    hook: "Kan jeres system samle\\r\\ndokumentationen   for et helt socialområde?\\rSå vil vi gerne høre"')
    assert text != MESSAGE.read_text(encoding="utf-8")
    path = tmp_path / MESSAGE.name
    path.write_text(text, encoding="utf-8")
    plan = plan_.load(PLAN)
    [post] = [v for v in render.render_variants(plan, message_.load(path, plan)) if v.forum == "linkedin"]
    first = "Kan jeres system samle dokumentationen for et helt socialområde? Så vil vi gerne høre"
    assert post.subject == first and post.body.splitlines()[0] == first
    assert "\r" not in post.body and "\r" not in post.subject
    assert TITLE not in post.body
    # Paragraphs reach the post whole: no line breaks where the author's editor wrapped the text.
    assert "I dag bruger vores specialområder flere forskellige systemer." in post.body.splitlines()[2]


def test_the_newsletter_issue_closes_after_the_approval_deadline(prepared: cascade.Prepared) -> None:
    plan, message = prepared.plan, prepared.message
    due = render.approval_deadline(plan, message)
    assert due == deadlines.schedule_for_message_date(plan, message.date).deadline.date()  # type: ignore[union-attr]
    assert due.isoformat() == "2026-12-03"
    for forum in ("midtnyt", "perspektiv"):
        issue = render.newsletter_issue(plan.fora[forum], due)
        assert issue is not None and issue.deadline > due
        earlier = [i for i in plan.fora[forum].newsletter.issues if i.date < issue.date]  # type: ignore[union-attr]
        assert earlier and all(i.deadline <= due for i in earlier)  # the ones skipped close too early
    assert render.newsletter_issue(plan.fora["midtnyt"], dt.date(2027, 3, 1)) is None


def test_newsletter_items_stay_within_the_word_limit(prepared: cascade.Prepared, variants: dict[str, Variant]) -> None:
    for forum in ("midtnyt", "perspektiv"):
        counted = checks.word_count(checks.counted_text(variants[forum]))
        limit = prepared.plan.fora[forum].newsletter.word_limit  # type: ignore[union-attr]
        assert 50 < counted <= limit
        # The cover note states the item's length to the editors, counted as `check` counts it.
        assert f"Teksten er på {counted} ord. Jeres grænse er {limit} ord." in text_of(variants[forum])
