"""The security pass: secrets never show, and hostile message input is neutralised in every HTML channel.

Secrets — the LinkedIn token, the Graph client secret (and the access tokens it buys), the webhook's signing
secret — are checked for in everything a run leaves behind: every log record at DEBUG (Budbringer's,
requests/urllib3's, msal's), exception texts, the ledger (errors and receipts), reprs of the channels and
their settings, the outbox files and the run's report.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from budbringer.adapters.sharepoint_news import page_body
from budbringer.adapters.webhook import payload
from budbringer import cascade, render
from budbringer.approval import Approval
from budbringer.delivery import Delivery
from budbringer.errors import DeliveryError, InputError
from budbringer.ledger import Ledger
from budbringer.report import outcome_rows, record_rows, summary_markdown
from tests.conftest import MESSAGE, PLAN
from tests.servers.faults import (  # noqa: F401 - fixtures
    CHANNELS,
    FAULTS,
    LINKEDIN_TOKEN,
    WEBHOOK_SECRET,
    Servers,
    _delivery,
    env,
    servers,
)


def _secrets(s: Servers) -> list[str]:
    with s.tenant.login.lock:
        tokens = list(s.tenant.login.tokens)
    return [LINKEDIN_TOKEN, s.tenant.secret, WEBHOOK_SECRET, *tokens]


@pytest.mark.parametrize("channel", ["graph_mail", "sharepoint_news", "linkedin", "webhook, no dedupe"])
def test_secrets_never_show_in_logs_errors_ledger_or_reprs(env: Servers, tmp_path: Path, channel: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "msal", "budbringer"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    spec = CHANNELS[channel]
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    target = env.tenant.graph if spec.medium in ("mail", "page") else (
        env.linkedin.emulator if spec.medium == "post" else env.webhook.emulator)
    texts: list[str] = []
    # A transient fault, an unknown outcome, then a refusal: the paths that write warnings and errors.
    for fault in ("429", "timeout after acting", "401"):
        item = _delivery(channel, f"secrets {fault}")
        approval = ledger.record_approval(Approval(item.message_id, {item.forum: item.variant.content_hash},
                                                   "Mette Lund", "ref"))
        item = Delivery(item.message_id, item.variant, item.channel, approval.id)  # type: ignore[arg-type]
        injected = FAULTS[fault](spec.acts)
        planned = injected.times
        with target.lock:
            target.faults.clear()
            target.faults.append(injected)
        adapter = spec.adapter()
        try:
            outcome = cascade.deliver(item, adapter, ledger)
            texts += [outcome.error, str(outcome), repr(outcome)]
        except DeliveryError as exc:
            texts += [str(exc), repr(exc), exc.reason, exc.fix]
        texts += [repr(adapter), repr(adapter.settings), str(vars(adapter))]
        assert injected.times < planned, f"the {fault} fault never reached the server"
    records = ledger.records()
    texts += [str(r) for r in records] + [str(row) for row in record_rows(records)]
    texts += [caplog.text] + [str(record.__dict__) for record in caplog.records]
    texts.append((tmp_path / "ledger.db").read_bytes().decode("utf-8", "replace"))
    everything = "\n".join(texts)
    assert len(caplog.records) > 3  # the run did log (so the check means something)
    for secret in _secrets(env):
        assert secret not in everything


def test_secrets_never_reach_the_outbox_or_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The default plan (everything to the local outbox) with every credential set in the environment."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUDBRINGER_HOME", str(tmp_path / ".budbringer"))
    monkeypatch.delenv("BUDBRINGER_DATABASE_URL", raising=False)
    secrets = {"BUDBRINGER_LINKEDIN_TOKEN": LINKEDIN_TOKEN, "BUDBRINGER_GRAPH_CLIENT_SECRET": "graph-" + "s3" * 16,
               "BUDBRINGER_WEBSITE_WEBHOOK_SECRET": WEBHOOK_SECRET}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    message = tmp_path / MESSAGE.name
    shutil.copy(MESSAGE, message)
    prepared = cascade.prepare(PLAN, message)
    ledger = Ledger()
    approval = cascade.record_approval(prepared, ledger, "Mette Lund", "ref")
    channels = cascade.channels(prepared.plan)
    outcomes = [cascade.deliver(d, channels[d.channel], ledger) for d in cascade.deliveries(prepared, approval)]
    assert {o.state for o in outcomes} <= {"delivered", "already delivered"}
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any("outbox" in p.parts for p in files)
    stored = "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files)
    report = summary_markdown(prepared, approval, outcomes) + str(outcome_rows(outcomes))
    for secret in secrets.values():
        assert secret not in stored and secret not in report and secret not in caplog.text


HOSTILE_BODY = """
## Status <script>alert('body')</script>

