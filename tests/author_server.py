"""`budbringer web` for the author's page tests: a real uvicorn on a free port, stoppable and startable again."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.servers.waiting import wait_until


class Pages:
    """The pages (budbringer.web.app, with the author's router) served by uvicorn in a thread."""

    def __init__(self, plan: Path, messages: Path, port: int, start_send: Callable[[Path], str] | None = None,
                 app: Callable[[], Any] | None = None) -> None:
        self.plan, self.messages, self.port, self.start_send, self.make_app = plan, messages, port, start_send, app
        self.base = f"http://127.0.0.1:{port}"
        self.server: Any = None
        self.thread: threading.Thread | None = None

    def start(self) -> Pages:
        import uvicorn

        from budbringer.web.app import create_app

        app = self.make_app() if self.make_app else create_app(self.plan, self.messages, start_send=self.start_send)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self.server.run,), daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, 30, "uvicorn", interval=0.1)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(15)
        self.server = self.thread = None
