"""Danish plain language (klarsprog), measured on what the reader reads. Plain Python: no Prefect.

What is measured
  The reader's text of a variant: its headline and its prose.
  - The headline is the subject a mail, page or web news carries; a newsletter submission's headline is the
    first heading inside its `<article>`; a post (LinkedIn, Facebook, Instagram) has none: its first line
    is prose.
  - Of a newsletter submission only the `<article>` counts: the cover note is read by the editors, not by
    the newsletter's readers.
  - The prose is every paragraph, list item, table cell and quoted paragraph (each ends a sentence), less:
    headings (`<h1>`–`<h6>`; a paragraph that is all bold and does not end with a full stop; a line of at
    most three words without . ! or ?, such as "Læs mere:"), the greeting ("Kære …", "Hej …", "Til …":
    the first block, at most ten words, not ending with . or ?), the sign-off ("Med venlig hilsen" and the short lines
    after it), lines of hashtags, and web and mail addresses.
  Greetings, signatures and headings are short "sentences" that would pull LIX down without making the
  text any easier, so they neither count as sentences nor add words. The glossary and the form of address
  are checked on everything the reader sees (headline, headings and prose); a quoted text (`<blockquote>`,
  such as the text OC passes on to its specialty areas) keeps its own form of address.

Glossary (config `readability.glossary`)
  A term is found as any word that begins with one of its forms ("udbud" finds "udbuddet"; the longest
  term wins, so "udbudsmaterialet" is udbudsmateriale); a term in capitals (MED, LMU, HMU, OC) only in
  capitals. Citizens' texts must not use a term (`terms: avoid`). Employees' texts must explain a term where
  it is first used in the prose (`terms: explain`): in that sentence the term is followed by a parenthesis,
  a dash or "(, som/der) er en/et/den/det/når/at" or a definite noun ("er listen"), or that sentence or the next says "det vil sige", "dvs.",
  "betyder", "kaldes", "kalder vi", "hedder", "altså" or "forstået som", or the next begins "Det er …"/"Den
  er …". A term with `senses` ("tilbud") is flagged when its uses sit beside the cues of two meanings.

Repetition
  Inside a variant: a prose sentence of 5 or more words said twice. Across variants: a paragraph of 8 or more
  words found in two variants that one person may read (see reader_groups; list items and table cells are
  facts such as the timeline, shared as data on purpose, and do not count), and a sentence of 12 or more
  words found in more than three variants.

Form of address
  A greeting to one person ("Kære Mette Lund": names only) expects du; any other greeting ("Kære alle",
  "Kære medlemmer af HMU", "Til HMU") expects I. Without a greeting, du and I must not both be used.
  du = du/dig/din/dit/dine; I = jer/jeres, and "I" inside a sentence or before a verb ("I kan"; "I dag" is
  the preposition).

Sentences
  A sentence ends at . ! ? … and at the end of a block. A full stop does not end it after a Danish
  abbreviation (bl.a., dvs., f.eks., fx, ca., jf., pga., pr., nr., kl., evt., inkl., ift., vedr., mht. …);
  mv., osv., m.fl. and etc. end it only when a capital letter follows. A number with a full stop ("10.
  december", "17.", "20.11.") is an ordinal or a date unless a capital letter follows; "20.11.2026" and
  "5.678" are one word. A full stop followed by a small letter never ends a sentence (an abbreviation we do
  not know). A colon ends a sentence only when a capital letter follows.

LIX = words / sentences + 100 x long words / words, a long word having more than six letters (digits are
not letters). Numbers are words; a hyphenated word ("it-system") is one word.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from budbringer import catalogue, jargon
from budbringer.catalogue import N_
from budbringer.plan import STAKEHOLDER_LABELS, GlossaryTerm, Plan
from budbringer.prose import ADDRESS, CLOSERS, OPENERS
from budbringer.prose import Measure as Measure
from budbringer.prose import ReaderText as ReaderText
from budbringer.prose import lix as lix
from budbringer.prose import reader_text as reader_text
from budbringer.prose import sentences as sentences
from budbringer.prose import words as words
from budbringer.render import Variant, sharing_chain

# Words after which a group is addressed (I), even when capitalised: "Kære alle", "Til HMU".
GROUP_WORDS = {"alle", "medlemmer", "kolleger", "kollegaer", "ledere", "medarbejdere", "netværk", "redaktion",
               "redaktionen", "udvalg", "kreds", "kredsen", "styregruppe", "styregruppen", "team", "venner",
               "deltagere", "koordinatorer"}
# A sentence that begins "I kan …" addresses the readers; "I dag …" is the preposition.
I_VERBS = {"kan", "skal", "vil", "har", "er", "får", "må", "bliver", "bedes", "modtager", "finder", "ved",
           "kender", "ønsker", "deltager", "sender", "skriver", "bør", "behøver", "kommer", "hører", "giver",
           "tager", "spiller", "er", "var", "fik", "bruger", "læser"}
DU_FORMS = re.compile(r"(?<!\w)(du|dig|din|dit|dine)(?!\w)", re.I)
JER_FORMS = re.compile(r"(?<!\w)(jer|jeres)(?!\w)", re.I)
EXPLAINERS = re.compile(r"det vil sige|dvs\.|betyder|kaldes|kaldet|kalder (?:vi|man)|hedder|altså|forstået som|"
                        r"hvilket vil sige", re.I)
# A sentence right after the term that defines it by pointing back: "Det er listen over …".
POINTING_BACK = re.compile(r"^\W*(?:det|den|de)\s+(?:er|var|betyder|vil sige)\s", re.I)


# -- the glossary ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TermUse:
    term: str
    word: str      # as written
    sentence: int  # index into the sentences searched


class Glossary:
    """The plan's glossary as patterns. A term matches a word that begins with one of its forms (so "udbud"
    finds "udbuddet" and "udbudsreglerne"), the longest term first ("udbudsmateriale" before "udbud"). A term
    in capitals (MED, LMU, HMU, OC) matches only in capitals, as a whole word or before a hyphen ("OC-mødet")."""

    def __init__(self, terms: dict[str, GlossaryTerm], extra: Iterable[str] = ()) -> None:
        self.terms = dict(terms)
        for word in extra:
            self.terms.setdefault(word, GlossaryTerm(plain="sig det med almindelige ord"))
        forms: list[tuple[str, str]] = []
        for term, entry in self.terms.items():
            forms += [(form, term) for form in (entry.forms or [term])]
        forms.sort(key=lambda f: -len(f[0]))
        self._owner = {form.casefold(): term for form, term in forms if not form.isupper()}
        self._upper = {form: term for form, term in forms if form.isupper()}
        lower = [re.escape(f) for f, _ in forms if not f.isupper()]
        upper = [re.escape(f) for f, _ in forms if f.isupper()]
        self._lower_re = re.compile(rf"(?<!\w)({'|'.join(lower)})\w*", re.I) if lower else None
        self._upper_re = re.compile(rf"(?<![\w-])({'|'.join(upper)})(?![^\W\d_])") if upper else None

    def uses(self, sents: list[str]) -> list[TermUse]:
        found: list[TermUse] = []
        for index, sentence in enumerate(sents):
            text = ADDRESS.sub(" ", sentence)
            if self._lower_re is not None:
                found += [TermUse(self._owner[m.group(1).casefold()], m.group(0), index)
                          for m in self._lower_re.finditer(text)]
            if self._upper_re is not None:
                found += [TermUse(self._upper[m.group(1)], m.group(0), index) for m in self._upper_re.finditer(text)]
        return found

    def explained(self, term: str, sents: list[str], index: int) -> bool:
        """Whether the use of `term` in sentence `index` is explained there or in the sentence after it: the term
        followed by a parenthesis, a dash, "er en/et/når/at", or the sentence saying "det vil sige", "dvs.",
        "betyder", "kaldes", "altså" or "forstået som"."""
        forms = "|".join(re.escape(f) for f in (self.terms[term].forms or [term]))
        sentence = sents[index]
        flags = 0 if term.isupper() else re.I
        if re.search(rf"(?<!\w)(?:{forms})[\w'’-]*\s*(?:\(|–|—|,?\s+(?:som |der )?(?:er|var)\s+"
                     rf"(?:en|et|den|det|når|at|\w+en)\b)", " ".join(sents[index:index + 2]), flags):
            return True
        following = sents[index + 1] if index + 1 < len(sents) else ""
        if EXPLAINERS.search(sentence) or EXPLAINERS.search(following) or POINTING_BACK.search(following):
            return True
        # an apposition, a relative clause, a parenthesis or a dash (budbringer/jargon.py)
        use = re.search(rf"(?<!\w)(?:{forms})", sentence, flags)
        return use is not None and jargon.explained(sentence, use.start(), use.end(), following, term)


# -- findings and figures -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Issue:
    """A readability finding before it is a checks.Finding: `severity` is block or warn. `text` reads
    "what: fix" with no colon in the what (cascade.prepare splits it there); quoted text goes after it."""

    forum: str
    rule: str
    severity: str
    text: str
    text_da: str
    field: str = ""  # the message field that feeds the text, where known


@dataclass
class Figures:
    """The figures of one variant, as `check`, the preview and the approval request show them."""

    forum: str
    forum_title: str
    stakeholder: str
    words: int
    sentences: int
    lix: float
    max_lix: int
    long_share: float       # percent of words with more than six letters
    longest: int            # words in the longest sentence
    long_sentences: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)       # glossary terms the reader meets
    repeated: list[str] = field(default_factory=list)    # passages repeated inside it or in another variant
    address: str = ""                                     # "du", "I", "du og I" or ""
    greeting: str | None = None

    @property
    def over_ceiling(self) -> bool:
        return round(self.lix) > self.max_lix

    def row(self) -> dict[str, str]:
        """The figures as text, English column names (the operator's table)."""
        return {
            "forum": self.forum, "group": self.stakeholder, "words": str(self.words),
            "sentences": str(self.sentences), "LIX": f"{self.lix:.0f} / {self.max_lix}",
            "long words": f"{self.long_share:.0f}%", "longest": f"{self.longest}",
            "long sentences": str(len(self.long_sentences)), "address": self.address or "-",
            "glossary terms": ", ".join(self.terms) or "-",
            "repeated": str(len(self.repeated)) if self.repeated else "-",
        }

    def row_da(self) -> dict[str, str]:
        """The same figures with Danish labels, for the steering group's approval page."""
        return {
            "Målgruppe": STAKEHOLDER_LABELS.get(self.stakeholder, self.stakeholder), "Ord": str(self.words),
            "Sætninger": str(self.sentences), "LIX": f"{self.lix:.0f} (højst {self.max_lix})",
            "Lange ord": f"{self.long_share:.0f} %", "Længste sætning": f"{self.longest} ord",
            "Fagord": ", ".join(self.terms) or "ingen",
            "Gentagelser": str(len(self.repeated)) if self.repeated else "ingen",
        }


    def line_da(self) -> str:
        """The figures in one Danish line, beside the variant in the approval request mail."""
        terms = ", ".join(self.terms) or "ingen"
        line = (f"Læsbarhed: LIX {self.lix:.0f} (højst {self.max_lix}), {self.words} ord, "
                f"længste sætning {self.longest} ord. Fagord: {terms}.")
        if self.repeated:
            line += f" Gentagelser: {len(self.repeated)}."
        return line




@dataclass
class Review:
    figures: dict[str, Figures]
    issues: list[Issue]


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _norm(text: str) -> str:
    return " ".join(w.casefold() for w in words(text))


def _address(reader: ReaderText) -> tuple[str, list[str], list[str]]:
    """(expected form from the greeting or "", the du-words, the I-words) of the prose and headings."""
    expected = ""
    if reader.greeting:
        names = reader.greeting.split()[1:]
        plain = [n.strip(",").casefold() for n in names]
        person = (names and len(names) <= 3 and not set(plain) & GROUP_WORDS
                  and all(re.fullmatch(r"[A-ZÆØÅ][a-zæøåé]+(?:-[A-ZÆØÅ][a-zæøåé]+)*,?", n) for n in names))
        expected = "du" if person else "I"
    du: list[str] = []
    jer: list[str] = []
    for block in reader.of("prose", "heading"):
        if block.quoted:
            continue
        for sentence in sentences(block.text):
            du += [m.group(0) for m in DU_FORMS.finditer(sentence)]
            jer += [m.group(0) for m in JER_FORMS.finditer(sentence)]
            tokens = sentence.split()
            for index, token in enumerate(tokens):
                if token.strip(OPENERS + CLOSERS + ",.:;!?") != "I":
                    continue
                after = tokens[index + 1].strip(",.:;!?").casefold() if index + 1 < len(tokens) else ""
                if index > 0 or after in I_VERBS:
                    jer.append("I")
    return expected, du, jer


# -- the findings' words: msgids of the message catalogue (budbringer/catalogue.py), English, with Danish ------
# Each English text reads "what: fix" with no colon in the what (Issue), and quotes the passage it is about in
# “…” (checks.attribute finds the field by it).

LIX_ABOVE = N_("LIX {lix:.0f} is above {max_lix} for {group} ({words} words in {sentences} sentences, "
               "{long_share:.0f}% long words): write shorter sentences and shorter words")
LONG_SENTENCE = N_("a sentence of {count} words (at most {limit}): split it: \u201c{sentence}\u201d")
TERM_TO_AVOID = N_("uses {written} ({term}), which {group} may not know: say \u201c{plain}\u201d (in "
                   "\u201c{where}\u201d)")
TERM_UNEXPLAINED = N_("{word} ({term}) is not explained where it is first used: explain it there, e.g. "
                      "\u201c{hint}\u201d")
TWO_MEANINGS = N_("{term} is used in two meanings ({meanings}): write {plain}")
SAID_TWICE = N_("says a sentence twice: say it once: \u201c{sentence}\u201d")
GREETING_TO_A_GROUP = N_("the greeting addresses a group (I), but the text says {forms}: write I/jer/jeres "
                         "(greeting \u201c{greeting}\u201d)")
GREETING_TO_ONE = N_("the greeting addresses one person (du), but the text says {forms}: write du/dig/din "
                     "(greeting \u201c{greeting}\u201d)")
DU_AND_I = N_("addresses the reader both as du and as I ({forms}): choose one")
JARGON = N_("\u201c{word}\u201d is uncommon in everyday Danish ({reason}) and is not explained where it is first "
            "used: explain it there (\u201c{word}, hvor \u2026\u201d, \u201c{word} (\u2026)\u201d or "
            "\u201cdet vil sige \u2026\u201d), say it in everyday words, or list it under the message's "
            "`words:` (in \u201c{where}\u201d)")
JARGON_WEAK_PART = N_("built of {parts}, and {weak} is not an everyday word for {group}")
JARGON_RARE = N_("Zipf {zipf:.1f}, below {min_zipf:.1f}")
JARGON_UNLISTED = N_("not in the list of everyday Danish words")
PARAGRAPH_REPEATED = N_("a paragraph is in {count} variants one person may read ({fora}): write it for each "
                        "reader, or keep it in one: \u201c{paragraph}\u201d")
SENTENCE_WIDESPREAD = N_("a sentence is in {count} variants (at most {limit}; {fora}): say it in each reader's "
                         "words: \u201c{sentence}\u201d")


def _quoted(items: Iterable[str]) -> tuple[str, str]:
    """The words in English and in Danish quotation marks: (“a”, “b”; »a«, »b«)."""
    items = list(items)
    return ", ".join(f"\u201c{i}\u201d" for i in items), ", ".join(f"»{i}«" for i in items)


def review(plan: Plan, variants: list[Variant], month_words: Mapping[str, Any] | None = None) -> Review:
    """Measure every variant and find what breaks the plan's readability rules. `month_words`: the
    message's `words:` (message.Word: explained ones join the glossary, known ones the known words)."""
    policy = plan.readability
    issues: list[Issue] = []
    figures: dict[str, Figures] = {}
    readers = {v.forum: reader_text(v) for v in variants}
    month = dict(month_words or {})
    all_terms = {**policy.glossary, **{w: GlossaryTerm(plain=e.plain or e.explain, explain=e.explain or e.plain)
                                       for w, e in month.items() if e.explain or e.plain}}
    known_words = {key: list(listed) for key, listed in policy.known_words.items()}
    for word, entry in month.items():
        for key in entry.known:
            known_words.setdefault(key, []).append(word)
    names = jargon.names_in(s for r in readers.values() for s, _ in r.seen)
    for variant in variants:
        group = variant.stakeholder
        rules = policy.group(group)
        reader = readers[variant.forum]
        measured = reader.measured
        measure = Measure.of(measured)

        def add(rule: str, texts: tuple[str, str], forum: str = variant.forum, stakeholder: str = group) -> None:
            """A finding of `rule`, its (English, Danish) text from catalogue.pair."""
            severity = policy.severity(stakeholder, rule)
            if severity != "off":
                issues.append(Issue(forum, rule, severity, *texts))

        seen_kinds = reader.seen
        seen = [s for s, _ in seen_kinds]
        known = jargon.known_for(known_words, group, variant.forum, variant.template.split(".")[0])
        glossary = Glossary({t: e for t, e in all_terms.items() if not t.casefold().startswith(known or ("\0",))},
                            [w for w in rules.avoid if not w.casefold().startswith(known or ("\0",))])
        uses = glossary.uses(seen)
        expected, du, jer = _address(reader)
        figure = Figures(
            forum=variant.forum, forum_title=variant.forum_title, stakeholder=group, words=measure.words,
            sentences=measure.sentences, lix=measure.lix, max_lix=policy.max_lix(group),
            long_share=measure.long_share, longest=measure.longest,
            long_sentences=[s for s in measured if len(words(s)) > policy.max_sentence_words],
            terms=list(dict.fromkeys(u.term for u in uses)),
            address=" og ".join(f for f, found in (("du", du), ("I", jer)) if found), greeting=reader.greeting)
        figures[variant.forum] = figure

        if figure.over_ceiling:
            add("lix", catalogue.pair(LIX_ABOVE, lix=measure.lix, max_lix=figure.max_lix, group=group,
                                      words=measure.words, sentences=measure.sentences,
                                      long_share=measure.long_share))
        for sentence in figure.long_sentences:
            add("long_sentence", catalogue.pair(LONG_SENTENCE, count=len(words(sentence)),
                                                limit=policy.max_sentence_words, sentence=_short(sentence)))
        mode = policy.terms(group)
        if mode == "avoid":
            for term in figure.terms:
                entry = glossary.terms[term]
                written = sorted({u.word for u in uses if u.term == term})
                where = _short(seen[next(u.sentence for u in uses if u.term == term)], 50)
                add("glossary", catalogue.pair(TERM_TO_AVOID, written=", ".join(written), term=term, group=group,
                                               plain=entry.plain, where=where))
        elif mode == "explain":
            for term in figure.terms:
                first = next((u for u in uses if u.term == term and seen_kinds[u.sentence][1] == "prose"), None)
                if first is not None and not glossary.explained(term, seen, first.sentence):
                    entry = glossary.terms[term]
                    hint = entry.explain or entry.plain
                    add("glossary", catalogue.pair(TERM_UNEXPLAINED, word=first.word, term=term, hint=hint))
        for term in figure.terms:
            entry = glossary.terms[term]
            if not entry.senses:
                continue
            meanings = {sense.meaning for u in uses if u.term == term for sense in entry.senses
                        if any(re.search(rf"(?<!\w){re.escape(cue)}", seen[u.sentence], re.I) for cue in sense.cues)}
            if len(meanings) > 1:
                plain = " / ".join(f"{s.plain} ({s.meaning})" for s in entry.senses)
                add("ambiguous_term", catalogue.pair(TWO_MEANINGS, term=term, meanings=", ".join(sorted(meanings)),
                                                     plain=plain))
        if policy.severity(group, "jargon") != "off":
            _jargon(add, policy, group, known, glossary, seen_kinds, names)
        counts: dict[str, list[str]] = defaultdict(list)
        for sentence in sentences("\n\n".join(b.text for b in reader.of("prose"))):
            if len(words(sentence)) >= policy.repeated_sentence_words:
                counts[_norm(sentence)].append(sentence)
        for said in counts.values():
            if len(said) > 1:
                figure.repeated.append(said[0])
                add("repeated_sentence", catalogue.pair(SAID_TWICE, sentence=_short(said[0])))
        if expected == "I" and du:
            add("form_of_address", catalogue.pair(GREETING_TO_A_GROUP, forms=", ".join(sorted(set(du))),
                                                  greeting=reader.greeting))
        elif expected == "du" and jer:
            add("form_of_address", catalogue.pair(GREETING_TO_ONE, forms=", ".join(sorted(set(jer))),
                                                  greeting=reader.greeting))
        elif not expected and du and jer:
            add("form_of_address", catalogue.pair(DU_AND_I, forms=", ".join(sorted(set(jer)))))

    issues += _across(plan, variants, readers, figures)
    return Review(figures, issues)


def _jargon(add: Any, policy: Any, group: str, known: tuple[str, ...], glossary: Glossary,
            seen_kinds: list[tuple[str, str]], names: frozenset[str]) -> None:
    """The jargon rule (budbringer/jargon.py): rare words not explained where they are first used."""
    seen = [s for s, _ in seen_kinds]
    judge = jargon.Judge(policy.min_zipf(group), policy.compound_zipf(group), known)
    forms = [f for term, entry in glossary.terms.items() for f in (entry.forms or [term])]
    prose = [i for i, (_, kind) in enumerate(seen_kinds) if kind == "prose"]
    for rare in judge.unexplained(seen, forms, names, prose):
        where = _short(seen[rare.sentence], 60)
        if rare.weak:
            weak, weak_da = _quoted(rare.weak)
            reason = catalogue.pair(JARGON_WEAK_PART, parts=" + ".join(rare.parts), group=group,
                                    en={"weak": weak}, da={"weak": weak_da})
        elif rare.zipf:
            reason = catalogue.pair(JARGON_RARE, zipf=rare.zipf, min_zipf=judge.min_zipf)
        else:
            reason = catalogue.pair(JARGON_UNLISTED)
        add("jargon", catalogue.pair(JARGON, word=rare.word, where=where, en={"reason": reason[0]},
                                     da={"reason": reason[1]}))


def reader_groups(plan: Plan, variants: list[Variant]) -> dict[str, tuple[str, str]]:
    """Which variants one person reads together. Fora of one tier that share a template get the same text for
    different people (the three networks) or the same news in more places (the main and the local intranet
    pages): a person reads one of them. Any two other variants may reach the same person: an area chief sits
    in OC, may be in HMU, reads the intranet and MidtNyt and may follow LinkedIn."""
    # A forum that shares another's text by the plan's declaration (`shares_text_with`) sits with that forum.
    return {v.forum: (v.tier, plan.fora[sharing_chain(plan, v.forum)[-1]].template if v.forum in plan.fora
                      else v.template) for v in variants}


def _across(plan: Plan, variants: list[Variant], readers: dict[str, ReaderText],
            figures: dict[str, Figures]) -> list[Issue]:
    policy = plan.readability
    issues: list[Issue] = []
    groups = reader_groups(plan, variants)
    paragraphs: dict[str, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
    first_text: dict[str, str] = {}
    spread: dict[str, list[str]] = defaultdict(list)
    for variant in variants:
        reader = readers[variant.forum]
        for block in reader.of("prose"):
            key = _norm(block.text)
            # List items and table cells are facts (the timeline, dates), written once as data on purpose.
            if block.tag in {"li", "td", "th", "dt", "dd"}:
                continue
            if len(key.split()) >= policy.repeated_paragraph_words:
                if variant.forum not in paragraphs[key][groups[variant.forum]]:
                    paragraphs[key][groups[variant.forum]].append(variant.forum)
                first_text.setdefault(key, block.text)
        for said in sentences("\n\n".join(b.text for b in reader.of("prose"))):
            sentence = _norm(said)
            if len(sentence.split()) >= policy.widespread_sentence_words and variant.forum not in spread[sentence]:
                spread[sentence].append(variant.forum)
                first_text.setdefault(sentence, said)
    by_forum = {v.forum: v for v in variants}
    for key, where in paragraphs.items():
        if len(where) < 2:
            continue
        fora = [parallel[0] for parallel in where.values()]
        for forum in (f for parallel in where.values() for f in parallel):
            figures[forum].repeated.append(first_text[key])
        first = by_forum[fora[0]]
        severity = policy.severity(first.stakeholder, "repeated_paragraph")
        if severity != "off":
            issues.append(Issue(fora[0], "repeated_paragraph", severity, *catalogue.pair(
                PARAGRAPH_REPEATED, count=len(fora), paragraph=_short(first_text[key]),
                en={"fora": ", ".join(fora)}, da={"fora": ", ".join(by_forum[f].forum_title for f in fora)})))
    for sentence, fora in spread.items():
        if len(fora) > policy.widespread_max_variants:
            first = by_forum[fora[0]]
            severity = policy.severity(first.stakeholder, "widespread_sentence")
            if severity != "off":
                issues.append(Issue(fora[0], "widespread_sentence", severity, *catalogue.pair(
                    SENTENCE_WIDESPREAD, count=len(fora), limit=policy.widespread_max_variants, fora=", ".join(fora),
                    sentence=_short(first_text[sentence]))))
    return issues


def figures(plan: Plan, variants: list[Variant]) -> dict[str, Figures]:
    """The figures per variant (forum name -> Figures), for the approval request and the preview."""
    return review(plan, variants).figures
