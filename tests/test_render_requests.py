"""Rendering, what approvers and readers get: the content hash is stable and follows the content, the approval
request (and its reminders and rejections) lists every variant in Danish with the summary, the notes and the
deadline, and the posts carry the message's hashtags. (The example's variants themselves: tests/test_render.py.)
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from types import SimpleNamespace

import nh3
import pytest

from budbringer import cascade, checks, message as message_, plan as plan_, render
from budbringer import cli
from budbringer.approval import approval_hash
from budbringer.errors import InputError
from budbringer.render import Variant
from tests.conftest import MESSAGE, PLAN, write_plan
from tests.test_render import (  # noqa: F401 (prepared and variants are fixtures)
    AIM, ENGLISH_WORDS, LINK, OLD_FOOTER, TITLE, VISION, prepared, text_of, variants, words_of)
from tests.test_render_input import edited_message


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
    # The sentence is in the management text (OC) and the employees' text (both intranets): those change,
    # no other variant does.
    assert {forum for forum in again if changed[forum] != again[forum]} == {"oc", "intranet", "intranet_local"}
    assert approval_hash(changed) != approval_hash(again)

    # A fact written once (the contact) reaches every variant.
    recontacted = tmp_path / "recontacted.md"
    recontacted.write_text(MESSAGE.read_text(encoding="utf-8").replace(
        "  name: Anne Holm", "  name: Anne Holm Berg"), encoding="utf-8")
    fact_changed = {v.forum: v.content_hash for v in render.render_variants(plan, message_.load(recontacted,
                                                                                                plan))}
    assert all(fact_changed[f] != again[f] for f in again)


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


def rejected_by(voter: str, comment: str) -> dict[str, object]:
    """The rejection mail's context about who rejected (approval_request.send_rejection hands in the same)."""
    at = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
    return {"votes": [SimpleNamespace(voter=voter, decision="reject", comment=comment, source="cli", at=at)],
            "rejections": [SimpleNamespace(voter=voter, comment=comment, at=at)], "author_name": "Anne Holm",
            "author_url": ""}


def test_reminders_and_rejections_carry_no_slogan(prepared: cascade.Prepared) -> None:
    # The layout adds nothing below a text: the narrative belongs to the message, not to every mail.
    plan = prepared.plan
    common = {"plan": plan, "narrative": plan.narrative, "approval": plan.approval,
              "message_id": prepared.message.id, "message_title": prepared.message.title}
    request = SimpleNamespace(meeting=dt.date(2026, 12, 10), id=1, title=prepared.message.title)
    moment = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)
    reminder = render.render_template(plan, "approval_reminder.html.j2", {
        **common, "request": request, "deadline": moment, "requested_at": moment, "nudge": None,
        "escalation": False, "decided": [], "member": plan.approval.members[0],
        "link": "https://budbringer.example/godkend/x"})
    rejection = render.render_template(plan, "approval_rejected.html.j2", {
        **common, "request": request, "message_path": "messages/x.md", **rejected_by("Jens Kragh", "Kortere, tak.")})
    assert "venter stadig på dit svar" in reminder[1] and "Kortere, tak." in rejection[1]
    for _, body in (reminder, rejection):
        assert VISION not in body and AIM not in body and OLD_FOOTER not in body


def test_the_timeline_marks_one_step_as_now(tmp_path: Path, variants: dict[str, Variant]) -> None:
    staff = "Vinteren 2026/27: Vi skriver kravspecifikationen og holder markedsdialog. Her er vi nu."
    assert all(staff in text_of(variants[f]) for f in ("oc", "hmu", "network_quality", "intranet"))
    assert all(text_of(v).count("Her er vi nu.") == 1 for f, v in variants.items() if "Tidsplan" in text_of(v))
    path = edited_message(tmp_path, "  - when: Foråret 2027\n", "  - when: Foråret 2027\n    now: true\n")
    with pytest.raises(InputError) as caught:
        message_.load(path, plan_.load(PLAN))
    [problem] = caught.value.problems
    assert problem.field == "timeline" and "more than one step" in problem.what


# -- what approvers and readers read: the defects of issue 22, each with its exact text ---------------------

SUMMARY = ("Foranalysen er færdig. Nu skriver vi kravene til det fælles system sammen med netværkene, og vi taler "
           "med mulige leverandører. Udbuddet sendes efter planen ud i foråret 2027.")
NOTES = ("Til styregruppen: Teksterne til de fire målgrupper og til OC, HMU, netværkene og LinkedIn står nedenfor. "
         "Netværkenes workshops ligger 19.–21. januar 2027 i Regionshuset Viborg.")


def request_text(prepared: cascade.Prepared, **kwargs: object) -> str:
    request = render.render_approval_request(prepared.plan, prepared.message, prepared.variants, [],
                                             prepared.approval_hash, **kwargs)  # type: ignore[arg-type]
    return " ".join(html.unescape(checks.plain_text(request)).split())


def test_the_request_spells_the_rule_with_its_spaces_and_small_numbers_in_words(prepared: cascade.Prepared) -> None:
    assert ("Formanden, Mette Lund, kan godkende alene. Ellers skal to medlemmer godkende. Afviser man, skal man "
            "skrive, hvad der skal ændres.") in request_text(prepared)
    assert [render.in_words(n) for n in (1, 2, 3, 12, 13)] == ["ét", "to", "tre", "tolv", "13"]


