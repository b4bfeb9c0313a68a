"""The author's page (`budbringer web`, /skriv/…): write each reader's text beside what that reader will get, and
send the message for approval from the browser. Plain Python (FastAPI); no Prefect.

An author of the plan (`authors:`) opens it from a personal signed link (`budbringer link --author NAME`,
budbringer.author_links). The pages list the messages in messages/ with their state from the ledger, write a new
one from the skeleton of `budbringer new`, and show a message as a Danish form: each field with its prompt, and
beside it every forum it feeds, rendered, and the findings it causes (budbringer.web.author_view).

The file stays the source of truth (budbringer.message_form writes values back in place). A save carries the
hash of the file the form was opened from; a file changed on disk since is not overwritten: 409, with both
versions. The page's small script (author.js, served from here, the only script CSP allows, and only on these
pages) sends the form every few seconds to be kept as a draft (budbringer.author_drafts) and shows the fields'
fora and findings anew; without it, everything works by saving.

"Send til godkendelse" starts the message's send run through the injected `StartSend` (flows/web.py: the
deployment, or `budbringer send`), only when `check` finds no error.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from urllib.parse import parse_qs
from collections.abc import Callable
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from budbringer import approval_links, author_drafts, author_links, message_form, skeleton
from budbringer.approval_links import LinkRefused
from budbringer.clock import Clock
from budbringer.errors import BudbringerError, InputError
from budbringer.ledger import Ledger, RequestState, State
from budbringer.plan import Author, Plan, SignIn
from budbringer.runtime import Runtime
from budbringer.web import author_view, pages, signin
from budbringer.web import reach as reach_web

log = logging.getLogger("budbringer")

#: starts the send run of a message file (it asks the steering group for approval) → what happened, in Danish
StartSend = Callable[[Path], str]

STATUS = {"expired": 410, "tampered": 403, "other-member": 403, "unknown": 404, "sign-in-needed": 403,
          "sign-in-failed": 400}
#: where Entra ID sends an author back after sign-in: register it as a redirect URI of the app registration,
#: beside the approvers' /auth/callback
CALLBACK_PATH = "/skriv/log-ind/svar"
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                      "script-src 'self'; connect-src 'self'; form-action 'self'; "
                                      "frame-ancestors 'none'; base-uri 'none'"}
MESSAGE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,80}$")


class MessageState(StrEnum):
    """Where a message is, as the author's page says it: from its approval request, then its deliveries."""

    DRAFT = "draft"  # no request, or its request was replaced (the message changed)
    OPEN = RequestState.OPEN.value
    APPROVED = RequestState.APPROVED.value
    REJECTED = RequestState.REJECTED.value
    DELIVERING = "delivering"  # some deliveries are not delivered yet
    DELIVERED = State.DELIVERED.value  # every delivery is


STATES = {MessageState.DRAFT: "Kladde", MessageState.OPEN: "Venter på godkendelse", MessageState.APPROVED: "Godkendt",
          MessageState.REJECTED: "Afvist", MessageState.DELIVERING: "Sendes ud", MessageState.DELIVERED: "Leveret"}
RECEIPT_STATES = {State.ATTEMPTING: "Sendes", State.DELIVERED: "Leveret", State.FAILED: "Fejlede",
                  State.UNCERTAIN: "Uvis"}
#: the states in which a message has been sent for approval (and is not to be sent again from the page)
SENT_FOR_APPROVAL = (MessageState.OPEN, MessageState.APPROVED, MessageState.DELIVERING, MessageState.DELIVERED)


def message_state(message_id: str, ledger: Ledger) -> MessageState:
    """Draft, open, approved, rejected, delivering or delivered, from the ledger."""
    records = ledger.records(message_id)
    if records:
        return (MessageState.DELIVERED if all(r.state == State.DELIVERED for r in records)
                else MessageState.DELIVERING)
    request = ledger.request(message_id)
    if request is None or request.state == RequestState.VOID:
        return MessageState.DRAFT
    return MessageState(request.state)


