"""A website intake that receives the webhook channel's deliveries: the receiver documented in docs/webhook.md.

The Python block of that page is loaded and run here as it is written, so the tests prove that the
documented receiver accepts what Budbringer sends, and refuses what it should.
"""

from __future__ import annotations

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

    def _publish(self, item: dict[str, Any]) -> tuple[str, str]:
        self.published.append(item)
        page = f"page-{len(self.published)}"
        return page, f"https://www.socialomraadet.example/nyheder/{page}"

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != self.path:
            return Reply(404, {"error": "not found"})
        with self.lock:  # the documented Intake is not thread-safe; a real one uses a unique index
            status, answer = self.intake.receive(Headers(request.headers), request.body)
            self.answers.append((status, answer))
        return Reply(status, answer)