def test_the_request_quotes_the_title_so_it_does_not_run_into_the_sentence(prepared: cascade.Prepared) -> None:
    assert f"Vi beder jer godkende budskabet »{TITLE}«, før det sendes ud." in request_text(prepared)


def test_the_request_shows_the_summary_and_the_authors_notes_before_the_variants(
        prepared: cascade.Prepared) -> None:
    text = request_text(prepared)
    assert f"Om budskabet {SUMMARY} Afsenderens noter til styregruppen {NOTES}" in text
    assert text.index(NOTES) < text.index("Udgaverne Budskabet findes i")


@pytest.mark.usefixtures("before_deadline")  # the preview says so when the approval deadline has passed
def test_the_preview_of_the_request_carries_the_deadline_from_the_oc_calendar(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["preview", str(MESSAGE), "--plan", str(PLAN), "--out", str(workdir / "preview")]) == 0
    page = (workdir / "preview" / "00-approval.html").read_text(encoding="utf-8")
    text = " ".join(html.unescape(nh3.clean(page, tags=set())).split())
    assert ("Svar senest 3. december 2026 kl. 09.00, så OC-kredsen får orienteringen i god tid før mødet "
            "10. december 2026.") in text


def test_the_approval_page_shows_the_summary_and_the_authors_notes(prepared: cascade.Prepared) -> None:
    from budbringer.web import pages

    page = " ".join(html.unescape(nh3.clean(pages.approval_page(prepared, None), tags=set())).split())
    assert f"Om budskabet {SUMMARY} Afsenderens noter til styregruppen {NOTES}" in page
    assert "Ellers skal to medlemmer godkende. Afviser én" in page


def test_reminders_and_rejections_quote_the_title(prepared: cascade.Prepared) -> None:
    plan = prepared.plan
    common = {"plan": plan, "narrative": plan.narrative, "approval": plan.approval,
              "message_id": prepared.message.id, "message_title": TITLE}
    request = SimpleNamespace(meeting=dt.date(2026, 12, 10), id=1, title=TITLE)
    rejection = render.render_template(plan, "approval_rejected.html.j2", {
        **common, "request": request, "message_path": "messages/x.md", **rejected_by("Jens Kragh", "Kortere, tak.")})
    assert f"Jens Kragh fra styregruppen har afvist budskabet <strong>»{TITLE}«</strong>." in rejection[1]
    assert rejection[0] == f"Afvist af Jens Kragh: {TITLE}"


def test_a_posts_hashtags_come_from_the_message(tmp_path: Path, variants: dict[str, Variant]) -> None:
    assert variants["linkedin"].body.endswith("\n\n#Socialområdet #RegionMidtjylland #Markedsdialog\n")
    plan = plan_.load(PLAN)
    own = edited_message(tmp_path, "hashtags: [Socialområdet, RegionMidtjylland, Markedsdialog]",
                         "hashtags: ['#Demodage', Socialområdet]")
    post = next(v for v in render.render_variants(plan, message_.load(own, plan)) if v.forum == "linkedin")
    assert post.body.endswith(f"\n\nLæs mere: {LINK}\n\n#Demodage #Socialområdet\n")
    none = edited_message(tmp_path, "    hashtags: [Socialområdet, RegionMidtjylland, Markedsdialog]\n", "")
    post = next(v for v in render.render_variants(plan, message_.load(none, plan)) if v.forum == "linkedin")
    assert post.body.endswith(f"\n\nLæs mere: {LINK}\n") and "#" not in post.body


def test_a_hashtag_with_a_space_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = edited_message(tmp_path, "hashtags: [Socialområdet, RegionMidtjylland, Markedsdialog]",
                         "hashtags: [Region Midtjylland]")
    with pytest.raises(InputError) as caught:
        message_.load(bad, plan_.load(PLAN))
    assert [p.field for p in caught.value.problems] == ["forum_texts.linkedin.hashtags[0]"]


def test_an_invitation_gives_the_weekday_and_an_en_dash_in_the_time_span(variants: dict[str, Variant]) -> None:
    body = variants["network_quality"].body
    assert "<li><strong>Hvornår:</strong> tirsdag den 19. januar 2027 kl. 9.00–12.00</li>" in body
    assert "<li><strong>Tilmelding:</strong> senest fredag den 8. januar 2027 til" in body
    assert [render.time_span(t) for t in ("9.00-12.00", "13:00 - 16:00", "9.00–12.00")] == [
        "9.00–12.00", "13:00–16:00", "9.00–12.00"]


def test_facebook_carries_the_messages_hashtags_and_none_of_its_own(tmp_path: Path) -> None:
    plan = plan_.load(write_plan(tmp_path, {"fora": {"facebook": {"enabled": True}}}))
    with_tags = edited_message(tmp_path, "  citizens:\n    headline:",
                               "  citizens:\n    hashtags: [Hverdagsliv]\n    headline:")
    post = next(v for v in render.render_variants(plan, message_.load(with_tags, plan)) if v.forum == "facebook")
    assert post.body.endswith(f"\n\nLæs mere: {LINK}\n\n#Hverdagsliv\n")
    post = next(v for v in render.render_variants(plan, message_.load(MESSAGE, plan)) if v.forum == "facebook")
    assert post.body.endswith(f"\n\nLæs mere: {LINK}\n") and "#" not in post.body
