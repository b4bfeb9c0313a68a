"""Reading plans and messages safely, and YAML so that errors can name the line.

Every file Budbringer reads as input (a plan, a plan it extends, a message) goes through `read_text`: only a
regular file (never a FIFO, a device or a folder, which could hang a run or read forever), at most a given
size, UTF-8 (a UTF-16 file or invalid bytes get one line that says so). `load` parses YAML with the safe
loader and refuses alias bombs before anything is built: an anchor used over and over adds more nodes
than `MAX_NODES` to those written in the file (or, where `aliases=False`, any alias at all), or refers to itself.

No error here quotes the file's content: a path handed over by mistake (`--plan /etc/shadow`) is refused
without disclosing a line of it. Keys are quoted only when they come from a parsed mapping, cut short.

PyYAML keeps the last of two equal keys without a word; a plan with a forum named twice would silently
lose one, so duplicate keys are reported here as problems.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from budbringer.errors import InputError, Problem

Path_ = tuple[str | int, ...]

#: the largest plan file read (bytes); the shipped plan is about 9 KB, one with 1,500 fora about 600 KB
MAX_PLAN_BYTES = 4 * 1024 * 1024
#: the most YAML nodes a file's aliases may add to the nodes written in it (the shipped plan: about 600 in all)
MAX_NODES = 20_000
#: keys and values quoted in an error are cut to this many characters
QUOTE_CHARS = 40


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """A value for an error text: its repr, cut short (a key from a parsed mapping, never a raw line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_text(path: Path, *, limit: int, fix: str) -> str:
    """A regular file's text, decoded as UTF-8: refuses anything else in one Problem, never showing content.

    Opened without blocking, so a FIFO given as a path is refused at once instead of waiting for a writer."""
    def refuse(what: str, how: str = fix, line: int | None = None) -> InputError:
        return InputError([Problem(str(path), "(file)", what, how, line)])

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise refuse(f"cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode)
                    else "a device or socket")
            raise refuse(f"is {kind}, not a regular file", "give the path of a file") from None
        if info.st_size > limit:
            raise refuse(f"is {info.st_size:,} bytes; at most {limit:,} are read", "give the right file, or make it "
                         "shorter") from None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise refuse(f"is more than {limit:,} bytes", "give the right file, or make it shorter") from None
    except OSError as exc:
        raise refuse(f"cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise refuse("is UTF-16 text", "save it as UTF-8 (in most editors: Save As, encoding UTF-8)")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise refuse(f"is not valid UTF-8 (byte {exc.start + 1} cannot be decoded)",
                     "save it as UTF-8 (in most editors: Save As, encoding UTF-8)", line) from None


def load(path: Path, text: str | None = None, *, aliases: bool = True,
         fix: str = "check the path, or pass --plan / set BUDBRINGER_PLAN",
         ) -> tuple[Any, dict[Path_, int], list[Problem]]:
    """Parse a YAML file: its data, the line of every key (1-based) and the duplicate keys found.

    `aliases=False` refuses any alias (`*name`); otherwise aliases may add MAX_NODES to the nodes written."""
    if text is None:
        text = read_text(path, limit=MAX_PLAN_BYTES, fix=fix)
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _refuse_alias_bombs(node, path, aliases)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        # The problem only (never str(exc): it quotes the lines around the error), cut short.
        reason = str(getattr(exc, "problem", None) or "cannot be parsed")
        reason = reason if len(reason) <= 80 else reason[:79] + "…"
        raise InputError([Problem(str(path), "(syntax)", f"is not valid YAML: {reason}",
                                  "fix the indentation or quoting on that line", line)]) from None
    except RecursionError:
        raise InputError([Problem(str(path), "(syntax)", "is nested too deeply",
                                  "write the structure with fewer levels")]) from None
    except (ValueError, TypeError, ArithmeticError, AttributeError, LookupError):
        # A scalar PyYAML recognises but cannot build: an impossible date (2026-02-30), `!!int abc`,
        # `!!timestamp foo` (PyYAML's own constructors raise these, not YAMLError).
        raise InputError([Problem(str(path), "(syntax)", "holds a value that cannot be read as its type (an "
                                  "impossible date such as 2026-02-30, or an explicit tag such as !!int on text)",
                                  "correct the value, or put it in quotes", _unreadable_line(node))]) from None
    lines: dict[Path_, int] = {}
    duplicates: list[Problem] = []
    if node is not None:
        _walk(node, (), lines, duplicates, str(path))
    return data, lines, duplicates


def _refuse_alias_bombs(root: yaml.Node, path: Path, aliases: bool) -> None:
    """Count the nodes the document expands to with every alias followed, without expanding it (each shared
    node is sized once); refuse a self-reference, too many nodes, or (aliases=False) any alias."""
    def refuse(what: str, fix: str, node: yaml.Node) -> InputError:
        return InputError([Problem(str(path), "(aliases)", what, fix, node.start_mark.line + 1)])

    # The nodes written out in the file are allowed whatever their number (the file's size bounds them: a plan
    # with 1,500 fora has some 30,000); only what aliases add on top of them counts against MAX_NODES.
    limit = MAX_NODES + _written(root)
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            visiting.discard(key)
            sizes[key] = min(1 + sum(sizes[id(child)] for child in children), limit + 1)
            if sizes[key] > limit:
                raise refuse(f"its aliases (*name) add more than {MAX_NODES:,} values to those written in it",
                             "write the values out instead of repeating anchors (&name) inside each other", node)
            continue
        if key in sizes:
            if not aliases:
                raise refuse("uses a YAML alias (*name)", "write the value out; anchors and aliases are not "
                             "allowed here", node)
            continue
        if key in visiting:
            raise refuse("an alias (*name) refers to the value that contains it", "remove the alias", node)
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children)


def _written(root: yaml.Node) -> int:
    """How many distinct nodes the file itself holds (each anchored node once, however often it is aliased)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(_children(node))
    return len(seen)


def _unreadable_line(root: yaml.Node | None) -> int | None:
    """The line of the first scalar that cannot be built on its own (for the error above)."""
    stack, seen = [root] if root is not None else [], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                yaml.constructor.SafeConstructor().construct_object(node, deep=True)
            except Exception:  # noqa: BLE001 - any failure marks the value we are looking for
                return node.start_mark.line + 1
        stack.extend(reversed(_children(node)))
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _walk(node: yaml.Node, at: Path_, lines: dict[Path_, int], dups: list[Problem], file: str) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "(complex key)"
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
    """`fora.hmu.recipients[0]`; each key cut short (keys come from parsed mappings, but may be long)."""
    out = ""
    for part in at:
        part = part if isinstance(part, int) or len(str(part)) <= QUOTE_CHARS else str(part)[:QUOTE_CHARS - 1] + "…"
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def line_of(lines: dict[Path_, int], at: Path_) -> int | None:
    """The line of the deepest part of `at` that exists in the file."""
    for end in range(len(at), -1, -1):
        if at[:end] in lines:
            return lines[at[:end]]
    return None
