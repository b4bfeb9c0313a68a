"""Rendering: the example message becomes one Danish variant per enabled forum, each addressing its forum.

Also: undefined template variables are errors naming the template, hostile markup in a message is
neutralised, the content hash is stable and follows the content, and the approval request lists every
variant in Danish.
"""

from __future__ import annotations

import datetime as dt

import html
import re
import shutil
from pathlib import Path

import pytest

from budbringer import cascade, checks, message as message_, plan as plan_, render
from budbringer.approval import approval_hash
from budbringer.checks import Finding
from budbringer.errors import InputError
from budbringer.render import Variant
from tests.conftest import MESSAGE, PLAN, ROOT, write_plan

VISION = "Vi understøtter borgeren i at udleve ønsker, håb og drømme"
AIM = "ét socialområde"
LINK = "https://www.rm.dk/socialomraadet/nyt-dokumentationssystem/"
TITLE = "Status på udbuddet af et nyt dokumentationssystem – november 2026"

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


# What each forum's variant must say to that forum (phrases from its template and the message's section for
# its stakeholder group). The keys must be exactly the enabled fora of the shipped plan.
EXPECTED: dict[str, list[str]] = {
    "oc": [
        "Kære alle i OC-kredsen",
        "til OC-mødet den 10. december 2026",  # the next monthly meeting after the message's date
        "Din rolle som leder", "Som leder er du den vigtigste formidler",  # the management section
        "Giv budskabet videre i jeres specialområder",
        "Vi beder jer orientere jeres egne specialområder",
        "Foranalysen er afsluttet",  # the body
    ],
    "hmu": [
        "Kære medlemmer af HMU",
        "Husk at orientere LMU",
        "HMU har ansvaret for at orientere de underliggende LMU gennem hele udbuddet",
        "Kort version til LMU", "Klar til at sende videre uændret", "Slut på den korte version",
        "Hvad betyder det for medarbejderne? Lige nu ændrer intet sig i din hverdag",  # inside the short version
        "Ledelsens rolle", "Som leder er du den vigtigste formidler",
    ],
    "network_quality": [
        "Kære alle i Netværk for kvalitetskoordinatorerne",
        "på lige fod med HMU", "arbejde med foranalyse og kravspecifikation",
        "Vi har brug for jeres viden",
        "Vi vil derfor gerne have jeres hjælp til at kvalificere foranalysen og kravspecifikationen",
        "Hvad betyder det for medarbejderne?", "Lige nu ændrer intet sig i din hverdag",
    ],
    "network_sensum": [
        "Kære alle i Netværk for Sensum Bosted-tovholderne",
        "jeres hjælp til at kvalificere foranalysen og kravspecifikationen",
    ],
    "network_health": [
        "Kære alle i Netværk for sundhedskoordinatorerne",
        "jeres hjælp til at kvalificere foranalysen og kravspecifikationen",
    ],
    "intranet": [
        "Hvad betyder det for dig? Lige nu ændrer intet sig i din hverdag",  # what changes for employees
        "du bliver oplært",
        "Hvor kan du få hjælp?", "tal med din nærmeste leder",  # where to get help
        "udbud.dokumentation@socialomraadet.example",
        "Foranalysen er afsluttet",
    ],
    "intranet_local": [
        "Hvad betyder det for dig? Lige nu ændrer intet sig i din hverdag",
        "Hvor kan du få hjælp?", "tal med din nærmeste leder",
    ],
    "website": [
        "Når du får hjælp fra os, skriver medarbejderne ned, hvad der sker",  # the citizens section
        "Du skal ikke gøre noget. Din hjælp fortsætter som i dag",
        "Har du spørgsmål, så skriv til os",
        f"Vores vision er: »{VISION}«",
    ],
    "linkedin": [
        "For kommuner, pårørende og andre samarbejdspartnere",  # the others section
        "Det politiske niveau holdes orienteret undervejs",
        f"Læs mere: {LINK}",
        "#Socialområdet #RegionMidtjylland",
    ],
    "regional_intranet": [
        "Socialområdet i Region Midtjylland er i gang med udbuddet af et nyt, fælles socialfagligt "
        "dokumentationssystem",
        "I dag dokumenterer Socialområdets specialområder i forskellige systemer",
        "Arbejder du på Socialområdet? Lige nu ændrer intet sig i din hverdag",
    ],
    "midtnyt": [
        "Til redaktionen af MidtNyt",
        "nummeret den 3. december 2026, som har deadline den 26. november 2026",
        "inden for jeres grænse på 250 ord",
        "er godkendt af styregruppen",
        "Forslag til indlæg:",
        "Lige nu ændrer intet sig i din hverdag",  # employees
    ],
    "perspektiv": [
        "Til redaktionen af Perspektiv",
        "nummeret den 15. december 2026, som har deadline den 1. december 2026",
        "inden for jeres grænse på 400 ord",
        "til gavn for de borgere, der får hjælp fra flere steder",
        "For kommuner, pårørende og andre samarbejdspartnere",  # others
    ],
}

