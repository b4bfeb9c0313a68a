"""`budbringer web`: the steering group's approval pages (FastAPI). No Prefect here.

A member opens the personal link from the request mail, reads every variant as it will appear, and approves
or rejects (with a comment). The decision goes through the same code as `budbringer approve`
(`approval_request.decide`), recorded with how it was given ("link"); then the injected `resume` callable
hands it to the run that waits for it. `budbringer.flows.web` provides that callable (Prefect lives in
flows/); without it a waiting run reads the decision from the ledger when it next checks.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from budbringer import approval_request, cascade
from budbringer import plan as plan_
from budbringer.approval_request import Decision
from budbringer.errors import BudbringerError
from budbringer.ledger import ApprovalRequest, Ledger
from budbringer.web import pages
from budbringer.approval_links import Claim, LinkRefused, LinkSigner

log = logging.getLogger("budbringer")

#: hands a recorded decision to the run waiting for it (flow run id, decision) → what happened
Resume = Callable[[str, Decision], str]

STATUS = {"expired": 410, "void": 410, "tampered": 403, "other-member": 403, "used": 409, "closed": 409,
          "unknown": 404}
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}


def create_app(plan_path: str | Path | None = None, messages: str | Path = "messages", resume: Resume | None = None,
               quality: pages.QualityFigures | None = None, signer: LinkSigner | None = None) -> FastAPI:
    app = FastAPI(title="Budbringer", docs_url=None, redoc_url=None, openapi_url=None)
    folder = Path(messages)

    def plan() -> plan_.Plan:
        return plan_.load(plan_path)

    def page(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    def refused(kind: str, contact: str = "") -> HTMLResponse:
        return page(pages.refusal_page(kind, contact), STATUS[kind])

    def locate(claim: Claim) -> tuple[cascade.Prepared, ApprovalRequest]:
        """The request the link was made for and the message as it is now; LinkRefused when they differ."""
        ledger = Ledger()
        request = ledger.request(claim.message_id, claim.approval_hash)
        if request is None or request.id != claim.request_id:
            raise LinkRefused("unknown")
        path = folder / f"{claim.message_id}.md"
        if request.state == "void" or not path.is_file():
            raise LinkRefused("void")
        prepared = cascade.prepare(plan_path, path)
        if prepared.approval_hash != claim.approval_hash:
            raise LinkRefused("void")  # the message (or a template) changed since the link was made
        if claim.member and prepared.plan.approval.member(claim.member) is None:
            raise LinkRefused("other-member")
        return prepared, request

    def check(token: str) -> tuple[Claim, cascade.Prepared, ApprovalRequest]:
        claim = (signer or LinkSigner()).claim(token)
        if not claim.member:
            raise LinkRefused("tampered")
        prepared, request = locate(claim)
        return claim, prepared, request

    @app.get("/vis/{token}", response_class=HTMLResponse)
    def preview(token: str) -> HTMLResponse:
        """The page without buttons, from the signed read-only link in the Prefect form's description."""
        try:
            claim = LinkSigner.for_preview(signer.key if signer else None).claim(token)
            prepared, request = locate(claim)
        except LinkRefused as exc:
            return refused(exc.kind, plan().narrative.contact)
        return page(pages.approval_page(prepared, request, Ledger().votes(request.id), quality=quality))

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page(pages.render("index.html.j2", title="Godkendelse", plan=plan()))

    @app.get("/sundhed", response_class=PlainTextResponse)
    def health() -> str:
        return "ok"

    @app.get("/plan", response_class=HTMLResponse)
    def plan_page() -> HTMLResponse:
        from budbringer.web.plan_document import html_document

        return page(html_document(plan()))

    @app.get("/godkend/{token}", response_class=HTMLResponse)
    def approval(token: str) -> HTMLResponse:
        try:
            claim, prepared, request = check(token)
        except LinkRefused as exc:
            return refused(exc.kind, plan().narrative.contact)
        ledger = Ledger()
        votes = ledger.votes(request.id)
        mine = next((v for v in votes if v.voter.casefold() == claim.member.casefold()), None)
        member = prepared.plan.approval.member(claim.member).name  # type: ignore[union-attr]
        if mine is not None:
            notice = (f"Du har allerede {pages.DECISIONS[mine.decision].lower()} budskabet "
                      f"({pages.danish_datetime(mine.at, prepared.plan.calendar.timezone)}). "
                      "Dit svar kan ikke ændres via linket.")
            return page(pages.approval_page(prepared, request, votes, member, None, notice, "info", quality))
        if request.state != "open":
            notice = f"Der er allerede truffet en beslutning: {pages.STATES.get(request.state, request.state)}."
            return page(pages.approval_page(prepared, request, votes, member, None, notice, "info", quality))
        return page(pages.approval_page(prepared, request, votes, member, token, quality=quality))

    @app.post("/godkend/{token}", response_class=HTMLResponse)
    async def decide(token: str, http: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await http.body()).decode("utf-8", "replace")).items()}
        return await run_in_threadpool(_decide, token, form)

    def _decide(token: str, form: dict[str, str]) -> HTMLResponse:
        contact = plan().narrative.contact
        try:
            claim, prepared, request = check(token)
        except LinkRefused as exc:
            return refused(exc.kind, contact)
        policy = prepared.plan.approval
        member = policy.member(claim.member)
        named = policy.member(form.get("medlem", claim.member))
        if member is None or named is None or named.name != member.name:
            return refused("other-member", contact)
        ledger = Ledger()
        if any(v.voter.casefold() == member.name.casefold() for v in ledger.votes(request.id)):
            return refused("used", contact)
        if request.state != "open":
            return refused("closed", contact)
        choice = form.get("beslutning", "")
        comment = form.get("bemaerkning", "").strip()
        if choice not in ("godkend", "afvis"):
            return page(pages.approval_page(prepared, request, ledger.votes(request.id), member.name, token,
                                             "Vælg Godkend eller Afvis.", "no", quality), 400)
        if choice == "afvis" and not comment:
            return page(pages.approval_page(
                prepared, request, ledger.votes(request.id), member.name, token,
                "Skriv en bemærkning, når du afviser: afsenderen skal vide, hvad der skal ændres.", "no",
                quality), 400)
        decision = Decision(approval_request.APPROVE if choice == "godkend" else approval_request.REJECT,
                            member.name, comment)
        try:
            status = approval_request.decide(prepared, ledger, request, decision, source="link")
        except BudbringerError as exc:
            log.warning("decision by link refused: %s", exc)
            return refused("closed", contact)
        log.info("%s: %s decided %s by personal link", request.message_id, member.name, decision.decision)
        if request.flow_run_id and resume is not None:
            # In the background: the approver gets the answer now; the run may take a moment to be paused.
            threading.Thread(target=contextvars.copy_context().run, name="budbringer-resume", daemon=True,
                             args=(_resume, resume, request.flow_run_id, decision)).start()
        if status.approval is not None:
            notice = f"Tak, {member.name}. Budskabet er nu godkendt, og udsendelsen går i gang."
        elif status.rejected:
            notice = f"Tak, {member.name}. Budskabet er afvist. Afsenderen får din bemærkning, og intet bliver sendt."
        else:
            notice = f"Tak, {member.name}. Din godkendelse er registreret. Der mangler stadig svar fra flere medlemmer."
        fresh = ledger.request(request.message_id, request.approval_hash) or request
        return page(pages.approval_page(prepared, fresh, ledger.votes(request.id), member.name, None, notice,
                                         "ok", quality))

    return app


def _resume(resume: Resume, flow_run_id: str, decision: Decision) -> None:
    try:
        log.info("%s", resume(flow_run_id, decision))
    except Exception as exc:  # noqa: BLE001 - the decision is recorded; the run reads it when it next checks
        log.warning("could not resume flow run %s: %s", flow_run_id, exc)