def router(run: Runtime, messages: str | Path, key: str, clock: Clock,
           start_send: StartSend | None = None) -> APIRouter:
    """The author's pages, on the web app's runtime (its plan, reloaded when the file changes, and its one
    ledger). `key` signs the links (the approvers' secret, another salt)."""
    routes = APIRouter()
    folder = Path(messages)
    saving = threading.Lock()  # a save compares the file's hash and replaces it as one step
    signer = author_links.AuthorSigner(key)
    reach_signer = reach_web.ReachSigner(key)

    def plan() -> Plan:
        return run.plan

    def page(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    def refused(kind: str) -> HTMLResponse:
        try:
            contact = plan().narrative.contact
        except BudbringerError:
            contact = ""
        return page(pages.refusal_page(kind, contact), STATUS[kind])

    def author_of(token: str, http: Request) -> tuple[Plan, Author]:
        """The author the link names, still in the plan; with sign-in required, signed in as that author."""
        claim = signer.claim(token, clock())
        shown = plan()
        author = shown.author(claim.author)
        if author is None or author.name != claim.author:
            raise LinkRefused("other-member")
        sign_in = shown.approval.sign_in
        if sign_in is not None and sign_in.required:
            sid = http.session.get("sid")
            found = run.ledger.web_session(sid, clock()) if isinstance(sid, str) and sid else None
            if found is None or found.account.oid != author.object_id or found.account.tid != sign_in.tenant:
                raise LinkRefused("sign-in-needed")
        return shown, author

    sign_ins: dict[SignIn, signin.EntraSignIn] = {}

    def entra(config: SignIn) -> signin.EntraSignIn:
        if config not in sign_ins:
            sign_ins[config] = signin.EntraSignIn(config)
        return sign_ins[config]

    def ask_to_sign_in(token: str) -> HTMLResponse:
        shown = plan()
        return page(pages.render("author/sign_in.html.j2", title="Log ind", token=token,
                                 contact=shown.narrative.contact), STATUS["sign-in-needed"])

    def linked_author(token: str) -> tuple[Plan, Author, SignIn] | HTMLResponse:
        """The author the link names (still in the plan, by that name) and the plan's sign-in, for starting and
        finishing a sign-in; or the page that refuses them."""
        shown = plan()
        try:
            claim = signer.claim(token, clock())
        except LinkRefused as exc:
            return refused(exc.kind)
        author, config = shown.author(claim.author), shown.approval.sign_in
        if author is None or author.name != claim.author:
            return refused("other-member")
        if config is None:
            return refused("unknown")
        return shown, author, config

    @routes.get(CALLBACK_PATH)
    def signed_in_callback(http: Request) -> Response:
        """Entra ID sends the author back here: the ID token verified, the account must be the author the link
        names (object id and tenant); then a sign-in session in the ledger, as for the approvers."""
        flow, token = http.session.pop("entra_author_flow", None), http.session.pop("entra_author_link", None)
        if not isinstance(flow, dict) or not isinstance(token, str):
            return refused("sign-in-failed")
        linked = linked_author(token)
        if isinstance(linked, HTMLResponse):
            return linked
        _, author, config = linked
        try:
            account = entra(config).finish(flow, dict(http.query_params))
        except signin.SignInFailed as exc:
            log.warning("Entra ID sign-in of an author failed: %s", exc)
            return refused("sign-in-failed")
        if account.oid != author.object_id or account.tid != config.tenant:
            log.warning("sign-in by %s (object id %s) refused: the author's link is %s's", account.upn, account.oid,
                        author.name)
            return refused("other-member")
        if isinstance(earlier := http.session.get("sid"), str):
            run.ledger.end_session(earlier)
        session_token = secrets.token_urlsafe(32)
        run.ledger.open_session(session_token, author.name, account, signin.IDENTITY_SECONDS, clock())
        http.session["sid"] = session_token
        log.info("%s signed in with Entra ID (object id %s) on the author's page", author.name, account.oid)
        return RedirectResponse(f"/skriv/{token}", status_code=303, headers=HEADERS)

    @routes.get("/skriv/{token}/log-ind")
    def sign_in(token: str, http: Request) -> Response:
        """Start Entra ID sign-in for the author the link names."""
        linked = linked_author(token)
        if isinstance(linked, HTMLResponse):
            return linked
        shown, author, config = linked
        try:
            flow = entra(config).start(approval_links.base_url(shown) + CALLBACK_PATH, login_hint=author.email)
        except signin.SignInFailed as exc:
            log.warning("Entra ID sign-in could not start: %s", exc)
            return refused("sign-in-failed")
        http.session["entra_author_flow"] = {k: v for k, v in flow.items() if k != "auth_uri"}
        http.session["entra_author_link"] = token
        return RedirectResponse(flow["auth_uri"], status_code=303, headers=HEADERS)

    def file_of(message_id: str) -> Path | None:
        path = folder / f"{message_id}.md"
        return path if MESSAGE_ID.fullmatch(message_id) and path.is_file() else None

    def signed_in(token: str, http: Request) -> tuple[Plan, Author] | HTMLResponse:
        """The author the link names (`author_of`), or the page that refuses them."""
        try:
            return author_of(token, http)
        except LinkRefused as exc:
            return ask_to_sign_in(token) if exc.kind == "sign-in-needed" else refused(exc.kind)

    def opened(token: str, message_id: str, http: Request) -> tuple[Plan, Author, Path] | HTMLResponse:
        """The author the link names and the message's file, or the page that refuses them."""
        who = signed_in(token, http)
        if isinstance(who, HTMLResponse):
            return who
        path = file_of(message_id)
        return refused("unknown") if path is None else (*who, path)

    @routes.get("/skriv/author.js")
    def script() -> Response:
        code = resources.files("budbringer.web").joinpath("templates/author/author.js").read_text(encoding="utf-8")
        return Response(code, media_type="text/javascript", headers={**HEADERS, "Cache-Control": "no-cache"})

    @routes.get("/skriv", response_class=HTMLResponse)
    def way_in() -> HTMLResponse:
        """Where a mail points an author who has no personal link in it: how to get one."""
        try:
            contact = plan().narrative.contact
        except BudbringerError:
            contact = ""
        return page(pages.render("author/way_in.html.j2", title="Skriv et budskab", contact=contact))

    @routes.get("/skriv/{token}", response_class=HTMLResponse)
    def listing(token: str, http: Request, notice: str = "") -> HTMLResponse:
        who = signed_in(token, http)
        if isinstance(who, HTMLResponse):
            return who
        shown, author = who
        ledger = run.ledger
        rows = [{"id": p.stem, "state": STATES[message_state(p.stem, ledger)],
                 "draft": author_drafts.load(p.stem) is not None} for p in sorted(folder.glob("*.md"), reverse=True)
                if MESSAGE_ID.fullmatch(p.stem)]
        return page(pages.render("author/list.html.j2", title="Budskaberne", plan=shown, author=author, rows=rows,
                                 token=token, notice=notice))

    @routes.post("/skriv/{token}/nyt")
    def new(token: str, http: Request) -> Response:
        who = signed_in(token, http)
        if isinstance(who, HTMLResponse):
            return who
        shown, _ = who
        try:
            path, _, _ = skeleton.write(shown, folder, clock())
        except InputError as exc:
            first = exc.problems[0] if exc.problems else None
            exists = first is not None and first.field == "(file)" and Path(first.file).is_file()
            text = (f"Budskabet {Path(first.file).stem} findes allerede; åbn det fra listen. Der overskrives "
                    "aldrig en fil." if exists and first else
                    "Der kunne ikke skrives et nyt budskab: " + "; ".join(f"{p.what} ({p.fix})" for p in exc.problems))
            return listing(token, http, notice=text)
        return RedirectResponse(f"/skriv/{token}/budskab/{path.stem}?ny=1", status_code=303, headers=HEADERS)

    def message_page(token: str, shown: Plan, author: Author, message_id: str, text: str, base: str,
                     values: dict[str, str] | None = None, notice: str = "", tone: str = "info",
                     status: int = 200, theirs: str = "", mine: str = "") -> HTMLResponse:
        try:
            message_form.fields(text)
        except (ValueError, yaml.YAMLError) as exc:
            return unreadable(token, shown, author, message_id, text, exc)
        written = message_form.apply(text, values) if values is not None else text
        analysis = author_view.analyse(shown, written, f"{message_id}.md", clock)
        draft = author_drafts.load(message_id)
        offer = draft is not None and values is None and draft.values != message_form.values(text)
        return page(pages.render(
            "author/message.html.j2", title=message_id, plan=shown, author=author, token=token,
            message_id=message_id, analysis=analysis, base=base, notice=notice, tone=tone, draft=draft if offer
            else None, sections=_sections(shown, analysis), label=author_view.label, status_view=_status(
                shown, run.ledger, message_id), theirs=theirs, mine=mine,
            saved_at=pages.danish_datetime(draft.saved_at, shown.calendar.timezone) if offer and draft else "",
            reach_links=reach_web.links(reach_signer, run.ledger, message_id)),
            status)

    def unreadable(token: str, shown: Plan, author: Author, message_id: str, text: str,
                   error: Exception) -> HTMLResponse:
        """A file edited by hand into something that is no front matter: said, and shown; never overwritten."""
        where = getattr(error, "problem_mark", None)
        line = f" (linje {where.line + 2})" if where is not None else ""
        return page(pages.render("author/unreadable.html.j2", title=message_id, token=token, message_id=message_id,
                                 text=text, line=line, contact=shown.narrative.contact), 422)

    @routes.get("/skriv/{token}/budskab/{message_id}", response_class=HTMLResponse)
    def edit(token: str, message_id: str, http: Request, kladde: int = 0, gemt: int = 0, ny: int = 0,
             sendt: str = "") -> HTMLResponse:
        got = opened(token, message_id, http)
        if isinstance(got, HTMLResponse):
            return got
        shown, author, path = got
        text = path.read_text(encoding="utf-8")
        base = message_form.digest(text)
        draft = author_drafts.load(message_id) if kladde else None
        others = ", ".join(p.stem for p in skeleton.same_month(path)) if ny else ""
        notice = ("Budskabet er gemt." if gemt else "Et nyt budskab er skrevet ud fra kalenderen. Udfyld felterne."
                  + (f" Bemærk: {others} er til samme måned, og den månedlige kørsel tager kun én fil pr. måned. "
                     "Bed driftsansvarlig flytte den ene." if others else "") if ny else sendt)
        if draft is not None:
            return message_page(token, shown, author, message_id, text, base, draft.values,
                                "Du ser kladden. Gem, når du er klar.", "info")
        return message_page(token, shown, author, message_id, text, base, notice=notice,
                            tone="ok" if notice else "info")

    def form_values(form: dict[str, str], text: str) -> dict[str, str]:
        try:
            known = {f.path for f in message_form.fields(text)}
        except (ValueError, yaml.YAMLError):
            return {}  # the file cannot be read as a form: nothing is written into it
        return {k: v for k, v in form.items() if k in known}

    @routes.post("/skriv/{token}/budskab/{message_id}", response_class=HTMLResponse)
    async def save(token: str, message_id: str, http: Request) -> Response:
        form = await posted(http)
        got = opened(token, message_id, http)
        if isinstance(got, HTMLResponse):
            return got
        shown, author, path = got
        return await run_in_threadpool(save_locked, token, shown, author, message_id, path, form)

    def save_locked(token: str, shown: Plan, author: Author, message_id: str, path: Path,
                    form: dict[str, str]) -> Response:
        with saving:
            return save_file(token, shown, author, message_id, path, form)

    def save_file(token: str, shown: Plan, author: Author, message_id: str, path: Path,
                  form: dict[str, str]) -> Response:
        text = path.read_text(encoding="utf-8")
        try:
            message_form.fields(text)
        except (ValueError, yaml.YAMLError) as exc:
            return unreadable(token, shown, author, message_id, text, exc)
        values = form_values(form, text)
        if str(form.get("base", "")) != message_form.digest(text):
            author_drafts.save(message_id, str(form.get("base", "")), values, author.name, clock())
            return message_page(
                token, shown, author, message_id, text, message_form.digest(text), values,
                "Filen er ændret, siden du åbnede den, så den er ikke overskrevet. Nedenfor ses begge udgaver: "
                "filen, som den er nu, og dine ændringer (de er gemt som kladde). Tag det, du vil beholde, med "
                "i felterne, og gem igen.", "no", 409, theirs=text, mine=message_form.apply(text, values))
        written = message_form.apply(text, values)
        if written != text:
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(written, encoding="utf-8")
            temporary.replace(path)
            log.info("%s saved %s on the author's page", author.name, path)
        author_drafts.discard(message_id)
        return RedirectResponse(f"/skriv/{token}/budskab/{message_id}?gemt=1", status_code=303, headers=HEADERS)

    @routes.post("/skriv/{token}/budskab/{message_id}/kladde")
    async def autosave(token: str, message_id: str, http: Request) -> Response:
        form = await posted(http)
        return await run_in_threadpool(keep_draft, token, message_id, http, form)

    def keep_draft(token: str, message_id: str, http: Request, form: dict[str, str]) -> Response:
        """The draft first (on disk before anything else), then the fields' fora and findings anew, as JSON."""
        got = opened(token, message_id, http)
        if isinstance(got, HTMLResponse):
            return got
        shown, author, path = got
        text = path.read_text(encoding="utf-8")
        try:
            message_form.fields(text)
        except (ValueError, yaml.YAMLError):
            return Response(json.dumps({"saved": "Filen kan ikke læses som formular"}), status_code=422,
                            media_type="application/json", headers=HEADERS)
        values = form_values(form, text)
        draft = author_drafts.save(message_id, str(form.get("base", "")), values, author.name, clock())
        analysis = author_view.analyse(shown, message_form.apply(text, values), path.name, clock)
        env = pages.environment()
        beside: Any = env.get_template("author/_beside.html.j2").module  # the template's macros
        body = {"saved": f"Kladde gemt {pages.danish_datetime(draft.saved_at, shown.calendar.timezone)}",
                "beside": {f.path: str(beside.beside(analysis, f.path)) for f in analysis.fields},
                "general": str(beside.general(analysis)),
                "can_send": analysis.can_send, "stale": str(form.get("base", "")) != message_form.digest(text)}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json", headers=HEADERS)

    @routes.post("/skriv/{token}/budskab/{message_id}/kassér-kladde")
    def discard(token: str, message_id: str, http: Request) -> Response:
        got = opened(token, message_id, http)
        if isinstance(got, HTMLResponse):
            return got
        author_drafts.discard(message_id)
        return RedirectResponse(f"/skriv/{token}/budskab/{message_id}", status_code=303, headers=HEADERS)

    @routes.post("/skriv/{token}/budskab/{message_id}/send")
    def send(token: str, message_id: str, http: Request) -> Response:
        got = opened(token, message_id, http)
        if isinstance(got, HTMLResponse):
            return got
        shown, author, path = got
        text = path.read_text(encoding="utf-8")
        analysis = author_view.analyse(shown, text, path.name, clock)
        if not analysis.can_send:
            return message_page(token, shown, author, message_id, text, message_form.digest(text),
                                notice="Budskabet kan ikke sendes til godkendelse endnu: ret først fejlene ved "
                                       "felterne.", tone="no", status=409)
        state = message_state(message_id, run.ledger)
        if state in SENT_FOR_APPROVAL:
            what = f"Budskabet er allerede sendt til godkendelse ({STATES[state].lower()})."
            return message_page(token, shown, author, message_id, text, message_form.digest(text), notice=what,
                                status=409)
        if start_send is None:
            what = ("Siden kan ikke selv starte udsendelsen her. Bed driftsansvarlig køre "
                    f"»budbringer send {path}«.")
        else:
            try:
                what = start_send(path)
            except Exception as exc:  # noqa: BLE001 - the author is told; the operator finds it in the log
                log.warning("could not start the send run of %s: %s", path, exc)
                what = "Udsendelsen kunne ikke startes. Kontakt driftsansvarlig."
        log.info("%s sent %s for approval from the author's page: %s", author.name, message_id, what)
        return RedirectResponse(f"/skriv/{token}/budskab/{message_id}?sendt={_quote(what)}", status_code=303,
                                headers=HEADERS)

    return routes


async def posted(http: Request) -> dict[str, str]:
    """The form's fields (urlencoded, as the page and its script post them; the last of a repeated name)."""
    body = (await http.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _sections(plan: Plan, analysis: author_view.Analysis) -> list[dict[str, Any]]:
    """The form's fields by section (facts, groups, forum texts, notes), each group or text under a heading."""
    out: dict[str, dict[str, Any]] = {}
    for field in analysis.fields:
        kind, key = author_view.section(field.path)
        part = out.setdefault(kind, {"kind": kind, "title": author_view.SECTIONS[kind], "groups": {}})
        group = part["groups"].setdefault(key, {"key": key, "title": author_view.group_heading(plan, kind, key)
                                                if key else "", "fields": []})
        group["fields"].append(field)
    order = ["facts", "groups", "forum_texts", "body"]
    return [{**out[k], "groups": list(out[k]["groups"].values())} for k in order if k in out]


def _status(plan: Plan, ledger: Ledger, message_id: str) -> dict[str, Any]:
    """The approval request's state, each member's decision, and each forum's receipt."""
    request = ledger.request(message_id)
    votes, missing = pages.decisions(plan, ledger.votes(request.id)) if request else ([], [])
    receipts = [{"forum": plan.fora[r.forum].title if r.forum in plan.fora else r.forum,
                 "state": RECEIPT_STATES.get(r.state, str(r.state)),
                 "url": r.receipt.url if r.receipt else "", "provider_id": r.receipt.provider_id if r.receipt else ""}
                for r in ledger.records(message_id)]
    return {"state": STATES[message_state(message_id, ledger)],
            "request": pages.STATES.get(request.state, request.state) if request else "",
            "deadline": pages.danish_datetime(request.deadline, plan.calendar.timezone) if request else "",
            "votes": votes, "missing": missing, "receipts": receipts}
