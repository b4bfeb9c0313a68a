"""An approver's comment: the text a member writes when deciding, cleaned once for every path.

A comment comes from the approval page, `budbringer approve --comment` and the Prefect form, and is shown in
`status`, on stderr, on the page, in the rejection mail and in the run's artifact. `clean` is the one rule they
all use (the ledger stores and reads comments through it): terminal escape sequences (CSI such as `ESC[31m`,
OSC such as a window title or a hyperlink) are removed whole, then every other control character (C0 except the
line break, DEL, C1) and the bidirectional overrides that can make text read other than it is stored.
A comment is at most `MAX_LENGTH` characters: `too_long` says whether one is over.
"""

from __future__ import annotations

import re

#: the most characters a comment may have (a rejection says what to change; a page of text is plenty)
MAX_LENGTH = 2000

#: ESC [ … final byte (CSI), ESC ] … BEL or ESC \ (OSC), and the one-character ESC sequences; also their C1 forms
_ESCAPE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
                     r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                     r"|\x1b[@-Z\\-_]")
#: C0 controls except \n, DEL, C1 controls, and the bidirectional embeddings, overrides and isolates
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """The comment as it may be stored and shown: escape sequences and control characters removed, line
    breaks kept (a CR LF or a lone CR becomes a line break, a tab a space), and no blank edges."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL.sub("", _ESCAPE.sub("", text)).strip()


def too_long(text: str) -> bool:
    """Whether a (cleaned) comment is over `MAX_LENGTH` characters."""
    return len(text) > MAX_LENGTH
