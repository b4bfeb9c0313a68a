"""Fuzzing the input a person writes: message front matter and plan files (issue 11).

Every input ends in exit 0 or exit 1 with one `error:` report — never a traceback, never a hang, never a
memory blow-up. Hypothesis generates structured front matter and plan overlays (known fields with values of
every type), raw YAML-ish text (anchors, aliases, tags, flow collections, odd characters) and raw bytes
(invalid UTF-8, UTF-16, NUL).

The default run is bounded (BUDBRINGER_FUZZ=default: 25 examples per test). The longer profile, for a
manual run (about 5 minutes):

    BUDBRINGER_FUZZ=long python -m pytest -q -p no:cacheprovider tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import resource
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budbringer import cli
from tests.conftest import MESSAGE, PLAN

settings.register_profile("budbringer-fuzz", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("budbringer-fuzz-long", max_examples=1500, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PROFILE = settings.get_profile("budbringer-fuzz-long" if os.environ.get("BUDBRINGER_FUZZ") == "long" else "budbringer-fuzz")

#: one input may take this long (check renders twelve variants; a loaded machine is slow)
SECONDS_PER_INPUT = 20
#: the whole fuzz run may grow the process's peak memory by this much
MEMORY_GROWTH_BYTES = 400 * 1024 * 1024

FRONT_KEYS = ["id", "title", "summary", "date", "link", "author", "fora", "sections", "body", "path", "extra",
              "employees", "<<"]
PLAN_PATHS = [("name",), ("narrative",), ("narrative", "vision"), ("approval",), ("approval", "chair"),
              ("approval", "members"), ("approval", "members_required"), ("channels",), ("channels", "mail"),
              ("channels", "mail", "sender"), ("channels", "mail", "type"), ("fora",), ("fora", "oc"),
              ("fora", "oc", "recipients"), ("fora", "oc", "meetings"), ("fora", "hmu", "template"),
              ("fora", "linkedin", "max_chars"), ("tiers",), ("calendar",), ("calendar", "reminder_time"),
              ("calendar", "timezone"), ("readability",), ("templates",), ("extends",), ("unknown",)]
YAMLISH = st.text(alphabet=st.sampled_from(list("ab1:-[]{}&*!|>'\"#%@`,?.\n \t\\éø\x00\x85\u2028\ufeff<=~")),
                  max_size=400)

#: YAML a person (or an attacker) may write that PyYAML treats specially: tags, timestamps, merges, anchors
SNIPPETS = ["date: 2026-02-30", "date: 2026-13-45", "x: !!int abc", "x: !!float abc", "x: !!timestamp foo",
            "x: !!binary '@@@'", "x: !!python/object:os.system ls", "x: !!set {a: 1}", "x: !!omap [a]",
            "<<: 5", "<<: [1]", "<<: {id: x}", "a: &a [1, 2]", "b: [*a, *a]", "c: *nope", "? [a]\n: b",
            "x: !!str [a]", "x: 1e99999", "x: 0x_", "x: 10:30", "x: ~", "x: .inf", "id: !!null",
            "fora: &f [oc, *f]", "x: |\n  text", "x: >-\n  text", "- a", "[a, b]", "{a: b}", "'unclosed",
            "\ttab: x", "x: \"\\xZZ\"", "%YAML 1.1", "--- x", "...", "x: !local y", "! x: y"]
SNIPPET_TEXT = st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=6).map("\n".join)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=60), st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
                    st.sampled_from(["https://www.rm.dk/x", "javascript:alert(1)", "a@b.example", "meeting",
                                     "2026-11-23", "Mette Lund", "", " ", "oc", "outbox", "../../etc/passwd",
                                     "{{ 7*7 }}", "x" * 5000]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12) | st.sampled_from(
                                                           FRONT_KEYS), inner, max_size=4)), max_leaves=12)


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)  # any exception but a clean exit fails the test: that is the point
    assert time.monotonic() - started < SECONDS_PER_INPUT
    return code, err.getvalue()


def _assert_clean(code: int, err: str) -> None:
    assert code in (0, 1), code
    assert "Traceback" not in err
    if code == 1:
        assert err.startswith("error: "), err[:500]


@pytest.fixture(scope="module")
def peak_memory() -> object:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    yield
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert after - before < MEMORY_GROWTH_BYTES, f"peak memory grew by {(after - before) // 2**20} MB"


@pytest.fixture
def fuzz_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUDBRINGER_HOME", str(tmp_path / ".budbringer"))
    monkeypatch.delenv("BUDBRINGER_DATABASE_URL", raising=False)
    monkeypatch.delenv("BUDBRINGER_PLAN", raising=False)
    return tmp_path


MESSAGE_TEXT = MESSAGE.read_text(encoding="utf-8")
FRONT, BODY = MESSAGE_TEXT.split("\n---\n", 1)
GOOD_FRONT = yaml.safe_load(FRONT.removeprefix("---\n"))


def _front_text(draw_kind: str, data: object, raw: str) -> str:
    if draw_kind == "structured":
        return yaml.safe_dump(data, allow_unicode=True, default_flow_style=None)
    return raw


@settings(PROFILE)
@given(kind=st.sampled_from(["structured", "raw", "mutated"]),
       fields=st.dictionaries(st.sampled_from(FRONT_KEYS), values, max_size=6),
       raw=YAMLISH | SNIPPET_TEXT, keep=st.booleans(),
       mutation=st.tuples(st.sampled_from(FRONT_KEYS), values))
def test_message_front_matter(fuzz_env: Path, peak_memory: object, kind: str, fields: dict, raw: str, keep: bool,
                              mutation: tuple) -> None:
    if kind == "mutated":
        front = yaml.safe_dump({**GOOD_FRONT, mutation[0]: mutation[1]}, allow_unicode=True)
    else:
        base = {**GOOD_FRONT, **fields} if keep else fields
        front = _front_text(kind, base, raw)
    with tempfile.TemporaryDirectory(dir=fuzz_env) as folder:
        message = Path(folder) / "message.md"
        message.write_text(f"---\n{front}\n---\n{BODY}", encoding="utf-8")
        _assert_clean(*_run(["--plan", str(PLAN), "check", str(message)]))


@settings(PROFILE)
@given(data=st.binary(max_size=600), prefix=st.sampled_from([b"", b"---\n", b"\xff\xfe", b"\xef\xbb\xbf---\n"]))
def test_message_and_plan_bytes(fuzz_env: Path, peak_memory: object, data: bytes, prefix: bytes) -> None:
    with tempfile.TemporaryDirectory(dir=fuzz_env) as folder:
        message = Path(folder) / "message.md"
        message.write_bytes(prefix + data + b"\n---\n" + BODY.encode())
        _assert_clean(*_run(["--plan", str(PLAN), "check", str(message)]))
        plan = Path(folder) / "plan.yaml"
        plan.write_bytes(prefix + data)
        _assert_clean(*_run(["--plan", str(plan), "plan"]))


def _set(tree: dict, path: tuple, value: object) -> dict:
    node = tree
    for part in path[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
    return tree


@settings(PROFILE)
@given(kind=st.sampled_from(["overlay", "raw", "raw-extends"]),
       changes=st.lists(st.tuples(st.sampled_from(PLAN_PATHS), values), min_size=1, max_size=4),
       raw=YAMLISH | SNIPPET_TEXT, command=st.sampled_from(["plan", "check"]))
def test_plan_files(fuzz_env: Path, peak_memory: object, kind: str, changes: list, raw: str, command: str) -> None:
    with tempfile.TemporaryDirectory(dir=fuzz_env) as folder:
        plan = Path(folder) / "plan.yaml"
        if kind == "overlay":
            overlay: dict = {"extends": str(PLAN)}
            for path, value in changes:
                _set(overlay, path, value)
            text = yaml.safe_dump(overlay, allow_unicode=True)
        else:
            text = (f"extends: {PLAN}\n" if kind == "raw-extends" else "") + raw
        plan.write_text(text, encoding="utf-8")
        argv = ["--plan", str(plan), command] + ([str(MESSAGE)] if command == "check" else [])
        _assert_clean(*_run(argv))
