"""The plan as config: the shipped plan holds every forum of the seed, and each kind of bad plan is explained.

Every bad plan must raise InputError whose text names the file, the line, the field and a fix. Line numbers
are checked against plans written as whole files (a copy of the shipped plan with one thing changed), so the
expected line can be computed from the text itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from budbringer import plan as plan_
from budbringer.approval import check_approvers
from budbringer.errors import ApprovalError, InputError, Problem
from tests.conftest import PLAN, ROOT, write_plan

SEED_FORA = {
    "oc", "hmu", "network_quality", "network_sensum", "network_health", "intranet", "intranet_local",
    "website", "linkedin", "regional_intranet", "midtnyt", "perspektiv", "facebook", "instagram",
}


@pytest.fixture(scope="module")
def shipped() -> plan_.Plan:
    return plan_.load(PLAN)


def full_copy(folder: Path, old: str, new: str) -> tuple[Path, str]:
    """The shipped plan as a whole file with one text replaced (templates made absolute so it still loads)."""
    text = PLAN.read_text(encoding="utf-8")
    assert old in text, f"the shipped plan no longer contains {old!r}: update this test"
    text = text.replace(old, new, 1).replace("templates: ../templates", f"templates: {ROOT / 'templates'}", 1)
    path = folder / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_containing(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the n-th occurrence of `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found {occurrence} times")


def load_error(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        plan_.load(path)
    return caught.value


def only_problem(error: InputError, field: str) -> Problem:
    matching = [p for p in error.problems if p.field == field]
    assert matching, f"no problem for {field!r} in:\n{error}"
    return matching[0]


def assert_explained(error: InputError, file: Path, field: str, line: int | None, *words: str) -> Problem:
    """The error names the file, the line, the field, says what is wrong (words) and gives a fix."""
    problem = only_problem(error, field)
    text = str(error)
    assert problem.file == str(file)
    assert problem.line == line, f"expected line {line}, got {problem.line}: {problem}"
    assert f"{file}:{line}: {field}:" in text
    assert problem.fix.strip(), "a problem without a fix"
    assert f"fix: {problem.fix}" in text
    for word in words:
        assert word in str(problem), f"{word!r} missing from {problem}"
    assert "nothing was sent" in text
    return problem


# -- the shipped plan ----------------------------------------------------------------------------------------

def test_shipped_plan_has_every_forum_of_the_seed(shipped: plan_.Plan) -> None:
    assert set(shipped.fora) == SEED_FORA
    fora = shipped.fora
    assert fora["oc"].title == "OC-kredsen" and fora["oc"].stakeholder == "management"
    assert fora["hmu"].title == "HMU" and fora["hmu"].informs == ["LMU"]
    assert {fora[n].title for n in ("network_quality", "network_sensum", "network_health")} == {
        "Netværk for kvalitetskoordinatorerne", "Netværk for Sensum Bosted-tovholderne",
        "Netværk for sundhedskoordinatorerne"}
    assert "intranet" in fora["intranet"].title.lower()
    assert "lokale intranet" in fora["intranet_local"].title
    assert len(fora["intranet_local"].address.page_sites()) >= 2
    assert fora["website"].stakeholder == "citizens"
    assert fora["linkedin"].medium == "post" and fora["linkedin"].max_chars == 3000
    assert "Region Midtjylland" in fora["regional_intranet"].title
    for name in ("midtnyt", "perspektiv"):
        newsletter = fora[name].newsletter
        assert fora[name].medium == "submission" and newsletter is not None
        assert newsletter.word_limit > 0 and newsletter.issues
        assert all(issue.deadline < issue.date for issue in newsletter.issues)
    # Facebook and Instagram are present, but a later phase.
    for name in ("facebook", "instagram"):
        assert fora[name].enabled is False and fora[name].disabled_reason
    assert {name for name, forum in fora.items() if not forum.enabled} == {"facebook", "instagram"}
    # Every forum has a stakeholder group, a channel the plan defines and a template that exists.
    for name, forum in fora.items():
        assert forum.channel in shipped.channels, name
        assert (shipped.templates_dir / forum.template).is_file(), name


def test_oc_meets_monthly(shipped: plan_.Plan) -> None:
    meetings = shipped.fora["oc"].meetings
    assert len(meetings) >= 6 and meetings == sorted(meetings)
    gaps = [(b - a).days for a, b in zip(meetings, meetings[1:])]
    assert all(21 <= gap <= 42 for gap in gaps), gaps
    assert meetings[0] >= dt.date(2026, 11, 23)


def test_shipped_plan_has_the_tiers_in_the_seeds_order(shipped: plan_.Plan) -> None:
    assert [(t.name, t.phase) for t in shipped.tiers] == [
        ("oc", "cascade"), ("hmu_and_networks", "cascade"), ("employees", "cascade"), ("external", "publish")]
    assert [t.fora for t in shipped.tiers] == [
        ["oc"],
        ["hmu", "network_quality", "network_sensum", "network_health"],
        ["intranet", "intranet_local"],
        ["website", "linkedin", "regional_intranet", "midtnyt", "perspektiv", "facebook", "instagram"],
    ]
    assert shipped.active_fora(shipped.tiers[3]) == ["website", "linkedin", "regional_intranet", "midtnyt",
                                                      "perspektiv"]
    assert shipped.tier_of("hmu").name == "hmu_and_networks"


def test_shipped_plan_has_the_approval_policy_and_the_narrative(shipped: plan_.Plan) -> None:
    policy = shipped.approval
    assert policy.title == "Styregruppen"
    assert policy.chair == "Mette Lund" and policy.chair_may_approve_alone is True
    assert policy.members_required == 2
    assert [m.name for m in policy.members] == ["Mette Lund", "Jens Kragh", "Sofie Dahl", "Lars Bech"]
    assert policy.member("mette lund").role == "formand"  # type: ignore[union-attr]
    assert (shipped.templates_dir / policy.template).is_file()
    assert shipped.narrative.vision == "Vi understøtter borgeren i at udleve ønsker, håb og drømme"
    assert shipped.narrative.aim == "ét socialområde"


def test_the_default_plan_delivers_everything_to_the_outbox(shipped: plan_.Plan) -> None:
    assert {channel.type for channel in shipped.channels.values()} == {"outbox"}


# -- bad plans -----------------------------------------------------------------------------------------------

def test_unknown_key_names_file_line_field_and_fix(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "    title: HMU\n", "    titel: HMU\n")
    error = load_error(path)
    assert_explained(error, path, "fora.hmu.titel", line_containing(text, "titel: HMU"),
                     "not a known field", "spelling")
    # The real field is now missing, and that is said too.
    assert only_problem(error, "fora.hmu.title").fix == "add `title:` here (see config/README.md)"


def test_unknown_key_in_an_overlay_names_the_overlay(tmp_path: Path) -> None:
    path = write_plan(tmp_path, {"fora": {"oc": {"recipents": ["oc@socialomraadet.example"]}}})
    text = path.read_text(encoding="utf-8")
    assert_explained(load_error(path), path, "fora.oc.recipents", line_containing(text, "recipents"),
                     "not a known field")


def test_a_tier_naming_an_unknown_forum(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "    fora: [intranet, intranet_local]\n",
                           "    fora: [intranet, intranet_local, intranett]\n")
    error = load_error(path)
    problem = assert_explained(error, path, "tiers[2].fora[2]", line_containing(text, "intranet_local, intranett]"),
                               "unknown forum 'intranett'")
    assert "intranet_local" in problem.fix and "add it under `fora:`" in problem.fix
    assert len(error.problems) == 1


def test_a_missing_template(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "    template: hmu_briefing.html.j2\n", "    template: hmu_brief.html.j2\n")
    problem = assert_explained(load_error(path), path, "fora.hmu.template", line_containing(text, "hmu_brief."),
                               "'hmu_brief.html.j2' does not exist")
    assert str(ROOT / "templates" / "hmu_brief.html.j2") in problem.fix


def test_a_missing_approval_template_in_an_overlay(tmp_path: Path) -> None:
    path = write_plan(tmp_path, {"approval": {"template": "godkendelse.html.j2"}})
    text = path.read_text(encoding="utf-8")
    assert_explained(load_error(path), path, "approval.template", line_containing(text, "godkendelse"),
                     "does not exist")


def test_a_forum_named_twice(tmp_path: Path) -> None:
    second_oc = ("  oc:\n    title: OC igen\n    stakeholder: management\n    medium: mail\n    channel: mail\n"
                 "    template: oc_briefing.html.j2\n    recipients: [oc@socialomraadet.example]\n\n  hmu:\n")
    path, text = full_copy(tmp_path, "  hmu:\n", second_oc)
    problem = assert_explained(load_error(path), path, "fora.oc", line_containing(text, "  oc:", 2),
                               "given twice")
    assert "unique name" in problem.fix


def test_a_tier_named_twice(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "  - name: employees\n", "  - name: oc\n")
    problem = assert_explained(load_error(path), path, "tiers[2].name", line_containing(text, "- name: oc", 2),
                               "tier 'oc' is named twice")
    assert "unique name" in problem.fix


def test_malformed_yaml(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "    title: HMU\n", "    title: HMU\n   stakeholder: [management\n")
    problem = assert_explained(load_error(path), path, "(syntax)", line_containing(text, "[management"),
                               "not valid YAML")
    assert "indentation" in problem.fix


def test_a_bad_email_address(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "[hmu@socialomraadet.example]", "[hmu(at)socialomraadet.example]")
    problem = assert_explained(load_error(path), path, "fora.hmu.recipients[0]", line_containing(text, "hmu(at)"),
                               "not an e-mail address", "hmu(at)socialomraadet.example")
    assert "name@domain" in problem.fix


def test_a_bad_approver_email_in_an_overlay(tmp_path: Path) -> None:
    members = [{"name": "Mette Lund", "email": "mette.lund"}, {"name": "Jens Kragh", "email": "jk@rm.example"}]
    path = write_plan(tmp_path, {"approval": {"members": members}})
    text = path.read_text(encoding="utf-8")
    assert_explained(load_error(path), path, "approval.members[0].email", line_containing(text, "mette.lund"),
                     "not an e-mail address")


def test_an_unknown_channel_type(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "  website:\n    type: outbox\n", "  website:\n    type: brevdue\n")
    problem = assert_explained(load_error(path), path, "channels.website.type", line_containing(text, "brevdue"),
                               "unknown channel type 'brevdue'")
    for known in ("outbox", "graph_mail", "linkedin", "webhook"):
        assert known in problem.fix


def test_unknown_channel_setting_is_checked_by_the_adapter(tmp_path: Path) -> None:
    path = write_plan(tmp_path, {"channels": {"mail": {"folder": "udbakke"}}})
    text = path.read_text(encoding="utf-8")
    assert_explained(load_error(path), path, "channels.mail.folder", line_containing(text, "folder:"),
                     "not a known field")


def test_a_publish_tier_before_a_cascade_tier(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "    title: OC-kredsen\n    fora: [oc]\n",
                           "    title: OC-kredsen\n    phase: publish\n    fora: [oc]\n")
    problem = assert_explained(load_error(path), path, "tiers", line_containing(text, "tiers:"),
                               "cascade tier comes after a publish tier")
    assert "publish tiers last" in problem.fix


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path, text = full_copy(tmp_path, "    template: hmu_briefing.html.j2\n",
                           "    template: hmu.html.j2\n    farve: rød\n")
    error = load_error(path)
    fields = {p.field for p in error.problems}
    assert "fora.hmu.farve" in fields
    assert str(error).startswith(f"{len(error.problems)} problem")


def test_a_plan_that_cannot_be_read(tmp_path: Path) -> None:
    missing = tmp_path / "ingen.yaml"
    problem = only_problem(load_error(missing), "(file)")
    assert problem.file == str(missing) and "cannot be read" in problem.what and "--plan" in problem.fix


# -- the approval policy -------------------------------------------------------------------------------------

@pytest.mark.parametrize("approved_by", ["Mette Lund", "mette.lund@socialomraadet.example", "Jens Kragh, Sofie Dahl",
                                         "Lars Bech; Jens Kragh", "Styregruppen"])
def test_approvers_the_policy_allows(shipped: plan_.Plan, approved_by: str) -> None:
    check_approvers(shipped.approval, approved_by)  # raises if refused


@pytest.mark.parametrize(("approved_by", "said"), [
    ("Jens Kragh", "1 of 2 required members"),
    ("Sofie Dahl, sofie.dahl@socialomraadet.example", "1 of 2 required members"),  # one person, named twice
    ("Ole Outsider", "Ole Outsider may not approve"),
    ("Mette Lund, Ole Outsider", "Ole Outsider may not approve"),
    ("", "no approver given"),
])
def test_approvers_the_policy_refuses(shipped: plan_.Plan, approved_by: str, said: str) -> None:
    with pytest.raises(ApprovalError, match=said):
        check_approvers(shipped.approval, approved_by)


def test_a_chair_who_may_not_approve_alone_needs_a_second_member(tmp_path: Path) -> None:
    plan = plan_.load(write_plan(tmp_path, {"approval": {"chair_may_approve_alone": False}}))
    with pytest.raises(ApprovalError, match="1 of 2 required members"):
        check_approvers(plan.approval, "Mette Lund")
    check_approvers(plan.approval, "Mette Lund, Lars Bech")


def test_problems_in_an_overlay_and_its_base_name_the_file_they_are_in(tmp_path: Path) -> None:
    """With `extends`, a field the overlay gives is its own; a field only the base gives is the base's."""
    tiers = [{"name": "oc", "title": "OC-kredsen", "fora": ["oc", "ocx"]}]
    path = write_plan(tmp_path, {"tiers": tiers})
    overlay, base = path.read_text(encoding="utf-8"), PLAN.read_text(encoding="utf-8")
    error = load_error(path)
    assert_explained(error, path, "tiers[0].fora[1]", line_containing(overlay, "- ocx"), "unknown forum 'ocx'")
    # HMU is now in no tier; it is defined in the base plan, so that is the file and line to look at.
    problem = only_problem(error, "fora.hmu")
    assert (problem.file, problem.line) == (str(PLAN), line_containing(base, "  hmu:"))
    assert "is in no tier" in problem.what
