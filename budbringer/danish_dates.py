"""Dates and periods in Danish text: the dates a text gives ("20. november", "i januar", "i foråret 2027") and
whether a sentence speaks of them as still to come. Used by budbringer.delivery_dates, which checks them against
the day each reader gets the text. Plain Python: no Prefect, no clock (the day to read near is passed in).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

# -- Danish dates and periods ----------------------------------------------------------------------------------

@cache
def _months() -> dict[str, int]:
    """Danish month names and abbreviations (CLDR, through Babel, as render.danish_date writes them)."""
    from babel.dates import get_month_names

    names: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_month_names(width, locale="da").items():
            names[name.lower().rstrip(".")] = number
    names["sept"] = 9
    return names


@cache
def _weekdays() -> tuple[str, ...]:
    from babel.dates import get_day_names

    return tuple(name.lower() for name in get_day_names("wide", locale="da").values())


@cache
def _date_pattern() -> re.Pattern[str]:
    months = "|".join(sorted(_months(), key=len, reverse=True))
    weekdays = "|".join(_weekdays())
    return re.compile(
        rf"(?<![\w.])(?:(?:{weekdays})\s+)?(?:(?:den|d\.)\s+)?(?:"
        rf"(?P<day>\d{{1,2}})\.?\s+(?P<month_name>{months})\.?(?:\s+(?P<year>\d{{4}}))?(?![\w])"
        rf"|(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})"
        rf"|(?P<nday>\d{{1,2}})[./](?P<nmonth>\d{{1,2}})(?:(?:[./-])(?P<nyear>\d{{4}}|\d{{2}})(?!\d)|\.|(?=[^.\d]|$))"
        rf")", re.IGNORECASE)


def _nearest(month: int, day: int, near: dt.date) -> dt.date | None:
    """A day and month without a year: the year that puts it nearest to `near` (the message's date)."""
    candidates = []
    for year in (near.year - 1, near.year, near.year + 1):
        try:
            candidates.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(candidates, key=lambda d: abs((d - near).days), default=None)


@dataclass(frozen=True)
class Mention:
    """A date written in a text: where, as written, and what day it means."""

    start: int
    end: int
    written: str
    day: dt.date


def find_dates(text: str, near: dt.date) -> list[Mention]:
    """Every date written in a Danish text: "15. januar", "fredag den 15. jan. 2027", "12.1.", "12/1-2027",
    "2027-01-15". A date without a year is the one nearest to `near`. Times ("kl. 9.30") are no dates."""
    found: list[Mention] = []
    for match in _date_pattern().finditer(text):
        if re.search(r"kl\.?\s*$", text[max(0, match.start() - 4):match.start()]):
            continue
        groups = match.groupdict()
        day: dt.date | None
        try:
            if groups["iso"]:
                day = dt.date.fromisoformat(groups["iso"])
            elif groups["month_name"]:
                month = _months()[groups["month_name"].lower().rstrip(".")]
                day = (dt.date(int(groups["year"]), month, int(groups["day"])) if groups["year"]
                       else _nearest(month, int(groups["day"]), near))
            else:
                month, number = int(groups["nmonth"]), int(groups["nday"])
                if groups["nyear"]:
                    year = int(groups["nyear"])
                    day = dt.date(year + 2000 if year < 100 else year, month, number)
                elif match.group(0).endswith((".", "/")) or "/" in match.group(0):
                    day = _nearest(month, number, near)
                else:
                    day = None  # "9.30" without a closing dot: a time or a decimal, not a date
        except (ValueError, KeyError):
            day = None
        if day is not None:
            written = match.group(0).strip()
            if groups["month_name"] and not groups["year"] and len(groups["month_name"].rstrip(".")) > 3 \
                    and groups["month_name"].lower().rstrip(".") not in ("sept",) and written.endswith("."):
                written = written[:-1]  # the sentence's full stop, not part of "15. januar"
            found.append(Mention(match.start(), match.start() + len(written), written, day))
    return found


#: a season: its first month, and how many months it lasts
SEASONS = {"foråret": (3, 3), "forår": (3, 3), "sommeren": (6, 3), "sommer": (6, 3), "efteråret": (9, 3),
           "efterår": (9, 3), "vinteren": (12, 3), "vinter": (12, 3)}


def _month_end(year: int, month: int) -> dt.date:
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def period_of(words: str, near: dt.date) -> tuple[dt.date, dt.date] | None:
    """The first and last day of a period written in Danish, or None: "januar", "Januar 2027", "november
    2026", "foråret 2027", "Vinteren 2026/27", "uge 3", a date. Without a year: the one nearest to `near`."""
    text = words.strip().lower()
    if mention := next(iter(find_dates(text, near)), None):
        return mention.day, mention.day
    month_names = "|".join(name for name in _months() if len(name) > 3)
    if found := re.search(rf"\b({month_names})\b\.?(?:\s+(\d{{4}}))?", text):
        month = _months()[found.group(1)]
        year = int(found.group(2)) if found.group(2) else _nearest(month, 1, near).year  # type: ignore[union-attr]
        return dt.date(year, month, 1), _month_end(year, month)
    if found := re.search(r"\b(" + "|".join(SEASONS) + r")\b(?:\s+(\d{4})(?:\s*/\s*(\d{2,4}))?)?", text):
        first, length = SEASONS[found.group(1)]
        if found.group(2):
            year = int(found.group(2))
        else:
            year = _nearest(first, 15, near).year  # type: ignore[union-attr]
        if first == 12 and found.group(2) and not found.group(3):
            # "vinteren 2027": the winter that ends in 2027 or the one that starts in it; take the later end
            year = int(found.group(2))
        start = dt.date(year, first, 1)
        last_month = (first + length - 2) % 12 + 1
        return start, _month_end(year + (last_month < first), last_month)
    if found := re.search(r"\buge\s+(\d{1,2})(?:\s+(\d{4}))?\b", text):
        week = int(found.group(1))
        years = [int(found.group(2))] if found.group(2) else [near.year - 1, near.year, near.year + 1]
        options = []
        for year in years:
            try:
                options.append(dt.date.fromisocalendar(year, week, 1))
            except ValueError:
                continue
        if options:
            monday = min(options, key=lambda d: abs((d - near).days))
            return monday, monday + dt.timedelta(days=6)
    return None


# -- tense (a heuristic: budbringer.delivery_dates' docstring) ---------------------------------------------------------

#: a period mention these words introduce is a reference point or a deadline, not the time of the event
NOT_WHEN = {"efter", "siden", "fra", "før", "inden", "senest", "til", "indtil", "frem"}
DEADLINE_CUE = re.compile(r"\b(senest|inden|før|deadline|tilmelding\w*|\w*frist\w*)\b[^.!?\n]{0,40}$",
                          re.IGNORECASE)
FUTURE = {"skal", "vil", "kommer", "bliver", "ventes", "forventes", "forventer", "planlægger", "glæder",
          "holdes", "afholdes", "begynder", "starter", "åbner"}
PAST = {"har", "havde", "var", "blev", "blevet", "været", "fik", "holdt", "kom", "gik", "gav", "tog", "så",
        "stod", "lå", "sagde", "fandt", "nåede", "mødtes", "afholdt", "begyndte", "startede", "åbnede"}
SUBJECTS = {"vi", "i", "de", "du", "man", "jeg", "han", "hun"}
_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]+")


