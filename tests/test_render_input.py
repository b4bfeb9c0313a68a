"""Rendering, what goes in: a message missing a forum's text is refused, naming the forum, the field and what to
write; templates are strict (an undefined variable or a syntax error names the template and line); hostile markup
in a message is neutralised. (The example's variants themselves: tests/test_render.py.)
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from budbringer import message as message_, plan as plan_, render
from budbringer import cli
from budbringer.errors import InputError
from tests.conftest import MESSAGE, PLAN, ROOT, write_plan
from tests.test_render import variants  # noqa: F401 (the example's variants, a fixture)


# -- what the message must hold for each forum ---------------------------------------------------------------

def edited_message(tmp_path: Path, old: str, new: str) -> Path:
    text = MESSAGE.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / MESSAGE.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_missing_forward_text_names_the_forum_the_field_and_what_to_write(tmp_path: Path) -> None:
    text = MESSAGE.read_text(encoding="utf-8")
    start = text.index("  oc:\n    forward:")
    end = text.index("  hmu:\n")
    path = tmp_path / MESSAGE.name
    path.write_text(text[:start] + "\n" + text[end:], encoding="utf-8")
    plan = plan_.load(PLAN)
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(path, plan))
    [problem] = caught.value.problems
    assert (problem.file, problem.field) == (str(path), "forum_texts.oc.forward")
    assert problem.what == "is missing: OC-kredsen (oc) needs it"
    assert "forward: {headline: …, text: …}" in problem.fix and "passes on as it is" in problem.fix


def test_a_missing_group_text_is_named_for_every_forum_that_reads_it(tmp_path: Path) -> None:
    path = edited_message(tmp_path, "    lead: >-\n      Vi er et skridt nærmere", "    headline2: >-\n      Vi er")
    plan = plan_.load(PLAN)
    with pytest.raises(InputError):  # an unknown field is refused when the message is read
        message_.load(path, plan)
    path = edited_message(tmp_path, "    lead: >-\n      Vi er et skridt nærmere ét fælles system til "
                                    "dokumentation. Lige nu ændrer intet sig i din hverdag.\n", "")
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(path, plan))
    problems = caught.value.problems
    assert [p.field for p in problems] == ["groups.employees.lead", "groups.employees.lead"]
    assert [p.what for p in problems] == ["is missing: Socialområdets intranet (intranet) needs it",
                                          "is missing: Specialområdernes lokale intranetsider (intranet_local) "
                                          "needs it"]
    assert "the most important first" in problems[0].fix and "forum_texts.intranet.lead" in problems[0].fix


def test_check_prints_what_is_missing_and_sends_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    path = edited_message(tmp_path, "    invitation:\n      what: Workshop om krav til den sundhedsfaglige",
                          "    note:\n      what: Workshop om krav til den sundhedsfaglige")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  network_health:\n    note:", "  network_health_x:\n    invitation:"), encoding="utf-8")
    assert cli.main(["check", "--plan", str(PLAN), str(path)]) == 1
    err = capsys.readouterr().err
    assert "forum_texts.network_health_x: names no forum and no template of the plan" in err
    # the invitation is optional (a month with nothing to invite to): only the unknown name is a problem
    assert "forum_texts.network_health.invitation" not in err
    assert not (tmp_path / "outbox").exists()


def test_a_newsletter_needs_a_named_contact(tmp_path: Path) -> None:
    text = MESSAGE.read_text(encoding="utf-8")
    start, end = text.index("contact:\n  name: Anne Holm"), text.index("next_status:")
    path = tmp_path / MESSAGE.name
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    plan = plan_.load(PLAN)
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(path, plan))
    [problem] = caught.value.problems
    assert problem.field == "contact" and "names a contact person" in problem.what
    assert "contact: {name: …, role: …, email: …}" in problem.fix


def test_an_image_with_its_alt_text_is_optional(tmp_path: Path) -> None:
    plan = plan_.load(PLAN)
    assert message_.load(MESSAGE, plan).image is None
    path = edited_message(tmp_path, "next_status: 2027-01-14\n",
                          "next_status: 2027-01-14\nimage:\n  url: https://www.rm.dk/billeder/workshop.jpg\n"
                          "  alt: Medarbejdere skriver krav på gule sedler ved en workshop\n")
    image = message_.load(path, plan).image
    assert image is not None and image.url.endswith("workshop.jpg") and image.alt.startswith("Medarbejdere")
    path.write_text(path.read_text(encoding="utf-8").replace("  alt: Medarbejdere skriver krav på gule sedler "
                                                             "ved en workshop\n", ""), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        message_.load(path, plan)
    assert [p.field for p in caught.value.problems] == ["image.alt"]
    path.write_text(path.read_text(encoding="utf-8").replace(
        "url: https://www.rm.dk/", "url: http://www.rm.dk/").replace(
        "workshop.jpg\n", "workshop.jpg\n  alt: Et billede af en workshop\n"), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        message_.load(path, plan)
    assert [p.field for p in caught.value.problems] == ["image.url"]


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
        "{{ content.lead }}", "{{ message.author }}", 1), encoding="utf-8")
    plan = plan_.load(write_plan(tmp_path, {"templates": str(folder)}))
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(MESSAGE, plan))
    assert [p.file for p in caught.value.problems] == [str(template)]
    assert "author" in caught.value.problems[0].what


def test_a_template_syntax_error_names_the_template_and_line(tmp_path: Path) -> None:
    folder = templates_copy(tmp_path)
    template = folder / "oc_briefing.html.j2"
    text = template.read_text(encoding="utf-8").replace("{% if next_meetings %}", "{% if next_meetings %", 1)
    template.write_text(text, encoding="utf-8")
    plan = plan_.load(write_plan(tmp_path, {"templates": str(folder)}))
    with pytest.raises(InputError) as caught:
        render.render_variants(plan, message_.load(MESSAGE, plan))
    [problem] = caught.value.problems
    assert problem.file == str(template) and problem.field == "(syntax)" and problem.line is not None
    assert "Jinja2" in problem.fix


HOSTILE_TEXT = """
      Her er teksten, som forsøger at snige kode ind.

      <script>alert('krop')</script>

      <a href="https://example.org" onclick="steal()">et link</a> og <div style="position:fixed">overlay</div>

      [Et farligt link](javascript:alert(3)) og [et godt link](https://www.rm.dk/).
"""


def hostile_message(tmp_path: Path) -> Path:
    """The shipped message with markup in a headline (HMU's), a lead (employees') and a text (HMU's)."""
    text = MESSAGE.read_text(encoding="utf-8")
    for old, new in (
            ("    headline: Status på udbuddet – kravene til det nye system skrives nu",
             "    headline: \"Nyt <script>alert('titel')</script> om udbuddet\""),
            ("      Vi er et skridt nærmere ét fælles system til dokumentation.",
             "      Se <img src=x onerror=\"alert(1)\"> og [klik her](javascript:alert(2))."),
            ("    text: |\n      Et nyt, fælles system vil ændre praksis for mange kolleger.",
             "    text: |" + HOSTILE_TEXT + "\n      Et nyt, fælles system vil ændre praksis for mange kolleger.")):
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "hostile.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_hostile_markup_in_a_message_is_neutralised(tmp_path: Path) -> None:
    plan = plan_.load(PLAN)
    variants = render.render_variants(plan, message_.load(hostile_message(tmp_path), plan))
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
