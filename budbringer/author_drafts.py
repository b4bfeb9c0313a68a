"""Drafts the author's page saves as the author types (plain Python, no ledger table).

A draft is the form's values for one message, kept under the Budbringer home (`<home>/drafts/<id>.json`, mode
0600) with the hash of the file they were typed against, who typed them and when. Each is written to a new file,
flushed to disk and renamed over the old one, so a server stopped mid-write leaves the previous draft whole: a
closed tab, a crash or a lost connection loses at most the seconds since the page last sent the form. Saving the
message deletes its draft.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from budbringer import approval_links

FOLDER = "drafts"
MESSAGE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")


@dataclass(frozen=True)
class Draft:
    message_id: str
    base_hash: str      # the file's hash when the form was opened
    values: dict[str, str]
    author: str
    saved_at: dt.datetime


def folder() -> Path:
    return approval_links.home() / FOLDER


def _path(message_id: str) -> Path:
    if not MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"{message_id!r} is no message id")
    return folder() / f"{message_id}.json"


def save(message_id: str, base_hash: str, values: dict[str, str], author: str, now: dt.datetime) -> Draft:
    """Keep the draft (atomically: a new file, fsync, rename)."""
    path = _path(message_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = Draft(message_id, base_hash, dict(values), author, now)
    data = json.dumps({"message_id": message_id, "base_hash": base_hash, "values": values, "author": author,
                       "saved_at": now.isoformat()}, ensure_ascii=False)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    return draft


def load(message_id: str) -> Draft | None:
    """The message's draft, or None (none kept, or one that cannot be read)."""
    try:
        data = json.loads(_path(message_id).read_text(encoding="utf-8"))
        return Draft(str(data["message_id"]), str(data["base_hash"]),
                     {str(k): str(v) for k, v in dict(data["values"]).items()}, str(data["author"]),
                     dt.datetime.fromisoformat(str(data["saved_at"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def discard(message_id: str) -> None:
    _path(message_id).unlink(missing_ok=True)
