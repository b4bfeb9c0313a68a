"""A message read from its text (`message.loads`, the author's page) as from its file, and `cascade.examine`:
what `prepare` finds, without refusing a blocking finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from budbringer import cascade, message as message_, plan as plan_
from budbringer.errors import InputError
from tests.conftest import MESSAGE, PLAN, write_plan


def test_a_message_read_from_its_text_is_the_one_read_from_its_file() -> None:
    plan = plan_.load(PLAN)
    text = MESSAGE.read_text(encoding="utf-8")

    assert message_.loads(text, MESSAGE, plan) == message_.load(MESSAGE, plan)


def test_problems_in_a_text_name_the_file_it_is_written_for() -> None:
    text = MESSAGE.read_text(encoding="utf-8").replace("id: 2026-11-status-udbud", "id: Ikke Gyldig")

    with pytest.raises(InputError) as caught:
        message_.loads(text, "2026-11-status-udbud.md", plan_.load(PLAN))

    [problem] = caught.value.problems
    assert (problem.file, problem.field, problem.line) == ("2026-11-status-udbud.md", "id", 2)


def test_a_text_larger_than_a_message_file_may_be_is_refused() -> None:
    text = MESSAGE.read_text(encoding="utf-8") + "x" * message_.MAX_BYTES

    with pytest.raises(InputError) as caught:
        message_.loads(text, "kladde.md")

    [problem] = caught.value.problems
    assert problem.file == "kladde.md" and "at most" in problem.what


def test_examine_shows_a_blocking_finding_that_prepare_refuses(workdir: Path) -> None:
    plan = write_plan(workdir, {"fora": {"website": {"max_chars": 100}}})  # the website's news item is longer

    with pytest.raises(InputError) as caught:
        cascade.prepare(plan, MESSAGE)
    examined = cascade.examine(plan, "kladde.md", text=MESSAGE.read_text(encoding="utf-8"))

    assert [p.field for p in caught.value.problems] == ["variant for website"]
    [error] = examined.errors
    assert error.forum == "website" and "takes at most 100" in error.text
    assert examined.message.path == Path("kladde.md") and len(examined.variants) == 12
