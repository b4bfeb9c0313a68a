"""Jargon found, not listed: words uncommon in everyday Danish, and whether a text explains them. Plain Python.

The glossary (config `readability.glossary`) lists what frequency cannot know: common words that are jargon
to citizens ("udbud") and words with two meanings ("tilbud"). Everything else is judged here, by how often a
word occurs in everyday Danish.

Frequency
  `wordfreq`'s Danish list (`small_da`: the ~29,000 words seen at least once per million, Zipf 3.01 to 7.49).
  A word's Zipf value is the larger of its own and its lemma's (`simplemma`: "leverandørerne" counts as
  "leverandør"); a word not in the list has Zipf 0. A word is everyday when its Zipf value reaches the group's
  `min_zipf` (default 3.0 for every group: it is in the list at all). Measured (Zipf): tilbud 4.93, udbud 4.16,
  leverandør 3.78, implementering 3.33, udleve 3.1; demodage, superbruger, prækvalificeret, evalueringsfase,
  frikøbt, kravspecifikation, markedsdialog, dokumentationssystem and hjemmehjælp 0.

Compounds
  Danish writes compounds as one word, and most are missing from the list even when built of everyday parts
  (hjemmehjælp = hjemme + hjælp). A word below `min_zipf` is split into parts found in the list, the fewest
  parts first, each part at least three letters, with the linking -s- or -e- allowed between parts
  ("evaluering-s-fase"); of the splits with fewest parts, the one whose weakest part is most common. The last
  part (the head) may be inflected: it counts by its lemma or its stem without a Danish ending ("fasen" as
  "fase"). The compound is everyday when every part reaches the group's `compound_zipf`:
  - citizens 4.5: every part an everyday word (hjemme 5.29 + hjælp 5.56 passes; demo 3.91 + dage, evaluering
    3.71 + fase, dokumentation 4.01 + system and præ 3.63 + kvalificeret are findings);
  - employees, management, others 3.0: a compound of words in the list passes (superbruger, frikøbt,
    demodage); staff are warned only about words that are rare and not built of known words.
  A hyphenated word shows its parts: each part is judged on its own ("it-systemer"); a part in capitals
  (an abbreviation, "OC-mødet") or with a capital letter (a name, "Sensum Bosted-tovholderen") is left to
  the glossary. Frequency cannot see that a compound of everyday parts is opaque ("superbruger" to citizens):
  list such words in the glossary or the message's `words:`.

What is looked at
  Every sentence the reader sees (headline, headings, prose, list items). Not looked at: words with digits,
  words of fewer than four letters, abbreviations with a full stop, words in capitals, a capitalised word
  inside a sentence (a name: "Regionshuset Viborg"), a capitalised first word that some variant writes
  capitalised inside a sentence too ("Sensum"), glossary terms (the glossary judges them), and words the
  reader knows: `readability.known_words` in the plan (keys: `all`, a group, a forum, or a template name
  without extension such as `network_briefing`) and the message's `words:` with `known:`. A listed word
  matches any word it begins ("kravspecifikation" matches "kravspecifikationen"), as in the glossary.

Explained where first used
  A rare word is fine when it is explained in the sentence where it is first used in the prose (else where
  it is first seen), in one of the ordinary Danish forms:
  - an apposition: "demodage, dage hvor firmaerne viser systemet" (after the comma a noun that repeats the
    word's head, or a relative word within the next four words);
  - a relative clause: "et udbud, hvor firmaer konkurrerer om at levere det" (hvor/som/der and two words);
  - a parenthesis after it, "superbruger (en kollega, der …)", or the word itself in one after its
    explanation: "en kollega, der hjælper de andre (superbruger)";
  - a dash: "frikøbt – fri fra sit daglige arbejde";
  - "det vil sige", "dvs.", "altså", "betyder", "kaldes", "kalder vi", "hedder", "forstået som" in the
    sentence or the next, or the next sentence pointing back ("Det er …").
  The glossary's "explain" rule accepts the same forms (readability.Glossary.explained).

Severity: the rule `jargon` blocks in citizens' texts and warns elsewhere (config `rules`, as other rules).
The frequency list and the lemmas load once, lazily, on the first word looked up (about 0.1 s; simplemma's
lemma trie is built once per machine into the user's cache folder, about 2 s, then read in milliseconds).
"""

from __future__ import annotations

