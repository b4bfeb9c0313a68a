"""`budbringer web`: the steering group's approval pages (FastAPI). No Prefect here.

A member opens the personal link from the request mail, reads every variant as it will appear, and approves
or rejects (with a comment). The decision goes through the same code as `budbringer approve`
(`approval_request.decide`), recorded with how it was given ("link"); then the injected `resume` callable
hands it to the run that waits for it. `budbringer.flows.web` provides that callable (Prefect lives in
flows/); without it a waiting run reads the decision from the ledger when it next checks.

With `approval.sign_in` in the plan the page also asks for Microsoft Entra ID sign-in (budbringer.web.signin):
the ID token is verified (signature, audience, issuer and tenant, expiry), the member is matched by the
object id in the plan, must be the member the link names, and the decision is recorded as given by
"sign-in" with the account that signed in (object id, tenant id, UPN). With `required: true` (the default) a
link alone records nothing. The msal flow lives in a session cookie signed with a key derived from the web
secret; a sign-in is a session in the ledger (`Ledger.open_session`), named in the cookie by a random token,
and signing out ends it there, so a copied cookie is refused afterwards.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from budbringer import approval_links, approval_request, cascade
from budbringer import comment as comment_
from budbringer import plan as plan_
from budbringer.approval_request import AlreadyDecided, Decision
from budbringer.errors import BudbringerError
from budbringer import settings as settings_
from budbringer.channel import installed
from budbringer.ledger import ApprovalRequest, RequestState, WebSession
from budbringer.plan import Member, SignIn
from budbringer.clock import Clock, default_clock
from budbringer.runtime import Runtime
from budbringer.web import author, guard, pages, signin
from budbringer.web import reach as reach_web
from budbringer.approval_links import Claim, LinkRefused, LinkSigner

log = logging.getLogger("budbringer")

#: hands a recorded decision to the run waiting for it (flow run id, decision) → what happened
Resume = Callable[[str, Decision], str]

STATUS = {"expired": 410, "void": 410, "tampered": 403, "other-member": 403, "used": 409, "closed": 409,
          "unknown": 404, "sign-in-needed": 403, "not-member": 403, "sign-in-failed": 400, "too-large": 413,
          "cross-origin": 403}
SESSION_COOKIE = "budbringer_session"
#: the session cookie's key is derived from the web secret, so it never equals the links' key
SESSION_SALT = b"budbringer.session.v1"
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}


def create_app(plan_path: str | Path | None = None, messages: str | Path = "messages", resume: Resume | None = None,
               quality: pages.QualityFigures | None = None, signer: LinkSigner | None = None,
               secret: str | None = None, clock: Clock | None = None, runtime: Runtime | None = None,
               start_send: author.StartSend | None = None) -> FastAPI:
    """The pages. `secret` signs the links and (derived) the session cookie: the caller resolves it (flows/web:
    $BUDBRINGER_WEB_SECRET, a Prefect Secret block); None means `approval_links.secret()`. `runtime`: the entry
    point's (`budbringer web`, `serve`), else one built here for `plan_path`: its settings, its plan (reloaded
    when the file changes), its one ledger, its clock (`clock` overrides it: a link's expiry and a decision's
    deadline are judged by it). Routers added to the app find it as `app.state.runtime`."""
    app = FastAPI(title="Budbringer", docs_url=None, redoc_url=None, openapi_url=None)
    if runtime is None:
        runtime = Runtime(settings_.Settings.read(plan_path), installed(), clock or default_clock, follow_plan=True)
    else:
        runtime.follow_plan = True  # the pages run for weeks: an edited plan is shown as it is
    run = runtime
    clock = clock or run.clock
    app.state.runtime = run
    folder = Path(messages)
    key = secret or (signer.key if signer is not None and signer.key else None) or approval_links.secret(run.settings)
    signer = signer or LinkSigner(key)
    preview_signer = LinkSigner.for_preview(key)
    app.add_middleware(SessionMiddleware, secret_key=hmac.new(key.encode(), SESSION_SALT, hashlib.sha256).hexdigest(),
                       session_cookie=SESSION_COOKIE, max_age=signin.IDENTITY_SECONDS, same_site="lax",
                       https_only=approval_links.base_url(run.plan, run.settings).startswith("https://"))
    app.include_router(author.router(run, folder, key, clock, start_send))  # the author's page, /skriv/
    app.include_router(reach_web.router(run, key, clock))  # the reach page, /raekkevidde/
    reach_signer = reach_web.ReachSigner(key)
    del key

    def refuse_request(kind: str) -> Response:
        """The guards' refusals (budbringer.web.guard), before any route runs; the connection is closed."""
        try:
            contact = plan().narrative.contact
        except BudbringerError:
            contact = ""
        response = refused(kind, contact)
        response.headers["Connection"] = "close"
        return response

    # Outermost: a request from another site, or with too large a body, is refused before anything reads it.
    app.add_middleware(guard.BodyLimit, refuse=refuse_request)
    app.add_middleware(guard.SameOrigin, refuse=refuse_request,
                       origins=lambda: {guard.origin_of(approval_links.base_url(plan(), run.settings))})
    sign_ins: dict[SignIn, signin.EntraSignIn] = {}

    def entra(config: SignIn) -> signin.EntraSignIn:
        if config not in sign_ins:
            sign_ins[config] = signin.EntraSignIn(config)
        return sign_ins[config]

    def signed_in(session: dict[str, object], policy: plan_.ApprovalPolicy) -> tuple[WebSession | None, Member | None]:
        """The sign-in this cookie names, while the ledger says it counts (not signed out, not expired), and
        the member whose object id it is, in the configured tenant (by the plan as it is now)."""
        token = session.get("sid")
        found = run.ledger.web_session(token, clock()) if isinstance(token, str) and token else None
        if found is None or policy.sign_in is None:
            return None, None
        member = signin.member_of(policy.members, found.account)
        if member is None or member.name != found.member or found.account.tid != policy.sign_in.tenant:
            return found, None
        return found, member

    def plan() -> plan_.Plan:
        return run.plan

    def page(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    def refused(kind: str, contact: str = "", detail: str = "") -> HTMLResponse:
        return page(pages.refusal_page(kind, contact, detail), STATUS[kind])

    def locate(claim: Claim) -> tuple[cascade.Prepared, ApprovalRequest]:
        """The request the link was made for and the message as it is now; LinkRefused when they differ."""
        ledger = run.ledger
        request = ledger.request(claim.message_id, claim.approval_hash)
        if request is None or request.id != claim.request_id:
            raise LinkRefused("unknown")
        path = folder / f"{claim.message_id}.md"
        if request.state == RequestState.VOID or not path.is_file():
            raise LinkRefused("void")
        prepared = cascade.prepare(run.plan, path, run.settings.environ)
        if prepared.approval_hash != claim.approval_hash:
            raise LinkRefused("void")  # the message (or a template) changed since the link was made
        if claim.member and prepared.plan.approval.member(claim.member) is None:
            raise LinkRefused("other-member")
        return prepared, request

    def check(token: str) -> tuple[Claim, cascade.Prepared, ApprovalRequest]:
        claim = signer.claim(token, clock())
        if not claim.member:
            raise LinkRefused("tampered")
        prepared, request = locate(claim)
        return claim, prepared, request

    @app.get("/vis/{token}", response_class=HTMLResponse)
    def preview(token: str) -> HTMLResponse:
        """The page without buttons, from the signed read-only link in the Prefect form's description."""
        try:
            claim = preview_signer.claim(token, clock())
            prepared, request = locate(claim)
        except LinkRefused as exc:
            return refused(exc.kind, plan().narrative.contact)
        return page(pages.approval_page(prepared, request, run.ledger.votes(request.id), quality=quality,
                                         reach_links=reach_web.links(reach_signer, run.ledger, prepared.message.id)))

    def sign_in_missing(http: Request, shown: plan_.Plan) -> HTMLResponse | None:
        """With sign-in required, the pages that are not a personal link are for signed-in members only."""
        policy = shown.approval
        if policy.sign_in is None or not policy.sign_in.required or signed_in(http.session, policy)[1]:
            return None
        return refused("sign-in-needed", shown.narrative.contact)

    @app.get("/", response_class=HTMLResponse)
    def index(http: Request) -> HTMLResponse:
        shown = plan()
        return sign_in_missing(http, shown) or page(pages.render("index.html.j2", title="Godkendelse", plan=shown))

    @app.get("/sundhed", response_class=PlainTextResponse)
    def health() -> str:
        return "ok"

    @app.get("/plan", response_class=HTMLResponse)
    def plan_page(http: Request) -> HTMLResponse:
        from budbringer.web.plan_document import html_document

        shown = plan()
        return sign_in_missing(http, shown) or page(html_document(shown))

    @app.get("/godkend/{token}", response_class=HTMLResponse)
    def approval(token: str, http: Request) -> HTMLResponse:
        try:
            claim, prepared, request = check(token)
        except LinkRefused as exc:
            return refused(exc.kind, plan().narrative.contact)
        policy = prepared.plan.approval
        member = policy.member(claim.member).name  # type: ignore[union-attr]
        who, me = signed_in(http.session, policy) if policy.sign_in else (None, None)
        if who and (me is None or me.name != member):
            return refused("other-member", prepared.plan.narrative.contact,
                           f"Du er logget ind som {who.account.upn}.")
        ledger = run.ledger
        votes = ledger.votes(request.id)
        mine = next((v for v in votes if v.voter.casefold() == claim.member.casefold()), None)
        if mine is not None:
            notice = (f"Du har allerede {pages.DECISIONS[mine.decision].lower()} budskabet "
                      f"({pages.danish_datetime(mine.at, prepared.plan.calendar.timezone)}). "
                      "Dit svar kan ikke ændres via linket.")
            return page(pages.approval_page(prepared, request, votes, member, None, notice, "info", quality,
                                             reach_links=reach_web.links(reach_signer, ledger, prepared.message.id)))
        if request.state != RequestState.OPEN:
            notice = f"Der er allerede truffet en beslutning: {pages.STATES.get(request.state, request.state)}."
            return page(pages.approval_page(prepared, request, votes, member, None, notice, "info", quality,
                                             reach_links=reach_web.links(reach_signer, ledger, prepared.message.id)))
        sign_in_url = f"/godkend/{token}/log-ind" if policy.sign_in and me is None else ""
        if policy.sign_in and policy.sign_in.required and me is None:
            notice = ("Log ind med din arbejdskonto (Microsoft), før du svarer. Styregruppen har besluttet, at "
                      "linket alene ikke er nok til at godkende eller afvise.")
            return page(pages.approval_page(prepared, request, votes, member, None, notice, "info", quality,
                                             sign_in_url=sign_in_url))
        return page(pages.approval_page(prepared, request, votes, member, token, quality=quality,
                                         sign_in_url=sign_in_url, signed_in=who.account.upn if who else ""))

    @app.get("/godkend/{token}/log-ind")
    def sign_in(token: str, http: Request) -> Response:
        """Start Entra ID sign-in for the member the link names: to the authorize endpoint, and back."""
        try:
            claim, prepared, _ = check(token)
        except LinkRefused as exc:
            return refused(exc.kind, plan().narrative.contact)
        config = prepared.plan.approval.sign_in
        if config is None:
            return refused("unknown", prepared.plan.narrative.contact)
        member = prepared.plan.approval.member(claim.member)
        try:
            flow = entra(config).start(approval_links.base_url(prepared.plan, run.settings) + signin.CALLBACK_PATH,
                                       login_hint=member.email if member else None)
        except signin.SignInFailed as exc:
            log.warning("Entra ID sign-in could not start: %s", exc)
            return refused("sign-in-failed", prepared.plan.narrative.contact)
        http.session["entra_flow"] = {k: v for k, v in flow.items() if k != "auth_uri"}
        http.session["entra_link"] = token
        return RedirectResponse(flow["auth_uri"], status_code=303, headers=HEADERS)

    @app.get(signin.CALLBACK_PATH)
    def signed_in_callback(http: Request) -> Response:
        """Entra ID sends the browser back here: verify the ID token and match its account to a member by
        object id; a match opens a session in the ledger."""
        flow, token = http.session.pop("entra_flow", None), http.session.pop("entra_link", None)
        contact = plan().narrative.contact
        if not isinstance(flow, dict) or not isinstance(token, str):
            return refused("sign-in-failed", contact)
        try:
            claim, prepared, _ = check(token)
        except LinkRefused as exc:
            return refused(exc.kind, contact)
        policy = prepared.plan.approval
        if policy.sign_in is None:
            return refused("unknown", contact)
        try:
            account = entra(policy.sign_in).finish(flow, dict(http.query_params))
        except signin.SignInFailed as exc:
            log.warning("Entra ID sign-in failed: %s", exc)
            return refused("sign-in-failed", contact)
        member = signin.member_of(policy.members, account)
        if member is None:
            log.warning("sign-in by %s (object id %s) refused: not a member of %s", account.upn, account.oid,
                        policy.title)
            return refused("not-member", contact, f"Du er logget ind som {account.upn}.")
        if member.name.casefold() != claim.member.casefold():
            log.warning("sign-in by %s refused: the link is %s's", member.name, claim.member)
            return refused("other-member", contact, f"Du er logget ind som {account.upn}.")
        ledger = run.ledger
        if isinstance(earlier := http.session.get("sid"), str):
            ledger.end_session(earlier)
        session_token = secrets.token_urlsafe(32)
        ledger.open_session(session_token, member.name, account, signin.IDENTITY_SECONDS, clock())
        http.session["sid"] = session_token
        log.info("%s signed in with Entra ID (object id %s) for approval request %s", member.name, account.oid,
                 claim.request_id)
        return RedirectResponse(f"/godkend/{token}", status_code=303, headers=HEADERS)

    @app.get("/log-ud", response_class=HTMLResponse)
    def sign_out(http: Request) -> HTMLResponse:
        """End the sign-in in the ledger (a copy of the cookie is refused from now on) and clear the cookie."""
        if isinstance(token := http.session.get("sid"), str):
            run.ledger.end_session(token)
        http.session.clear()
        return page(pages.render("index.html.j2", title="Godkendelse", plan=plan(),
                                 notice="Du er logget ud af godkendelsessiderne."))

    @app.post("/godkend/{token}", response_class=HTMLResponse)
    async def decide(token: str, http: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await http.body()).decode("utf-8", "replace")).items()}
        return await run_in_threadpool(_decide, token, form, dict(http.session))

    def _decide(token: str, form: dict[str, str], session: dict[str, object]) -> HTMLResponse:
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
        who, me = signed_in(session, policy) if policy.sign_in else (None, None)
        if who and (me is None or me.name != member.name):
            return refused("other-member", contact, f"Du er logget ind som {who.account.upn}.")
        if policy.sign_in and policy.sign_in.required and me is None:
            return refused("sign-in-needed", contact)
        source = "sign-in" if me is not None else "link"
        ledger = run.ledger
        if any(v.voter.casefold() == member.name.casefold() for v in ledger.votes(request.id)):
            return refused("used", contact)
        if request.state != RequestState.OPEN:
            return refused("closed", contact)
        choice = form.get("beslutning", "")
        comment = comment_.clean(form.get("bemaerkning", ""))
        if choice not in ("godkend", "afvis"):
            return page(pages.approval_page(prepared, request, ledger.votes(request.id), member.name, token,
                                             "Vælg Godkend eller Afvis.", "no", quality), 400)
        if choice == "afvis" and not comment:
            return page(pages.approval_page(
                prepared, request, ledger.votes(request.id), member.name, token,
                "Skriv en bemærkning, når du afviser: afsenderen skal vide, hvad der skal ændres.", "no",
                quality), 400)
        if comment_.too_long(comment):
            return page(pages.approval_page(
                prepared, request, ledger.votes(request.id), member.name, token,
                f"Bemærkningen er på {pages.thousands(len(comment))} tegn. Den må højst være på "
                f"{pages.thousands(comment_.MAX_LENGTH)} tegn: skriv kort, hvad der skal ændres.", "no", quality), 400)
        decision = Decision(approval_request.APPROVE if choice == "godkend" else approval_request.REJECT,
                            member.name, comment)
        try:
            status = approval_request.decide(prepared, ledger, request, decision, source=source, now=clock(),
                                             signer=who.account if who is not None and me is not None else None)
        except AlreadyDecided as exc:  # another decision closed the request first: say how it ended
            log.warning("decision by link not recorded: %s", exc)
            state = pages.STATES.get(exc.request.state, exc.request.state).lower()
            return refused("closed", contact, f"Budskabet er allerede {state}. Dit svar er ikke registreret.")
        except BudbringerError as exc:
            log.warning("decision by link refused: %s", exc)
            return refused("closed", contact)
        log.info("%s: %s decided %s (%s)", request.message_id, member.name, decision.decision,
                 "signed in with Entra ID" if me is not None else "by personal link")
        if request.flow_run_id and resume is not None:
            # In the background: the approver gets the answer now; the run may take a moment to be paused.
            threading.Thread(target=contextvars.copy_context().run, name="budbringer-resume", daemon=True,
                             args=(_resume, resume, request.flow_run_id, decision)).start()
        if approval_links.is_late(request, clock()):
            late = (" Dit svar kom efter fristen "
                    f"({pages.danish_datetime(request.deadline, prepared.plan.calendar.timezone)}) og er "
                    "registreret som for sent.")
        else:
            late = ""
        if status.approval is not None:
            notice = f"Tak, {member.name}. Budskabet er nu godkendt, og udsendelsen går i gang.{late}"
        elif status.rejected:
            notice = (f"Tak, {member.name}. Budskabet er afvist. Afsenderen får din bemærkning, og intet bliver "
                      f"sendt.{late}")
        else:
            notice = (f"Tak, {member.name}. Din godkendelse er registreret. Der mangler stadig svar fra flere "
                      f"medlemmer.{late}")
        fresh = ledger.request(request.message_id, request.approval_hash) or request
        return page(pages.approval_page(prepared, fresh, ledger.votes(request.id), member.name, None, notice,
                                         "ok", quality))

    return app


def _resume(resume: Resume, flow_run_id: str, decision: Decision) -> None:
    try:
        log.info("%s", resume(flow_run_id, decision))
    except Exception as exc:  # noqa: BLE001 - the decision is recorded; the run reads it when it next checks
        log.warning("could not resume flow run %s: %s", flow_run_id, exc)
