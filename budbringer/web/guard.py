"""Guards in front of the approval pages, as plain ASGI middleware: they act before a route runs, and before
a request's body is read.

- `BodyLimit`: a body over `MAX_BODY_BYTES` is refused with 413: at once when `Content-Length` says so, and,
  for a body sent in chunks (no length given), as soon as the bytes received pass the limit. The server never
  holds more than the limit (plus one chunk) of a body.
- `SameOrigin`: a POST from another site is refused with 403: `Sec-Fetch-Site` must be `same-origin` (or
  `none`, typed by the user) when a browser sends it, and `Origin` must be the pages' own origin (the
  configured web URL's, or the one the request was made to). A client that sends neither header is no browser
  and cannot be made to post by another site, so it passes (a personal link is still needed).

Each refusal is a Danish page (`refuse(kind)` gives it), so an approver who meets one knows what happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: the refusal page for a kind ("too-large", "cross-origin") as an ASGI app
Refuse = Callable[[str], ASGIApp]

#: the largest body a request may carry: a decision is a few fields and a comment of at most 2,000 characters
#: (`budbringer.comment.MAX_LENGTH`), which percent-encoded is at most about 12 KB of Danish letters
MAX_BODY_BYTES = 16 * 1024
#: the author's pages (/skriv/…) post a whole message: its file is at most 32 KiB (budbringer.message.MAX_BYTES),
#: which form-encoded (Danish letters take 6 bytes each, line breaks 6) is at most about 6 times that
AUTHOR_PREFIX = "/skriv/"
AUTHOR_MAX_BODY_BYTES = 192 * 1024
#: the Sec-Fetch-Site values of a request made by the pages themselves (or typed in by the user)
SAME_SITE = {"same-origin", "none"}


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse a request whose body is over `limit` bytes, with `refuse("too-large")`, before it is read."""

    def __init__(self, app: ASGIApp, refuse: Refuse, limit: int = MAX_BODY_BYTES,
                 larger: tuple[tuple[str, int], ...] = ((AUTHOR_PREFIX, AUTHOR_MAX_BODY_BYTES),)) -> None:
        self.app, self.refuse, self.limit, self.larger = app, refuse, limit, larger

    def limit_for(self, path: str) -> int:
        """The limit of a path: `larger` for the paths under one of its prefixes (the author's form)."""
        return next((size for prefix, size in self.larger if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self.refuse("too-large")(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge:
            if started:  # the route answered before reading all of it: nothing more to say
                return
            await self.refuse("too-large")(scope, receive, send)


class SameOrigin:
    """Refuse a POST made by another site with `refuse("cross-origin")`. `origins()` gives the allowed origins
    besides the request's own (the configured web URL's)."""

    def __init__(self, app: ASGIApp, refuse: Refuse, origins: Callable[[], set[str]]) -> None:
        self.app, self.refuse, self.origins = app, refuse, origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS") and not self.allowed(scope):
            await self.refuse("cross-origin")(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allowed(self, scope: Scope) -> bool:
        site = _header(scope, b"sec-fetch-site")
        if site is not None and site.lower() not in SAME_SITE:
            return False
        origin = _header(scope, b"origin")
        if origin is None:
            return True
        if origin == "null" and site is not None:
            # The pages send `Referrer-Policy: no-referrer`, under which Chromium posts its own forms with
            # `Origin: null`; its Sec-Fetch-Site (set by the browser, not by a page) says same-origin.
            return True
        return origin.rstrip("/").lower() in self.origins() | {own_origin(scope)}


def origin_of(url: str) -> str:
    """The origin (scheme://host[:port]) of a URL, lower case, without a default port."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port and (parts.scheme, parts.port) not in (("http", 80), ("https", 443)) else ""
    return f"{parts.scheme}://{parts.hostname}{port}".lower()


def own_origin(scope: Scope) -> str:
    """The origin the request was made to, from its Host header."""
    host = _header(scope, b"host") or ""
    try:
        return origin_of(f"{scope.get('scheme', 'http')}://{host}") if host else ""
    except ValueError:  # a Host header that is no host[:port]
        return ""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None
