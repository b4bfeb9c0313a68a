"""The approval pages (`budbringer.web.app`) on a real uvicorn in a process of their own, so that a test can
measure the server's memory from /proc without its own in the figure.

    python -m tests.servers.approval_pages PLAN MESSAGES PORT

The environment (BUDBRINGER_HOME, BUDBRINGER_WEB_URL, BUDBRINGER_WEB_SECRET) is the test's."""

from __future__ import annotations

import sys

import uvicorn

from budbringer.web.app import create_app

if __name__ == "__main__":
    plan, messages, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    uvicorn.run(create_app(plan, messages), host="127.0.0.1", port=port, log_level="warning", access_log=False)
