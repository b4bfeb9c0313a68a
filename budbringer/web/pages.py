"""The approvers' pages, rendered from Jinja2 templates in Danish: the approval page (with or without the
decision buttons: without them it is the preview), the refusals, and the index. Pure: no network, no Prefect.

Quality figures (LIX, glossary, repetition) have a slot on every variant: pass a `QualityFigures` function
that returns (label, value) pairs for a variant; the default shows none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_datetime
from markupsafe import Markup

from budbringer import comment, outline, readability
from budbringer.cascade import Prepared
from budbringer.findings import for_author
from budbringer.ledger import ApprovalRequest, RequestState, Vote, VoteDecision
from budbringer.plan import Plan
from budbringer.render import Variant, in_words, markdown_to_html

#: (label, value) pairs shown under a variant, e.g. ("LIX", "38 (middel)")
QualityFigures = Callable[[Variant], Sequence[tuple[str, str]]]

MEDIA = {"mail": "Mail", "page": "Intranetside", "post": "Opslag", "submission": "Forslag til nyhedsbrev",
         "web": "Nyhed på hjemmesiden"}
SOURCES = {"link": "via personligt link", "sign-in": "efter log-ind", "cli": "på kommandolinjen",
           "prefect-ui": "i Prefect"}
DECISIONS = {VoteDecision.APPROVE: "Godkendt", VoteDecision.REJECT: "Afvist"}
STATES = {RequestState.OPEN: "Venter på svar", RequestState.APPROVED: "Godkendt",
          RequestState.REJECTED: "Afvist", RequestState.VOID: "Erstattet af en nyere anmodning"}
#: LinkedIn takes about 3,000 characters of commentary
POST_LIMIT = 3000


def no_figures(variant: Variant) -> Sequence[tuple[str, str]]:
    return ()


def readability_figures(prepared: Prepared) -> QualityFigures:
    """Each variant's Danish readability figures (LIX, long words, glossary terms, repetition) for the quality
    slot beside it: measured over all the message's variants, so a passage repeated across them is named."""
    figures = readability.figures(prepared.plan, list(prepared.variants))

    def of(variant: Variant) -> Sequence[tuple[str, str]]:
        figure = figures.get(variant.forum)
        if figure is None:
            return ()
        rows = list(figure.row_da().items())
        return rows + [("Står også i en anden tekst", f"»{passage}«") for passage in figure.repeated]
    return of


def danish_date(value: dt.date | dt.datetime | None) -> str:
    return format_date(value, "d. MMMM y", locale="da") if value else ""


def danish_datetime(value: dt.datetime | None, zone: str = "Europe/Copenhagen") -> str:
    if value is None:
        return ""
    return format_datetime(value, "d. MMMM y 'kl.' HH.mm", tzinfo=ZoneInfo(zone), locale="da")


def thousands(number: int) -> str:
    """A number as Danish writes it: 2.000."""
    return format(number, ",").replace(",", ".")


@cache
def environment() -> jinja2.Environment:
    folder = Path(str(resources.files("budbringer.web").joinpath("templates")))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["danish_date"] = danish_date
    env.filters["thousands"] = thousands
    env.filters["in_words"] = in_words
    env.filters["markdown"] = markdown_to_html
    env.filters["nested"] = outline.nested
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


@dataclass(frozen=True)
class VariantView:
    variant: Variant
    medium: str
    html: Markup  # the content exactly as delivered: the HTML body, or the plain text escaped
    characters: int
    over_limit: bool
    figures: Sequence[tuple[str, str]]
    editor: str = ""


@dataclass(frozen=True)
class TierView:
    index: int
    title: str
    phase: str
    variants: list[VariantView]


def tiers(prepared: Prepared, quality: QualityFigures | None = None) -> list[TierView]:
    """The variants side by side by tier, in the plan's order, each with its quality figures (by default the
    readability figures)."""
    plan = prepared.plan
    quality = quality or readability_figures(prepared)
    found: dict[int, TierView] = {}
    for variant in prepared.variants:
        tier = next((t for t in plan.tiers if t.name == variant.tier), None)
        view = found.setdefault(variant.tier_index, TierView(
            variant.tier_index, tier.title if tier else variant.tier, variant.phase, []))
        forum = plan.fora.get(variant.forum)
        editor = forum.newsletter.editor if forum and forum.newsletter else ""
        content = (Markup(variant.body) if variant.body_format == "html"  # rendered and sanitised by render.py
                   else Markup('<div class="post-text">{}</div>').format(variant.body.strip()))
        view.variants.append(VariantView(variant, MEDIA.get(variant.medium, variant.medium), content,
                                         len(variant.body.strip()), len(variant.body.strip()) > POST_LIMIT,
                                         quality(variant), editor))
    return [found[index] for index in sorted(found)]


def decisions(plan: Plan, votes: Sequence[Vote]) -> tuple[list[dict[str, str]], list[str]]:
    """The decisions so far (who, what, how, when, comment) and the members who have not decided."""
    zone = plan.calendar.timezone
    rows = [{"voter": v.voter, "decision": DECISIONS.get(v.decision, v.decision),
             "source": SOURCES.get(v.source, v.source) + (f" som {v.signer.upn}" if v.signer and v.signer.upn else ""),
             "at": danish_datetime(v.at, zone), "comment": v.comment}
            for v in votes]
    decided = {v.voter.casefold() for v in votes}
    return rows, [m.name for m in plan.approval.members if m.name.casefold() not in decided]


