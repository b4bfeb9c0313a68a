"""The plan's field types every section uses: names, addresses, the stakeholder groups and their Danish words,
the strict base model, and the validation error that load() reports in its own words."""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError


Stakeholder = Literal["citizens", "employees", "management", "others"]
Medium = Literal["mail", "page", "post", "submission", "web"]
Phase = Literal["cascade", "publish"]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
#: an Entra ID object or tenant id: a GUID (compared in lower case)
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: authorities that let any tenant (or any personal Microsoft account) sign in: never the approvers' pages'
MULTI_TENANT = ("common", "organizations", "consumers")


#: every stakeholder group's Danish words, in one table: (label, the readers' genitive). The label names the group
#: wherever it is shown (the plan document, the readability figures, the checks, the message skeleton, the
#: templates' `stakeholder_labels`); the genitive says whose words a message's text for the group is.
STAKEHOLDER_WORDS: dict[str, tuple[str, str]] = {
    "citizens": ("borgere", "borgernes"),
    "employees": ("medarbejdere", "medarbejdernes"),
    "management": ("ledelse", "ledernes"),
    "others": ("øvrige", "de øvriges"),
}
STAKEHOLDER_LABELS = {group: label for group, (label, _) in STAKEHOLDER_WORDS.items()}
STAKEHOLDER_READERS = {group: readers for group, (_, readers) in STAKEHOLDER_WORDS.items()}
assert set(STAKEHOLDER_WORDS) == set(get_args(Stakeholder)), "one entry per stakeholder group"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: a person's name as approvers and the ledger spell it: not empty, and no comma or semicolon (which separate
#: names in `--approved-by "Jens Kragh, Sofie Dahl"`)
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                              pattern=r"^[^,;\r\n]+$")]


def custom_error(what: str, fix: str) -> PydanticCustomError:
    """A validation error that load() reports with its own wording and fix."""
    return PydanticCustomError("budbringer", "{what}", {"what": what, "fix": fix})
