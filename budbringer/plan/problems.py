"""Where a problem in a plan is: the file and line of a field (in the plan or the base it extends), and a
pydantic validation error told as a Problem with its fix."""

from __future__ import annotations

from typing import Any

from budbringer import yamlfile
from budbringer.errors import Problem


ORIGIN = ("\0origin",)  # key in `lines` of {field path: file} for fields given by a base plan


def place_of(file: str, lines: dict[Any, Any], at: tuple[Any, ...]) -> tuple[str, int | None]:
    """The file and line of the deepest part of `at` a plan file gives (under `extends`, maybe the base)."""
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines.get(ORIGIN, {}).get(at[:end], file), lines[at[:end]]
    return file, None


def problem_of(file: str, lines: dict[Any, Any], error: Any) -> Problem:
    at = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    field = yamlfile.dotted(at)
    kind = error["type"]
    if kind == "budbringer":
        what, fix = error["ctx"]["what"], error["ctx"]["fix"]
    elif kind == "extra_forbidden":
        what, fix = "is not a known field", "remove it or correct its spelling (see config/README.md)"
    elif kind == "missing":
        what, fix = "is required", f"add `{at[-1]}:` here (see config/README.md)"
    elif kind == "string_pattern_mismatch" and "@" in str(error.get("ctx", {}).get("pattern", "")):
        what, fix = f"is not an e-mail address ({yamlfile.quote(error.get('input'))})", "write it as name@domain"
    elif kind == "string_pattern_mismatch" and "," in str(error.get("ctx", {}).get("pattern", "")):
        what, fix = "is not a person's name", "write the name without commas, semicolons or line breaks"
    elif kind == "string_pattern_mismatch":
        what, fix = f"{yamlfile.quote(error.get('input'))} is not a valid name", "use lower-case letters, digits and _"
    elif kind == "string_too_short" and at[-1:] in (("name",), ("chair",)):
        what, fix = "is empty", "write the person's name"
    elif kind == "literal_error":
        what = f"{yamlfile.quote(error.get('input'))} is not allowed"
        fix = f"use one of {error['ctx']['expected']}"
    else:
        what, fix = error["msg"].lower(), "correct the value (see config/README.md)"
    file, line = place_of(file, lines, at)
    return Problem(file, field, what, fix, line)
