"""Reading YAML so that errors can name the line: a mapping from a field's path to the line it is on.

PyYAML keeps the last of two equal keys without a word; a plan with a forum named twice would silently
lose one, so duplicate keys are reported here as problems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from budbringer.errors import InputError, Problem

Path_ = tuple[str | int, ...]


def load(path: Path, text: str | None = None) -> tuple[Any, dict[Path_, int], list[Problem]]:
    """Parse a YAML file: its data, the line of every key (1-based) and the duplicate keys found."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError([Problem(str(path), "(file)", f"cannot be read: {exc.strerror}",
                                      "check the path, or pass --plan / set BUDBRINGER_PLAN")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise InputError([Problem(str(path), "(syntax)", f"is not valid YAML: {reason}",
                                  "fix the indentation or quoting on that line", line)]) from None
    lines: dict[Path_, int] = {}
    duplicates: list[Problem] = []
    if node is not None:
        _walk(node, (), lines, duplicates, str(path))
    return data, lines, duplicates


def _walk(node: yaml.Node, at: Path_, lines: dict[Path_, int], dups: list[Problem], file: str) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dups.append(Problem(file, dotted((*at, key)), "is given twice",
                                    "give each entry a unique name (the second one would silently replace "
                                    "the first)", key_node.start_mark.line + 1))
            seen.add(key)
            lines[(*at, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*at, key), lines, dups, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*at, index), lines, dups, file)


def dotted(at: Path_) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def line_of(lines: dict[Path_, int], at: Path_) -> int | None:
    """The line of the deepest part of `at` that exists in the file."""
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines[at[:end]]
    return None
