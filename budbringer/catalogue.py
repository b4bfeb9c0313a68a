"""The words the author reads in findings: gettext message catalogues, in Danish by default.

The catalogue is `budbringer/locale/<lang>/LC_MESSAGES/budbringer.po`, read with Babel's pofile reader at run
time, so an editable install, a wheel and a checkout all read the same file and no compile step is needed.
The msgid is the English text (the `--lang en` text); placeholders are `{name}` (str.format). A list value is
joined in the language's own way ("a, b og c"; Babel's CLDR lists). A msgid without a translation, or with a
fuzzy one, reads in English.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Any

DOMAIN = "budbringer"
LANGUAGES = ("da", "en")
DEFAULT = "da"


def catalogue_path(lang: str) -> Any:
    return resources.files("budbringer").joinpath("locale", lang, "LC_MESSAGES", f"{DOMAIN}.po")


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of `lang` (English, the msgids' language, needs none)."""
    if lang == "en":
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with catalogue_path(lang).open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def language(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The author's language: `--lang`, else the locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, as gettext reads
    them) when it is English or Danish, else Danish."""
    if explicit:
        return explicit if explicit in LANGUAGES else DEFAULT
    if environ is None:
        from budbringer import settings

        environ = settings.current().environ
    env = environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if not value:
            continue
        code = value.split(":")[0].split("_")[0].split(".")[0].lower()
        return code if code in LANGUAGES else DEFAULT
    return DEFAULT


def join(items: list[str] | tuple[str, ...], lang: str) -> str:
    """"a, b og c" / "a, b and c"."""
    from babel.lists import format_list

    return format_list(list(items), locale=lang) if items else ""


def say(msgid: str, lang: str, **values: Any) -> str:
    """The msgid in `lang`, its placeholders filled (lists joined in that language)."""
    filled = {k: join(v, lang) if isinstance(v, (list, tuple)) else v for k, v in values.items()}
    return translations(lang).gettext(msgid).format(**filled)


def N_(msgid: str) -> str:  # noqa: N802 (gettext's name for it)
    """Marks a msgid kept for later (`say` with values that differ per language): extracted like `say`'s."""
    return msgid


def pair(msgid: str, *, en: Mapping[str, Any] | None = None, da: Mapping[str, Any] | None = None,
         **values: Any) -> tuple[str, str]:
    """(English, Danish): a checks.Finding's `text` and `text_da`. `en` and `da`: the values that differ by
    language (a reason said in that language, words in that language's quotation marks)."""
    return say(msgid, "en", **values, **(en or {})), say(msgid, "da", **values, **(da or {}))