import gzip
import importlib.util
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from simplemma import Lemmatizer

#: below this a word is rare (default for every group)
MIN_ZIPF = 3.0
#: each part of a closed compound must reach this for the compound to be everyday
COMPOUND_ZIPF = {"citizens": 4.5, "employees": 3.0, "management": 3.0, "others": 3.0}
MIN_LETTERS = 4
MIN_PART = 3
LINKS = ("s", "e")

EXPLAINERS = re.compile(r"det vil sige|dvs\.|betyder|kaldes|kaldet|kalder (?:vi|man)|hedder|altså|forstået som|"
                        r"hvilket vil sige", re.I)
#: a sentence right after the word that defines it by pointing back: "Det er listen over …"
POINTING_BACK = re.compile(r"^\W*(?:det|den|de)\s+(?:er|var|betyder|vil sige)\s", re.I)
RELATIVE = ("hvor", "som", "der", "hvis", "når", "hvilket", "hvilken")
_REST_OF_WORD = re.compile(r"^[\w'’-]*")
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


# -- the frequency list and the lemmas ----------------------------------------------------------------------

class Lexicon:
    """wordfreq's Danish Zipf values and simplemma's Danish lemmas, loaded once, on the first look-up."""

    def __init__(self) -> None:
        self._zipf: dict[str, float] | None = None
        self._lemmatizer: Lemmatizer | None = None
        self._lock = threading.Lock()
        # every variant of a message repeats most of its words: each is judged once per process
        self._frequencies: dict[str, float] = {}
        self._splits: dict[tuple[str, float], tuple[str, ...] | None] = {}

    def _load(self) -> dict[str, float]:
        with self._lock:
            if self._zipf is None:
                self._zipf = _read_wordfreq_da()
            return self._zipf

    def zipf(self, word: str) -> float:
        """The word's own Zipf value (0 when it is not in the list)."""
        return (self._zipf or self._load()).get(word.casefold(), 0.0)

    def lemma(self, word: str) -> str:
        if self._lemmatizer is None:
            with self._lock:
                if self._lemmatizer is None:
                    from simplemma import Lemmatizer
                    from simplemma.strategies import DefaultStrategy
                    from simplemma.strategies.dictionaries.dictionary_factory import DictionaryFactory
                    from simplemma.strategies.dictionaries.trie_dictionary_factory import TrieDictionaryFactory

                    try:
                        factory: DictionaryFactory = TrieDictionaryFactory()  # on disk: ms after the first build
                    except ImportError:  # marisa-trie missing: the in-memory dictionary (slower to load)
                        from simplemma.strategies.dictionaries import DefaultDictionaryFactory as factory_cls
                        factory = factory_cls()
                    self._lemmatizer = Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=factory))
        return self._lemmatizer.lemmatize(word.casefold(), lang="da")

    def frequency(self, word: str) -> float:
        """The larger of the word's and its lemma's Zipf values."""
        found = self._frequencies.get(word)
        if found is None:
            own = self.zipf(word)
            found = self._frequencies[word] = own if own >= 4.5 else max(own, self.zipf(self.lemma(word)))
        return found

    def split(self, word: str, bar: float) -> tuple[str, ...] | None:
        """The compound's parts (fewest first), each in the list at `bar` or more, with a linking -s-/-e-
        allowed between parts and the head judged by its lemma too; None when it does not split so."""
        key = (word.casefold(), bar)
        if key not in self._splits:
            self._splits[key] = _split(self, key[0], bar)
        return self._splits[key]


def _read_wordfreq_da() -> dict[str, float]:
    """wordfreq's `small_da` list as word -> Zipf. The file is read directly (its documented "cBpack" format:
    a msgpack list, a header and then one list of words per centibel, index = -cB), which saves importing
    wordfreq and its tokenizers (0.15 s) on every `check`; wordfreq's own reader is the fallback."""
    spec = importlib.util.find_spec("wordfreq")
    path = Path(spec.submodule_search_locations[0]) / "data" / "small_da.msgpack.gz" if spec and \
        spec.submodule_search_locations else None
    if path is not None and path.is_file():
        import msgpack

        with gzip.open(path, "rb") as file:
            data = msgpack.load(file, raw=False)
        header = data[0]
        if isinstance(header, dict) and header.get("format") == "cB" and header.get("version") == 1:
            zipf: dict[str, float] = {}
            for index, bucket in enumerate(data[1:]):
                for word in bucket:
                    zipf.setdefault(word, round((900 - index) / 100, 2))
            return zipf
    import wordfreq

    return {word: wordfreq.freq_to_zipf(freq) for word, freq in wordfreq.get_frequency_dict("da", "small").items()}