SUBJECTS = {
    "oc": f"Orientering til OC-kredsen: {TITLE}",
    "hmu": f"Orientering til HMU: {TITLE}",
    "network_quality": f"Orientering til Netværk for kvalitetskoordinatorerne: {TITLE}",
    "network_sensum": f"Orientering til Netværk for Sensum Bosted-tovholderne: {TITLE}",
    "network_health": f"Orientering til Netværk for sundhedskoordinatorerne: {TITLE}",
    "intranet": TITLE,
    "intranet_local": TITLE,
    "website": TITLE,
    "linkedin": TITLE,
    "regional_intranet": f"Nyt fra Socialområdet: {TITLE}",
    "midtnyt": f"Forslag til MidtNyt: {TITLE}",
    "perspektiv": f"Forslag til Perspektiv: {TITLE}",
}


def test_one_variant_per_enabled_forum_in_tier_order(prepared: cascade.Prepared) -> None:
    plan = prepared.plan
    enabled = [name for tier in plan.tiers for name in tier.fora if plan.fora[name].enabled]
    assert [v.forum for v in prepared.variants] == enabled
    assert set(EXPECTED) == set(enabled) == set(SUBJECTS)
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
    for phrase in EXPECTED[forum]:
        assert phrase in text, f"{forum}: {phrase!r} missing from:\n{text}"


@pytest.mark.parametrize("forum", sorted(EXPECTED))
def test_each_variant_carries_the_narrative(variants: dict[str, Variant], forum: str) -> None:
    text = text_of(variants[forum])
    assert VISION in text
    assert AIM in text
    assert "udbud.dokumentation@socialomraadet.example" in text or forum == "linkedin"


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


def test_the_website_speaks_to_citizens_without_the_staff_body(variants: dict[str, Variant]) -> None:
    text = text_of(variants["website"])
    # The body is written for staff (tender steps, jargon): the website shows the summary and citizens section.
    assert "Foranalysen er afsluttet" not in text and "kravspecifikation" not in text.lower()
    assert "Når du får hjælp fra os" not in text_of(variants["oc"])


def test_newsletter_items_stay_within_the_word_limit(prepared: cascade.Prepared, variants: dict[str, Variant]) -> None:
    for forum in ("midtnyt", "perspektiv"):
        counted = checks.word_count(checks.counted_text(variants[forum]))
        limit = prepared.plan.fora[forum].newsletter.word_limit  # type: ignore[union-attr]
        assert 50 < counted <= limit
        # The cover note states the item's length to the editors (Jinja's own word count, which splits
        # hyphenated words such as "Bosted-tovholder": it may be a few words above ours).
        found = re.search(r"Teksten er på (\d+) ord", text_of(variants[forum]))
        assert found is not None
        stated = int(found.group(1))
        assert counted <= stated <= counted + 5 and stated <= limit


# -- strictness and safety -----------------------------------------------------------------------------------

def templates_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    return folder


