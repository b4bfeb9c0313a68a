"""`budbringer init DIR`: a starter plan folder, written from the resources the package ships.

    DIR/config/plan.yaml        the plan (every channel writes to the outbox until you connect it)
    DIR/config/README.md        what each field of the plan means
    DIR/templates/*.j2          one template per forum, and the approval request, to edit
    DIR/messages/*.md           one message to start from

Run the commands from DIR: `budbringer check messages/*.md` finds `config/plan.yaml` there. Nothing is
overwritten: DIR must be new or empty.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from budbringer.errors import InputError, Problem

#: (packaged resource, folder in DIR, which files)
PARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("budbringer.config", "config", ("plan.yaml", "README.md")),
    ("budbringer.templates", "templates", (".j2", "README.md")),
    ("budbringer.messages", "messages", (".md",)),
)


def _wanted(item: Traversable, patterns: tuple[str, ...]) -> bool:
    return item.is_file() and any(item.name == p or (p.startswith(".") and item.name.endswith(p)) for p in patterns)


def write(folder: str | Path) -> list[Path]:
    """Write the starter folder; returns the files written. Refuses a folder that holds anything already."""
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError([Problem(str(target), "DIR", "exists and is not an empty folder",
                                  "name a new folder: `budbringer init` never overwrites anything")])
    written: list[Path] = []
    for package, name, patterns in PARTS:
        into = target / name
        into.mkdir(parents=True, exist_ok=True)
        for item in sorted(resources.files(package).iterdir(), key=lambda i: i.name):
            if _wanted(item, patterns):
                path = into / item.name
                path.write_bytes(item.read_bytes())
                written.append(path)
    return written