ENDINGS = ("erne", "ene", "ens", "ets", "er", "en", "et", "ne", "e", "n", "t", "s")


def head_zipf(lexicon: Lexicon, part: str) -> float:
    """The Zipf value of a compound's head: its own, its lemma's, or its stem's without a Danish ending
    ("fasen" -> "fase", where simplemma says "fas")."""
    value = lexicon.frequency(part)
    for ending in ENDINGS:
        if value >= 4.5:
            break
        if part.endswith(ending) and len(part) - len(ending) >= MIN_PART:
            value = max(value, lexicon.zipf(part[:-len(ending)]))
    return value


def part_zipf(lexicon: Lexicon, parts: tuple[str, ...], index: int) -> float:
    return head_zipf(lexicon, parts[index]) if index == len(parts) - 1 else lexicon.zipf(parts[index])


def _split(lexicon: Lexicon, word: str, bar: float) -> tuple[str, ...] | None:
    """Fewest parts first; among those, the split whose weakest part is the most common."""
    def rank(split: tuple[tuple[str, ...], tuple[float, ...]]) -> tuple[int, tuple[float, ...]]:
        return len(split[0]), tuple(-v for v in sorted(split[1]))

    @lru_cache(maxsize=None)
    def best(start: int) -> tuple[tuple[str, ...], tuple[float, ...]] | None:
        found: tuple[tuple[str, ...], tuple[float, ...]] | None = None
        for end in range(len(word), start + MIN_PART - 1, -1):
            part = word[start:end]
            last = end == len(word)
            value = head_zipf(lexicon, part) if last else lexicon.zipf(part)
            if value < bar:
                continue
            for nxt in [end] + ([end + 1] if not last and word[end] in LINKS else []):
                rest = ((), ()) if last else best(nxt) if len(word) - nxt >= MIN_PART else None
                if rest is None:
                    continue
                candidate = ((part,) + rest[0], (value,) + rest[1])
                if found is None or rank(candidate) < rank(found):
                    found = candidate
        return found

    parts = best(0)
    return parts[0] if parts and len(parts[0]) > 1 else None


LEXICON = Lexicon()


# -- explanations -------------------------------------------------------------------------------------------

def explained(sentence: str, start: int, end: int, following: str = "", head: str = "") -> bool:
    """Whether the word at sentence[start:end] is explained there (see the module's docstring); `following` is
    the next sentence, `head` the word's last compound part (an apposition may repeat it: "demodage, dage")."""
    end += _REST_OF_WORD.match(sentence[end:]).end()  # type: ignore[union-attr]
    after, before = sentence[end:], sentence[:start]
    if re.match(r"\s*[(\[]\s*\w", after) or re.search(r"\(\s*$", before):
        return True
    if re.match(r"\s*[–—]\s*\w|\s+-\s+\w", after):
        return True
    rest = re.findall(r"[\w'’-]+", after)
    low = [w.casefold() for w in rest]
    if re.match(r",?\s+(?:" + "|".join(RELATIVE) + r")\s", after, re.I) and len(rest) >= 3:
        return True  # a relative clause: "et udbud, hvor firmaer konkurrerer om …"
    if after.startswith(","):
        words = low[:5]
        if any(w in RELATIVE for w in words[1:5]) or (words[:1] and words[0] in ("altså", "dvs", "eller")):
            return True  # "demodage, dage hvor …", "frikøbt, altså …"
        noun = next((w for w in words if w not in ("en", "et", "den", "det", "de", "to", "tre")), "")
        if head and len(head) >= MIN_PART and noun.startswith(head[:max(MIN_PART, len(head) - 2)]):
            return True  # "demodage, dage med …"
    return bool(EXPLAINERS.search(sentence[start:]) or EXPLAINERS.search(following)
                or POINTING_BACK.search(following))


# -- finding rare words ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rare:
    """A rare word where it is first used: the word as written, its lemma, why it is rare, where it is."""

    word: str
    lemma: str
    zipf: float
    parts: tuple[str, ...]   # the compound's parts in the list, or ()
    weak: tuple[str, ...]    # the parts below the group's compound bar
    sentence: int            # index into the sentences searched
    start: int
    end: int