def test_an_unknown_template_variable_is_an_error_naming_the_template(tmp_path: Path) -> None:
    folder = templates_copy(tmp_path)
    template = folder / "hmu_briefing.html.j2"
    lines = template.read_text(encoding="utf-8").splitlines(keepends=True)
    target = next(i for i, line in enumerate(lines) if "Kære medlemmer af" in line)
    lines.insert(target + 1, "<p>Kontaktperson: {{ kontaktperson }}</p>\n")
    template.write_text("".join(lines), encoding="utf-8")
    plan = plan_.load(write_plan(tmp_path, {"templates": str(folder)}))
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(MESSAGE, plan))
    [problem] = caught.value.problems
    assert problem.file == str(template)
    assert problem.field == "(variable)"
    assert "kontaktperson" in problem.what and "undefined" in problem.what
    assert problem.line == target + 2
    assert "templates/README.md" in problem.fix
    assert f"{template}:{target + 2}: (variable)" in str(caught.value)


def test_an_undefined_attribute_of_the_message_is_an_error_too(tmp_path: Path) -> None:
    folder = templates_copy(tmp_path)
    template = folder / "website_news.html.j2"
    template.write_text(template.read_text(encoding="utf-8").replace(
        "{{ message.summary }}", "{{ message.author }}", 1), encoding="utf-8")
    plan = plan_.load(write_plan(tmp_path, {"templates": str(folder)}))
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(MESSAGE, plan))
    assert [p.file for p in caught.value.problems] == [str(template)]
    assert "author" in caught.value.problems[0].what


def test_a_template_syntax_error_names_the_template_and_line(tmp_path: Path) -> None:
    folder = templates_copy(tmp_path)
    template = folder / "oc_briefing.html.j2"
    text = template.read_text(encoding="utf-8").replace("{% if section %}", "{% if section %", 1)
    template.write_text(text, encoding="utf-8")
    plan = plan_.load(write_plan(tmp_path, {"templates": str(folder)}))
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(MESSAGE, plan))
    [problem] = caught.value.problems
    assert problem.file == str(template) and problem.field == "(syntax)" and problem.line is not None
    assert "Jinja2" in problem.fix


HOSTILE = """---
id: 2026-12-hostile
title: Nyt <script>alert('titel')</script> om udbuddet
summary: Et resumé med <b onclick="steal()">fed</b> skrift og <script>alert('resume')</script> i.
date: 2026-11-23
sections:
  employees: 'Se <img src=x onerror="alert(1)"> og [klik her](javascript:alert(2)).'
---
Her er brødteksten, som forsøger at snige kode ind.

<script>alert('krop')</script>

<a href="https://example.org" onclick="steal()">et link</a> og <div style="position:fixed">overlay</div>

[Et farligt link](javascript:alert(3)) og [et godt link](https://www.rm.dk/).
"""


def test_hostile_markup_in_a_message_is_neutralised(tmp_path: Path) -> None:
    path = tmp_path / "hostile.md"
    path.write_text(HOSTILE, encoding="utf-8")
    plan = plan_.load(PLAN)
    variants = render.render_variants(plan, message_.load(path, plan))
    active = re.compile(r"<\s*script|<[^>]*\son\w+\s*=|<[^>]*\sstyle\s*=|href\s*=\s*[\"']?\s*javascript:|<img",
                        re.IGNORECASE)
    for variant in variants:
        if variant.body_format == "html":
            assert not active.search(variant.body), f"{variant.forum}: {active.search(variant.body)}"
    hmu = next(v for v in variants if v.forum == "hmu").body
    # Escaped, not executed: the text shows what was written.
    assert "&lt;script&gt;alert" in hmu
    assert "<h2>Nyt &lt;script&gt;" in hmu
    assert '<a href="https://www.rm.dk/" rel="noopener noreferrer">et godt link</a>' in hmu
    intranet = next(v for v in variants if v.forum == "intranet").body
    assert "Hvad betyder det for dig?" in intranet and "&lt;img src=x onerror=" in intranet
    assert not re.search(r"<img|<a [^>]*javascript", intranet)
    # Markdown to sanitised HTML directly: no handler, no script, no style survives.
    clean = str(render.markdown_to_html('<p onclick="x()">hej</p>\n\n**fed** [a](https://rm.dk "t")'))
    assert "<p onclick" not in clean and "<strong>fed</strong>" in clean
    assert '<a href="https://rm.dk" title="t" rel="noopener noreferrer">a</a>' in clean