def _titles(plan: Plan) -> dict[str, str]:
    return {name: forum.title for name, forum in plan.fora.items()}


def approval_page(prepared: Prepared, request: ApprovalRequest | None, votes: Sequence[Vote] = (),
                  member: str | None = None, token: str | None = None, notice: str = "", notice_kind: str = "info",
                  quality: QualityFigures | None = None, links: dict[str, str] | None = None,
                  sign_in_url: str = "", signed_in: str = "", reach_links: dict[str, str] | None = None) -> str:
    """The page an approver reads: with `token` it has the Godkend/Afvis buttons, without it is the preview.
    `sign_in_url` offers (or, without `token`, asks for) Entra ID sign-in; `signed_in` is the signed-in e-mail."""
    plan = prepared.plan
    rows, pending = decisions(plan, votes)
    return render("approval.html.j2", plan=plan, message=prepared.message, tiers=tiers(prepared, quality),
                  request=request, state=STATES.get(request.state, request.state) if request else "",
                  deadline=danish_datetime(request.deadline, plan.calendar.timezone) if request else "",
                  meeting=danish_date(request.meeting) if request and request.meeting else "",
                  votes=rows, pending=pending, member=member, token=token, notice=notice,
                  notice_kind=notice_kind, findings=for_author(prepared.findings, _titles(plan), "da"),
                  links=links or {},
                  title=prepared.message.title, count=len(prepared.variants),
                  approval_hash=prepared.approval_hash, sign_in_url=sign_in_url, signed_in=signed_in,
                  comment_max=comment.MAX_LENGTH, reach_links=reach_links or {})


REFUSALS = {
    "expired": ("Linket er udløbet",
                "Fristen for at svare er overskredet, så linket virker ikke længere. Der er ikke registreret "
                "noget svar fra dig."),
    "tampered": ("Linket er ikke gyldigt",
                 "Linket kan ikke bruges. Måske er det blevet ændret eller klippet over, da det blev kopieret. "
                 "Åbn linket direkte fra mailen. Der er ikke registreret noget svar."),
    "void": ("Budskabet er blevet ændret",
             "Budskabet er ændret, efter at du fik linket. Derfor gælder linket ikke længere. Du får en ny mail "
             "med et nyt link, når det rettede budskab sendes til godkendelse."),
    "other-member": ("Linket er ikke til dig",
                     "Linket er personligt og tilhører et andet medlem af styregruppen, eller navnet står ikke "
                     "længere på styregruppens medlemsliste. Brug dit eget link fra din mail. Der er ikke "
                     "registreret noget svar."),
    "used": ("Du har allerede svaret",
             "Dit svar er allerede registreret, og linket kan ikke bruges til at svare igen. Intet er ændret."),
    "closed": ("Der er allerede truffet en beslutning",
               "Budskabet er allerede godkendt eller afvist, så der kan ikke svares på anmodningen længere. "
               "Intet er ændret."),
    "sign-in-needed": ("Log ind for at svare",
                       "Styregruppen har besluttet, at man skal logge ind med sin arbejdskonto (Microsoft), før et "
                       "svar bliver registreret. Linket alene er ikke nok. Åbn linket fra din mail igen, og vælg "
                       "»Log ind med Microsoft«. Der er ikke registreret noget svar."),
    "not-member": ("Du er ikke medlem af styregruppen",
                   "Den konto, du er logget ind med, står ikke på styregruppens medlemsliste. Derfor kan du ikke "
                   "godkende eller afvise budskabet. Intet er ændret. Er du medlem, så log ind med den "
                   "mailadresse, styregruppen har registreret for dig."),
    "sign-in-failed": ("Log-ind mislykkedes",
                       "Vi kunne ikke bekræfte dit log-ind hos Microsoft. Måske tog det for lang tid, eller siden "
                       "blev åbnet to gange. Åbn linket fra din mail igen, og log ind på ny. Der er ikke "
                       "registreret noget svar."),
    "too-large": ("Forespørgslen er for stor",
                  "Det, du sendte, er større, end siden kan modtage. En bemærkning må højst være på "
                  f"{thousands(comment.MAX_LENGTH)} tegn. "
                  "Gå tilbage, gør bemærkningen kortere, og send igen. Der er ikke registreret noget svar."),
    "cross-origin": ("Svaret kom fra en anden side",
                     "Svaret blev sendt fra en anden hjemmeside end godkendelsessiden, så det er afvist for en "
                     "sikkerheds skyld. Åbn linket direkte fra din mail, og svar på siden dér. Der er ikke "
                     "registreret noget svar."),
    "unknown": ("Anmodningen findes ikke",
                "Vi kan ikke finde anmodningen om godkendelse, som linket hører til. Der er ikke registreret "
                "noget svar."),
}


def refusal_page(kind: str, contact: str = "", detail: str = "") -> str:
    heading, text = REFUSALS[kind]
    return render("refusal.html.j2", title=heading, heading=heading, text=text, contact=contact, detail=detail)