@dataclass(frozen=True)
class Judge:
    """How one reader's group judges words: the bars and the words it knows (word beginnings, casefolded)."""

    min_zipf: float = MIN_ZIPF
    compound_zipf: float = MIN_ZIPF
    known: tuple[str, ...] = ()
    lexicon: Lexicon = LEXICON

    def knows(self, word: str) -> bool:
        low = word.casefold()
        return any(low.startswith(k) for k in self.known)

    def rare(self, word: str) -> tuple[float, tuple[str, ...], tuple[str, ...]] | None:
        """(Zipf, parts, weak parts) when the word is rare for this group, else None."""
        pieces = [p for p in re.split(r"[-'’]", word) if p]
        if len(pieces) > 1:  # hyphenated: each part on its own; capitals are names and abbreviations
            for piece in pieces:
                if piece[:1].isupper() or len(piece) < MIN_LETTERS or self.knows(piece):
                    continue
                if (found := self.rare(piece)) is not None:
                    return found
            return None
        zipf = self.lexicon.frequency(word)
        if zipf >= self.min_zipf:
            return None
        parts = self.lexicon.split(word, MIN_ZIPF) or ()
        if parts:
            weak = tuple(p for i, p in enumerate(parts) if part_zipf(self.lexicon, parts, i) < self.compound_zipf)
            if not weak:
                return None
            return zipf, parts, weak
        return zipf, (), ()

    def find(self, sents: list[str], skip: Iterable[str] = (), names: frozenset[str] = frozenset(),
             prose: Iterable[int] | None = None) -> list[Rare]:
        """Each rare word (by lemma) at its first use in the prose (`prose`: indexes of prose sentences; else
        its first use anywhere), in order. `skip`: word beginnings the glossary judges; `names`: capitalised
        words written inside a sentence somewhere (names, not jargon)."""
        skipped = tuple(s.casefold() for s in skip)
        in_prose = set(prose) if prose is not None else None
        verdicts: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]] | None] = {}
        uses: dict[str, list[Rare]] = {}
        for index, sentence in enumerate(sents):
            for position, match in enumerate(_WORD.finditer(sentence)):
                word = match.group(0)
                if sum(c.isalpha() for c in word) < MIN_LETTERS or word.isupper():
                    continue
                if word[:1].isupper() and (position > 0 or word in names):
                    continue  # a name inside a sentence, or one written so elsewhere
                low = word.casefold()
                if self.knows(low) or low.startswith(skipped):
                    continue
                if low not in verdicts:
                    verdicts[low] = self.rare(word)
                verdict = verdicts[low]
                if verdict is None:
                    continue
                lemma = self.lexicon.lemma(low) if "-" not in low else low
                uses.setdefault(lemma, []).append(Rare(word, lemma, *verdict, index, match.start(), match.end()))
        found = [next((u for u in found if in_prose is None or u.sentence in in_prose), found[0])
                 for found in uses.values()]
        return sorted(found, key=lambda r: (r.sentence, r.start))

    def unexplained(self, sents: list[str], skip: Iterable[str] = (), names: frozenset[str] = frozenset(),
                    prose: Iterable[int] | None = None) -> list[Rare]:
        """The rare words not explained where they are first used (see `find` and `explained`)."""
        out = []
        for rare in self.find(sents, skip, names, prose):
            following = sents[rare.sentence + 1] if rare.sentence + 1 < len(sents) else ""
            head = rare.parts[-1] if rare.parts else ""
            if not explained(sents[rare.sentence], rare.start, rare.end, following, head):
                out.append(rare)
        return out


def names_in(sents: Iterable[str]) -> frozenset[str]:
    """Capitalised words written inside a sentence (not first): names such as Sensum, Viborg, MidtNyt."""
    out: set[str] = set()
    for sentence in sents:
        for position, match in enumerate(_WORD.finditer(sentence)):
            if position and match.group(0)[:1].isupper():
                out.add(match.group(0))
    return frozenset(out)


def known_for(known_words: Mapping[str, Iterable[str]], *keys: str) -> tuple[str, ...]:
    """The word beginnings known under `all` and under each of `keys` (group, forum, template name)."""
    return tuple(dict.fromkeys(w.casefold() for key in ("all", *keys) for w in known_words.get(key, ())))