Se <img src=x onerror="alert('img')"> og [klik her](javascript:alert('link')) eller
<a href="javascript:alert('a')" onclick="alert('click')">dette</a>.

<iframe src="https://evil.example"></iframe><svg onload="alert('svg')"></svg>
<p style="background:url(javascript:alert('css'))">Stil</p>
[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)
"""

class _Active(HTMLParser):
    """Collects what a browser or a mail client would act on: script-like elements, event handlers, script
    URLs, styles that call scripts. Text that merely *shows* `<script>` (escaped) is harmless and not counted."""

    BAD_TAGS = {"script", "iframe", "svg", "object", "embed", "frame", "frameset", "base", "form", "meta", "link"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BAD_TAGS and not (tag == "meta" and dict(attrs).get("charset")):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = (value or "").strip().lower().replace("\n", "").replace("\t", "")
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name in ("href", "src", "action", "formaction", "xlink:href") and not (
                    value.startswith(("https:", "http:", "mailto:", "#", "/")) or ":" not in value.split("/")[0]):
                self.found.append(f"{tag} {name}={value[:40]}")
            if name == "style" and ("javascript:" in value or "expression(" in value or "url(" in value):
                self.found.append(f"{tag} style={value[:40]}")


def active(html_text: str) -> list[str]:
    parser = _Active()
    parser.feed(html_text)
    parser.close()
    return parser.found


def _hostile_message(folder: Path, title: str = "Status <script>alert('title')</script>") -> Path:
    text = MESSAGE.read_text(encoding="utf-8")
    front, body = text.split("\n---\n", 1)
    front = re.sub(r"^title: .*$", f'title: "{title}"', front, count=1, flags=re.M)
    citizens = "  citizens:\n    headline: Vi vil samle vores notater om din hjælp i ét system\n    lead: >-\n"
    assert citizens in front
    front = front.replace(citizens, citizens + "      <img src=x onerror=alert(1)> [x](javascript:alert(2))\n", 1)
    # The escaped markup is text the citizens would read, so the jargon rule would (rightly) refuse "onerror":
    # this message says its readers know it, to reach the sanitising it is about.
    front += "\nwords:\n  onerror: {known: [all]}"
    path = folder / MESSAGE.name
    path.write_text(front + "\n---\n" + HOSTILE_BODY + "\n" + body, encoding="utf-8")
    return path


def test_hostile_input_is_neutralised_in_every_html_channel(tmp_path: Path) -> None:
    message = _hostile_message(tmp_path)
    try:
        prepared = cascade.prepare(PLAN, message)
    except InputError as exc:  # refusing it outright would be neutralising it too, but say where
        pytest.fail(f"the hostile message was refused instead of sanitised: {exc}")
    html_variants = [v for v in prepared.variants if v.body_format == "html"]
    assert {v.medium for v in html_variants} >= {"mail", "page", "web", "submission"}
    request = render.render_approval_request(prepared.plan, prepared.message, prepared.variants,
                                             prepared.findings, prepared.approval_hash)
    for variant in [*html_variants, request]:
        assert active(variant.body) == [], variant.forum
        assert "<script" not in variant.body.lower()
    # What each HTML channel sends is the variant's body as it is: the page's web part, the webhook's html.
    for variant in html_variants:
        item = Delivery(prepared.message.id, variant, variant.channel, 1)
        if variant.medium == "page":
            inner = page_body(item, "x.aspx")["canvasLayout"]["horizontalSections"][0]["columns"][0]["webparts"][0]
            assert active(inner["innerHtml"]) == []
        if variant.medium == "web":
            assert active(json.loads(payload(item))["html"]) == []
    # The probe itself finds live markup (so an empty answer above means something).
    assert len(active("<p onclick=x><a href='javascript:y'>z</a><script>1</script></p>")) == 3


def test_a_hostile_link_in_the_front_matter_is_refused_or_neutralised(tmp_path: Path) -> None:
    message = _hostile_message(tmp_path, title="Status")
    text = message.read_text(encoding="utf-8")
    message.write_text(re.sub(r"^link: .*$", "link: javascript:alert(document.cookie)", text, count=1, flags=re.M),
                       encoding="utf-8")
    try:
        prepared = cascade.prepare(PLAN, message)
    except InputError as exc:
        assert "link" in str(exc)
        return
    for variant in prepared.variants:
        if variant.body_format == "html":
            assert active(variant.body) == [], variant.forum
