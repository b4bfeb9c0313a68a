"""Reading a plan: the file to use, `extends:` and the environment's values, then validation and the
cross-checks; every problem found is reported at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from budbringer import yamlfile
from budbringer.channel_types import Registry, installed
from budbringer.errors import InputError, Problem
from budbringer.plan.cross_checks import addressing_of_raw, cross_check
from budbringer.plan.environment import expand_environment
from budbringer.plan.model import Plan
from budbringer.plan.problems import ORIGIN, problem_of


def plan_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The plan to use: --plan, else $BUDBRINGER_PLAN, else config/plan.yaml here, else the packaged one."""
    if explicit:
        return Path(explicit)
    from budbringer import settings

    return settings.current().plan_file


#: a plan is a YAML file with one of these suffixes (so a path given by mistake, such as /etc/shadow, is
#: refused before it is opened)
PLAN_SUFFIXES = (".yaml", ".yml")
#: how many plans deep `extends:` may go
MAX_EXTENDS = 8


def load(path: str | os.PathLike[str] | None = None, registry: Registry[Any] | None = None,
         environ: Mapping[str, str] | None = None) -> Plan:
    """Read and validate a plan against the channel types of `registry` (the entry point's; else the installed
    ones); raise InputError naming every problem found. `environ`: the entry point's settings' snapshot for the
    plan's `${VAR}` references (`Settings.environ`), else the settings read now."""
    file = plan_path(path)
    data, lines, problems = _read_with_extends(file, environ=environ)
    if not isinstance(data, dict) or not (set(data) & _PLAN_FIELDS):
        # Said without quoting a line or a key: the file may be anything a path pointed at by mistake.
        raise InputError([Problem(str(file), "(top level)", "is not a plan (not a mapping of plan fields)",
                                  "give a plan file: start from config/plan.yaml and keep its structure")])
    try:
        plan = Plan.model_validate({**data, "path": file})
    except ValidationError as exc:
        problems += [problem_of(str(file), lines, error) for error in exc.errors()]
        problems += addressing_of_raw(data, registry or installed(), str(file), lines)
        raise InputError(problems) from None
    plan._registry = registry or installed()
    problems += cross_check(plan, str(file), lines)
    if problems:
        raise InputError(problems)
    return plan


def _read_with_extends(file: Path, chain: tuple[Path, ...] = (),
                       environ: Mapping[str, str] | None = None) -> tuple[Any, dict[Any, Any], list[Problem]]:
    """A plan may say `extends: base.yaml` and override parts of it (e.g. swap the channels)."""
    if file.suffix.lower() not in PLAN_SUFFIXES:
        raise InputError([Problem(str(file), "(file)", f"is not a plan file (a plan ends in "
                                  f"{' or '.join(PLAN_SUFFIXES)})", "give the path of a plan file, e.g. "
                                  "config/plan.yaml")])
    data, lines, problems = yamlfile.load(file)
    if chain and not (isinstance(data, dict) and set(data) & _PLAN_FIELDS):
        raise InputError([Problem(str(chain[-1]), "extends", f"names {file}, which is not a plan",
                                  "extend a plan file (e.g. config/plan.yaml)", lines_of_extends(chain[-1]))])
    unexpanded = expand_environment(data, str(file), lines, environ)  # in place, before `extends`: problems name this file
    if unexpanded:  # checking the values left as `${VAR}` would only repeat these problems in other words
        raise InputError(problems + unexpanded)
    if isinstance(data, dict) and isinstance(data.get("templates"), str):
        # A template folder is relative to the file that names it, so an overlay elsewhere still finds it.
        data["templates"] = str((file.parent / data["templates"]).resolve())
    if isinstance(data, dict) and "extends" in data:
        extends = data.pop("extends")
        if not isinstance(extends, str) or not extends.strip():
            raise InputError([Problem(str(file), "extends", "is not a file name",
                                      "write `extends: base.yaml` (a path relative to this file)",
                                      lines.get(("extends",)))])
        base_file = (file.parent / extends).resolve()
        here = (*chain, file.resolve())
        if base_file in here:
            cycle = " → ".join(p.name for p in (*here[here.index(base_file):], base_file))
            raise InputError([Problem(str(file), "extends", f"forms a cycle ({cycle})",
                                      "a plan may not extend itself, directly or through another plan",
                                      lines.get(("extends",)))])
        if len(here) > MAX_EXTENDS:
            raise InputError([Problem(str(file), "extends", f"goes more than {MAX_EXTENDS} plans deep",
                                      "extend the base plan directly", lines.get(("extends",)))])
        base, base_lines, base_problems = _read_with_extends(base_file, here, environ)
        data = _merge(base, data)
        # Remember which file gives each field the overlay does not, so problems name the right file.
        origin = base_lines.pop(ORIGIN, {})
        origin = {at: origin.get(at, str(base_file)) for at in base_lines if at not in lines}
        lines = {**base_lines, **lines, ORIGIN: origin}  # type: ignore[dict-item]  # origin under its marker
        problems = base_problems + problems
    return data, lines, problems


_PLAN_FIELDS = {"name", "narrative", "approval", "templates", "channels", "fora", "tiers", "readability", "calendar",
                "environment", "extends"}


def lines_of_extends(file: Path) -> int | None:
    """The line of `extends:` in a plan already read (for an error about the plan it names)."""
    try:
        return next((n for n, row in enumerate(file.read_text(encoding="utf-8").splitlines(), 1)
                     if row.startswith("extends:")), None)
    except (OSError, UnicodeDecodeError):
        return None


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override