def test_content_hash_is_stable_and_follows_the_content(tmp_path: Path, variants: dict[str, Variant]) -> None:
    plan = plan_.load(PLAN)
    again = {v.forum: v.content_hash for v in render.render_variants(plan, message_.load(MESSAGE, plan))}
    assert again == {f: v.content_hash for f, v in variants.items()}
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in again.values())
    assert len(set(again.values())) == len(again)  # every variant is its own content

    edited = tmp_path / MESSAGE.name
    edited.write_text(MESSAGE.read_text(encoding="utf-8").replace(
        "Foranalysen er afsluttet.", "Foranalysen er næsten afsluttet."), encoding="utf-8")
    changed = {v.forum: v.content_hash for v in render.render_variants(plan, message_.load(edited, plan))}
    # Every variant that shows the body changes; the website shows only summary and citizens section.
    for forum in ("oc", "hmu", "network_quality", "intranet", "regional_intranet"):
        assert changed[forum] != again[forum], forum
    assert changed["website"] == again["website"]
    assert approval_hash(changed) != approval_hash(again)

    resummarised = tmp_path / "resummarised.md"
    resummarised.write_text(MESSAGE.read_text(encoding="utf-8").replace(
        "Forarbejdet er færdigt", "Forarbejdet er nu færdigt"), encoding="utf-8")
    summary_changed = {v.forum: v.content_hash for v in render.render_variants(plan, message_.load(resummarised,
                                                                                                    plan))}
    assert all(summary_changed[f] != again[f] for f in again)


def test_recipients_are_not_content(tmp_path: Path, variants: dict[str, Variant]) -> None:
    plan = plan_.load(write_plan(tmp_path, {"fora": {"hmu": {"recipients": ["hmu-ny@socialomraadet.example"]}}}))
    moved = {v.forum: v for v in render.render_variants(plan, message_.load(MESSAGE, plan))}
    assert moved["hmu"].recipients == ("hmu-ny@socialomraadet.example",)
    assert moved["hmu"].content_hash == variants["hmu"].content_hash


def test_the_approval_request_is_a_short_danish_mail_to_one_member_with_the_link_and_every_text(
        prepared: cascade.Prepared) -> None:
    member = prepared.plan.approval.members[1]
    link = "https://godkend.example/godkend/TOKEN"
    deadline = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    request = render.render_approval_request(prepared.plan, prepared.message, prepared.variants, [],
                                             prepared.approval_hash, deadline=deadline,
                                             meeting=dt.date(2026, 12, 10), member=member, link=link)
    assert request.subject == f"Til godkendelse: {TITLE}"
    assert request.recipients == (member.email,)
    assert f'<a href="{link}">' in request.body
    text = " ".join(html.unescape(checks.plain_text(request)).split())
    assert text.startswith(f"Kære {member.name} Vi beder dig godkende")
    assert "Svar senest 3. december 2026 kl. 09.00" in text and "før mødet 10. december 2026" in text
    assert f"findes i {len(prepared.variants)} udgaver" in text
    for variant in prepared.variants:  # every variant's text, readable in the mail itself
        assert variant.forum_title in text and html.unescape(variant.subject) in text
    linkedin = next(v for v in prepared.variants if v.forum == "linkedin")
    assert " ".join(linkedin.body.split()[:8]) in text
    # No command lines, no checksums, no slogan footer: an approver reads, clicks and decides.
    for absent in ("budbringer approve", "--by", "kontrolsum", "Prefect"):
        assert absent not in text
    slogan = "endnu et skridt på vejen mod at blive"  # the layout's footer: the variants carry it, the mail not
    assert request.body.count(slogan) == sum(v.body.count(slogan) for v in prepared.variants)
    english = sorted({w for w in words_of(text) if w in ENGLISH_WORDS})
    assert not english, english


def test_the_approval_request_without_a_member_addresses_the_group(prepared: cascade.Prepared) -> None:
    request = render.render_approval_request(prepared.plan, prepared.message, prepared.variants, [],
                                             prepared.approval_hash)
    assert "Kære medlemmer af styregruppen" in text_of(request) and "Vi beder jer godkende" in text_of(request)
    assert len(request.recipients) == len(prepared.plan.approval.members)


