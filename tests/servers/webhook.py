"""A website intake that receives the webhook channel's deliveries: the receiver documented in docs/webhook.md.

The Python block of that page is loaded and run here as it is written, so the tests prove that the
documented receiver accepts what Budbringer sends, and refuses what it should.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

from tests.servers.https import Emulator, Reply, Request

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhook.md"


def documented_receiver() -> dict[str, Any]:
    """The names defined by the first ```python block of docs/webhook.md (verify, Intake, Rejected, …)."""
    block = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert block, f"{DOC} has no python block"
    names: dict[str, Any] = {"__name__": "webhook_receiver_doc"}
    exec(compile(block.group(1), str(DOC), "exec"), names)  # noqa: S102 - our own documentation
    return names


class Headers(dict):
    """Header lookup without regard to case, as every web framework does it."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return next((v for k, v in self.items() if k.lower() == name.lower()), default)


class WebhookReceiver(Emulator):
    def __init__(self, secret: str, path: str = "/intake/budbringer") -> None:
        super().__init__()
        self.doc = documented_receiver()
        self.path = path
        self.secret = secret
        self.reset()

    def reset(self) -> None:
        """Forget every request, fault and page (one server serves a whole test module)."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.published: list[dict[str, Any]] = []
            self.answers: list[tuple[int, dict]] = []
            self.intake = self.doc["Intake"](self.secret.encode(), self._publish)
            self.views: dict[str, int] = {}  # delivery key → page views, for the reach request

    def _publish(self, item: dict[str, Any]) -> tuple[str, str]:
        self.published.append(item)
        page = f"page-{len(self.published)}"
        return page, f"https://www.socialomraadet.example/nyheder/{page}"

    def handle(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == self.path + "/reach":
            return self._reach(request)
        if request.method != "POST" or request.path != self.path:
            return Reply(404, {"error": "not found"})
        with self.lock:  # the documented Intake is not thread-safe; a real one uses a unique index
            status, answer = self.intake.receive(Headers(request.headers), request.body)
            self.answers.append((status, answer))
        return Reply(status, answer)

    def _reach(self, request: Request) -> Reply:
        """The optional reach request (docs/reach.md): signed like a delivery, over "<timestamp>.<delivery key>";
        answers the page's views, `{}` for a key it published but has no figures for yet."""
        key = (request.query.get("delivery_key") or [""])[0]
        timestamp = request.header("X-Budbringer-Timestamp") or ""
        expected = "sha256=" + hmac.new(self.secret.encode(), f"{timestamp}.{key}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.header("X-Budbringer-Signature") or ""):
            return Reply(401, {"error": "bad signature"})
        if not any(item.get("delivery_key") == key for item in self.published):
            return Reply(404, {"error": "unknown delivery"})
        return Reply(200, {"figures": {"views": self.views[key]} if key in self.views else {}})