def _tokens(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


def _announces(sentence: str) -> bool:
    """The sentence speaks of its event as still to come: a future word, or a present-tense verb beside a
    subject pronoun ("holder vi", "vi holder"), and no past-tense word."""
    tokens = _tokens(sentence)
    if any(token in PAST or (len(token) > 5 and token.endswith("ede")) for token in tokens):
        return False
    if any(token in FUTURE for token in tokens):
        return True
    for index, token in enumerate(tokens):
        if token in SUBJECTS or (token == "i" and re.search(r"(?<![\w])I(?![\w])", sentence)):
            for neighbour in (tokens[index - 1] if index else "", tokens[index + 1] if index + 1 < len(tokens) else ""):
                if len(neighbour) > 2 and neighbour.endswith("r") and neighbour not in PAST:
                    return True
    return False


def _when_phrases(sentence: str, near: dt.date) -> Iterator[tuple[str, tuple[dt.date, dt.date]]]:
    """The periods a sentence places its event in ("i januar", "den 19. januar", "i foråret 2027"), not those
    after "efter", "siden", "inden", "senest" and the like."""
    months = "|".join(name for name in _months() if len(name) > 3)
    seasons = "|".join(SEASONS)
    phrase = re.compile(rf"\b(?P<what>(?:{months})(?:\s+\d{{4}})?|(?:{seasons})(?:\s+\d{{4}}(?:/\d{{2,4}})?)?"
                        rf"|uge\s+\d{{1,2}}(?:\s+\d{{4}})?)\b", re.IGNORECASE)
    taken: list[tuple[int, int]] = []

    def reference(start: int) -> bool:  # "efter demodagene i januar": a reference point, not the event's time
        return bool(NOT_WHEN & set(_tokens(sentence[:start])[-3:]))

    for mention in find_dates(sentence, near):
        if not reference(mention.start) and not DEADLINE_CUE.search(sentence[:mention.start]):
            yield mention.written, (mention.day, mention.day)
        taken.append((mention.start, mention.end))
    for match in phrase.finditer(sentence):
        if any(start <= match.start("what") < end for start, end in taken) or reference(match.start("what")):
            continue
        if (period := period_of(match.group("what"), near)) is not None:
            yield match.group("what"), period
