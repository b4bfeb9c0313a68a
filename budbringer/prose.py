"""The prose a reader reads: words, sentences and LIX in Danish, and a variant's reader's text (its headline and
its blocks, classified as prose, headings, greeting and sign-off). What counts, and how a sentence ends, is told
in the docstring of `budbringer.readability`, which measures and reviews this text. Plain Python: no Prefect.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from budbringer.render import Variant

NEVER_END = {"bl.a.", "dvs.", "d.v.s.", "f.eks.", "fx.", "ca.", "jf.", "jvf.", "pga.", "p.g.a.", "pr.", "nr.",
             "kl.", "evt.", "inkl.", "ift.", "i.f.t.", "vedr.", "mht.", "m.h.t.", "tlf.", "ang.", "hhv.", "iht.",
             "i.h.t.", "bl.", "ekskl.", "max.", "min.", "gl.", "st.", "stk.", "ds.", "f.", "s.", "jan.", "feb.",
             "aug.", "sept.", "okt.", "nov.", "dec.", "man.", "tirs.", "ons.", "tors.", "fre.", "lør.", "søn."}
MAY_END = {"mv.", "m.v.", "osv.", "o.s.v.", "m.fl.", "mfl.", "m.m.", "etc."}
OPENERS = "»«\"“„'‘([{"
CLOSERS = "»«\"”’')]}"
ADDRESS = re.compile(r"(?:https?://|www\.)[^\s<>\"»«)]*[^\s<>\"»«).,:;!?]|[^\s<>\"»«(]+@[^\s<>\"»«)]+\.[a-z]{2,}",
                     re.I)
WORD = re.compile(r"\w+(?:[-.,'’/]\w+)*")
GREETINGS = ("kære", "hej", "hejsa", "goddag", "til")
SIGN_OFFS = ("med venlig hilsen", "venlig hilsen", "mvh", "de bedste hilsner", "bedste hilsner",
             "kærlig hilsen", "hilsen", "på vegne af")


# -- words and sentences --------------------------------------------------------------------------------------

def words(text: str) -> list[str]:
    """The words of a text (addresses left out); "5.678", "20.11.2026", "it-system" and "f.eks" are one each."""
    return list(_words(text))


@functools.lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    # Remembered: a message's fora share most of their texts, and the checks split the same sentences again and
    # again (at 1,000 fora, 180,000 calls for a few hundred distinct sentences; docs/benchmarks.md).
    return tuple(WORD.findall(ADDRESS.sub(" ", text)))


def letters(word: str) -> int:
    return sum(1 for c in word if c.isalpha())


def _first_letter(token: str) -> str:
    for c in token.lstrip(OPENERS):
        if c.isalpha() or c.isdigit():
            return c
    return ""


def _ends(token: str, following: str | None) -> bool:
    core = token.rstrip(CLOSERS)
    if not core:
        return False
    nxt = _first_letter(following) if following is not None else ""
    capital_next = nxt.isalpha() and nxt.isupper()
    if core.endswith(("!", "?", "…")):
        return True
    if core.endswith(":"):
        return capital_next
    if not core.endswith("."):
        return False
    if core.endswith("..."):
        return True
    low = core.lstrip(OPENERS).lower()
    if low in NEVER_END:
        return False
    if low in MAY_END:
        return capital_next
    if re.fullmatch(r"\d+(?:[.,]\d+)*\.", low):  # "10." "17." "20.11." "20.11.2026." "5.678."
        return following is None or capital_next
    if following is not None and nxt and (nxt.islower() or (nxt.isdigit() and re.fullmatch(r"\w\.", low))):
        return False  # an abbreviation we do not know ("ang. mødet"), or "f. eks."
    if re.fullmatch(r"[a-zæøå]\.", core.lstrip(OPENERS)) and not capital_next:
        return False
    return True


def sentences(text: str) -> list[str]:
    """Danish sentences of a text; a blank line (a block's end) always ends a sentence."""
    return list(_sentences(text))


@functools.lru_cache(maxsize=8192)
def _sentences(text: str) -> tuple[str, ...]:
    # Remembered, as `_words`: at 1,000 fora the checks split 60,000 texts, most of them the same few.
    out: list[str] = []
    for block in re.split(r"\n\s*\n", ADDRESS.sub(" ", text)):
        tokens = block.split()
        current: list[str] = []
        for index, token in enumerate(tokens):
            current.append(token)
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if _ends(token, following):
                out.append(" ".join(current))
                current = []
        if current:
            out.append(" ".join(current))
    return tuple(s for s in out if WORD.search(s))


def lix(text: str) -> float:
    """LIX of a text whose blocks are separated by blank lines."""
    return Measure.of(sentences(text)).lix


@dataclass(frozen=True)
class Measure:
    words: int
    sentences: int
    long_words: int
    longest: int  # words in the longest sentence

    @classmethod
    def of(cls, sents: list[str]) -> Measure:
        counts = [words(s) for s in sents]
        all_words = [w for c in counts for w in c]
        return cls(len(all_words), len([c for c in counts if c]), sum(1 for w in all_words if letters(w) > 6),
                   max((len(c) for c in counts), default=0))

    @property
    def lix(self) -> float:
        if not self.words:
            return 0.0
        return self.words / max(1, self.sentences) + 100 * self.long_words / self.words

    @property
    def long_share(self) -> float:
        return 100 * self.long_words / self.words if self.words else 0.0


# -- the reader's text ----------------------------------------------------------------------------------------

@dataclass
class Block:
    kind: str  # "heading", "greeting", "signature", "prose"
    text: str
    tag: str = "p"
    quoted: bool = False  # inside a <blockquote>: a text to pass on, written for its own readers


@dataclass
class ReaderText:
    """What the reader of one variant reads, split into headline, greeting, headings, prose and signature."""

    headline: str | None
    blocks: list[Block]

    def of(self, *kinds: str) -> list[Block]:
        return [b for b in self.blocks if b.kind in kinds]

    @property
    def greeting(self) -> str | None:
        found = self.of("greeting")
        return found[0].text if found else None

    @property
    def measured(self) -> list[str]:
        """The sentences LIX counts: the headline (one sentence) and the prose."""
        head = [" ".join(self.headline.split())] if self.headline and WORD.search(self.headline) else []
        return head + sentences("\n\n".join(b.text for b in self.of("prose")))

    @property
    def seen(self) -> list[tuple[str, str]]:
        """Every sentence the reader sees, in order, with its kind (headline, greeting, heading, prose)."""
        head = [(self.headline, "headline")] if self.headline else []
        return head + [(s, b.kind) for b in self.blocks if b.kind != "signature" for s in sentences(b.text)]


_BLOCK_TAGS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "dt", "dd", "pre", "blockquote", "div",
               "ul", "ol", "article", "hr", "table", "tr", "section", "header", "footer"}


