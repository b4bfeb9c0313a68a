"""A message file as the fields of a form, and the form's values written back into the file (plain Python).

The file in messages/ stays the source of truth, and stays diff-friendly: a value is written back in place, in
the text of the file, so the front matter keeps its order, its comments (the skeleton's prompts, `# …` after a
key) and the style of every field that did not change. A changed value with more than one line is written as a
literal block scalar (`|`), a Markdown body the way a person would write it; a one-line value plainly, or quoted
where YAML needs it. The notes below the front matter are the field `body`.

Fields are the scalar values of the front matter (not `id`, and not lists of words such as `fora` or
`hashtags`, which are kept as they are), named as `check` names them: `groups.citizens.text`,
`timeline[1].when`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import yaml

FENCE = "---"
BODY = "body"
#: fields the form does not offer: the id names the file
FIXED = {"id"}
#: scalars that are no text to write (`now: true`): kept as they are
NOT_TEXT = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


@dataclass(frozen=True)
class FormField:
    path: str          # groups.citizens.text, timeline[0].when, body
    value: str
    prompt: str        # the comment after the key (the skeleton's prompt), without "#"
    multiline: bool


@dataclass(frozen=True)
class _Place:
    path: str
    key: yaml.Node
    value: yaml.ScalarNode


def digest(text: str) -> str:
    """The hash a form carries of the file it was opened from (a save against another version is refused)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split(text: str) -> tuple[int, int, int]:
    """Offsets of the front matter's start, its end (the closing fence's line) and the body's start;
    ValueError when the file has no front matter."""
    if not text.startswith(FENCE):
        raise ValueError("the file has no front matter (it must start with a line ---)")
    start = text.index("\n") + 1
    at = start
    while at <= len(text):
        end = text.find("\n", at)
        line = text[at:] if end < 0 else text[at:end]
        if line.strip() == FENCE:
            return start, at, len(text) if end < 0 else end + 1
        if end < 0:
            break
        at = end + 1
    raise ValueError("the front matter has no closing line ---")