class _Blocks(HTMLParser):
    """HTML to blocks: each paragraph-like element is one block; `<br>` is a line break inside it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[dict[str, Any]] = []
        self.stack: list[str] = []
        self.text: list[str] = []
        self.bold_chars = 0
        self.bold = 0
        self.article = 0
        self.quote = 0

    def _flush(self) -> None:
        text = "".join(self.text)
        if text.strip():
            tag = next((t for t in reversed(self.stack) if t in _BLOCK_TAGS - {"div", "article", "section"}), "p")
            plain = re.sub(r"[ \t\r\f\v]+", " ", text)
            plain = "\n".join(line.strip() for line in plain.split("\n")).strip()
            self.blocks.append({"tag": tag, "text": plain, "article": self.article > 0, "quoted": self.quote > 0,
                                "bold": self.bold_chars >= 0.9 * len(re.sub(r"\s", "", text))})
        self.text, self.bold_chars = [], 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.text.append("\n")
            return
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "article":
            self.article += 1
        if tag == "blockquote":
            self.quote += 1
        if tag in ("strong", "b"):
            self.bold += 1
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._flush()
        if tag == "article":
            self.article -= 1
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        if tag in ("strong", "b"):
            self.bold = max(0, self.bold - 1)
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        # Source line breaks inside a paragraph are spaces; only <br> breaks a line.
        data = data.replace("\n", " ")
        self.text.append(data)
        if self.bold:
            self.bold_chars += len(re.sub(r"\s", "", data))

    def close(self) -> None:
        super().close()
        self._flush()


def _terminal(text: str) -> bool:
    return text.rstrip(CLOSERS + " ").endswith((".", "!", "?", "…"))


HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _classify(raw: list[dict[str, Any]]) -> list[Block]:
    blocks: list[Block] = []
    signing = False
    for item in raw:
        text, tag, quoted = item["text"], item["tag"], item.get("quoted", False)
        plain = ADDRESS.sub(" ", text)
        count = len(words(plain))
        first_line = text.split("\n")[0].strip().casefold()
        if not count or all(t.startswith("#") for t in plain.split()):
            continue
        if signing and count <= 8 and not _terminal(text):
            blocks.append(Block("signature", text, tag, quoted))
            continue
        signing = False
        if first_line.startswith(SIGN_OFFS):
            blocks.append(Block("signature", text, tag, quoted))
            signing = True
        elif tag not in HEADINGS and not any(b.kind in ("prose", "greeting") for b in blocks) and count <= 10 \
                and not text.rstrip(CLOSERS + " ").endswith((".", "?", "…")) \
                and first_line.split()[0].strip(",!") in GREETINGS:
            blocks.append(Block("greeting", text.rstrip(","), tag, quoted))
        elif tag in HEADINGS or (item["bold"] and not text.rstrip(CLOSERS).endswith(".")) \
                or (count <= 3 and not _terminal(plain)):
            blocks.append(Block("heading", text, tag, quoted))
        else:
            blocks.append(Block("prose", text, tag, quoted))
    return blocks


def reader_text(variant: Variant) -> ReaderText:
    """The part of a variant its reader reads, classified (see the module's docstring)."""
    if variant.body_format == "html":
        parser = _Blocks()
        parser.feed(variant.body)
        parser.close()
        raw = parser.blocks
        if any(b["article"] for b in raw):
            raw = [b for b in raw if b["article"]]
            heading = next((b for b in raw if b["tag"].startswith("h")), None)
            if heading is not None:
                raw = [b for b in raw if b is not heading]
            return ReaderText(heading["text"] if heading else None, _classify(raw))
    else:
        raw = [{"tag": "p", "text": line.strip(), "article": False, "bold": False}
               for line in html.unescape(variant.body).split("\n") if line.strip()]
    headline = None if variant.medium == "post" else variant.subject
    return ReaderText(headline, _classify(raw))