def _places(front: str) -> list[_Place]:
    root = yaml.compose(front) if front.strip() else None
    out: list[_Place] = []

    def walk(node: yaml.Node, at: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{at}.{key.value}" if at else str(key.value)
                if isinstance(value, yaml.ScalarNode):
                    if name not in FIXED and value.tag not in NOT_TEXT:
                        out.append(_Place(name, key, value))
                elif isinstance(value, yaml.MappingNode):
                    walk(value, name)
                elif isinstance(value, yaml.SequenceNode) and all(isinstance(v, yaml.MappingNode) for v in value.value):
                    for index, item in enumerate(value.value):
                        walk(item, f"{name}[{index}]")

    if root is not None:
        walk(root, "")
    return out


def _comment(front: str, place: _Place) -> str:
    """The comment on the key's line (after the value on that line, or after a block scalar's indicator)."""
    line_end = front.find("\n", place.key.end_mark.index)
    line_end = len(front) if line_end < 0 else line_end
    if place.value.style in ("|", ">"):
        tail = front[place.value.start_mark.index:line_end]
    elif place.value.end_mark.index <= line_end and place.value.end_mark.line == place.key.end_mark.line:
        tail = front[max(place.value.end_mark.index, place.key.end_mark.index + 1):line_end]
    else:
        tail = ""
    hash_at = tail.find("#")
    indicator = tail[:hash_at].strip() in ("|", ">", "|-", ">-", "|+", ">+")
    if hash_at < 0 or (hash_at > 0 and not tail[hash_at - 1].isspace() and not indicator):
        return ""
    return tail[hash_at + 1:].strip()


def _value(node: yaml.ScalarNode) -> str:
    if node.tag == "tag:yaml.org,2002:null" or (node.style is None and node.value in ("", "~", "null")):
        return ""
    return str(node.value)


def fields(text: str) -> list[FormField]:
    """The form's fields of a message file, in the file's order; then the notes below the front matter."""
    start, end, body = split(text)
    front = text[start:end]
    out = []
    for place in _places(front):
        value = _value(place.value)
        multiline = "\n" in value or place.value.style in ("|", ">")
        out.append(FormField(place.path, value, _comment(front, place), multiline))
    out.append(FormField(BODY, text[body:].strip("\n"), "Noter til styregruppen (sendes ikke ud)", True))
    return out


def values(text: str) -> dict[str, str]:
    return {f.path: f.value for f in fields(text)}


def _plain(value: str) -> str:
    """The value as one YAML line: plain where it reads back as the same text (or as the date it spells),
    else double-quoted."""
    try:
        back = yaml.safe_load(f"k: {value}")
    except yaml.YAMLError:
        back = None
    read = back.get("k") if isinstance(back, dict) else None
    if (read == value or (isinstance(read, dt.date) and read.isoformat() == value)) and value.strip() == value:
        return value
    dumped = yaml.safe_dump(value, allow_unicode=True, default_style='"', width=10**9)
    return dumped.rstrip("\n").removesuffix("\n...").rstrip("\n")


def _block(value: str, indent: int, comment: str) -> str:
    lines = value.strip("\n").split("\n")
    header = "|" + ("2" if lines[0].startswith(" ") else "") + ("" if value.endswith("\n") else "-")
    pad = " " * indent
    body = "\n".join(pad + line if line.strip() else "" for line in lines)
    return f" {header}" + (f"  # {comment}" if comment else "") + "\n" + body + "\n"


def optional(path: str, prompt: str) -> bool:
    """A field that may be left out (message.OPTIONAL, or the skeleton's prompt says "Valgfrit"): left empty, its
    line is deleted on save, as the skeleton asks, instead of `check` naming it as empty."""
    from budbringer.message import OPTIONAL

    return path.rsplit(".", 1)[-1].split("[")[0] in OPTIONAL or prompt.startswith("Valgfrit")


def apply(text: str, changes: dict[str, str]) -> str:
    """`text` with the changed values written in place (module docstring). Unknown paths are ignored: the form
    offers only the file's fields. An optional field left empty loses its line (`optional`)."""
    start, end, body = split(text)
    front = text[start:end]
    edits: list[tuple[int, int, str]] = []
    for place in _places(front):
        if place.path not in changes:
            continue
        new = changes[place.path].replace("\r\n", "\n").replace("\r", "\n")
        old = _value(place.value)
        comment = _comment(front, place)
        colon = front.index(":", place.key.end_mark.index)
        line_start = front.rfind("\n", 0, colon) + 1
        if (not new.strip() and optional(place.path, comment)
                and not front[line_start:place.key.start_mark.index].strip()):  # not a list item's first key
            stop = place.value.end_mark.index if place.value.style in ("|", ">") else front.find("\n", colon)
            stop = len(front) if stop < 0 else stop + (0 if place.value.style in ("|", ">") else 1)
            edits.append((line_start, stop, ""))
            continue
        if new.strip() == old.strip() and (new == old or "\n" not in new):
            continue
        line_end = front.find("\n", place.key.end_mark.index)
        line_end = len(front) if line_end < 0 else line_end
        if old == "" and place.value.style is None:
            stop = line_end
        elif place.value.style in ("|", ">") or "\n" in front[place.value.start_mark.index:place.value.end_mark.index]:
            stop = place.value.end_mark.index
            if stop > 0 and front[stop - 1] != "\n" and place.value.style in ("|", ">"):
                stop = front.find("\n", stop) + 1 or len(front)
        else:
            stop = line_end
        indent = place.key.start_mark.column + 2
        if "\n" in new.strip("\n"):
            replacement = _block(new, indent, comment)
            if stop < len(front) and front[stop - 1:stop] != "\n" and stop == line_end:
                stop += 1  # the line's own line break: the block scalar ends with one
        else:
            written = _plain(new.strip()) if new.strip() else ""
            head = f" {written}" if written else ""
            used = colon + 1 - (front.rfind("\n", 0, colon) + 1) + len(head)
            replacement = head + (f"{' ' * max(1, 31 - used)}# {comment}" if comment else "")
            if place.value.style in ("|", ">") or stop != line_end:
                replacement += "\n"
        edits.append((colon + 1, stop, replacement))
    for begin, stop, replacement in sorted(edits, reverse=True):
        front = front[:begin] + replacement + front[stop:]
    if not front.endswith("\n"):
        front += "\n"
    notes = text[body:]
    if BODY in changes and changes[BODY].strip() != notes.strip():
        notes = "\n" + changes[BODY].replace("\r\n", "\n").strip("\n") + "\n" if changes[BODY].strip() else "\n"
    return text[:start] + front + text[end:body] + notes
