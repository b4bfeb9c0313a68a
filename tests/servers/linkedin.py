"""A LinkedIn REST API emulator: `/rest/posts` create and the author finder, and the organisation's share
statistics (`/rest/organizationalEntityShareStatistics?q=organizationalEntity&…&shares=List(…)`, the figures
`statistics` holds per post; zeros for a new post; 403 unless `statistics_allowed`), strict about what it accepts.

It checks what LinkedIn checks (the bearer token, `LinkedIn-Version`, `X-Restli-Protocol-Version`, the author
the token may post as, the body's fields) and one thing LinkedIn does not say out loud: every reserved
character of the little-text commentary must be escaped. LinkedIn silently cuts a post at the first
unescaped one; here such a post is refused with a 422, so a test cannot pass on a truncated post.
Anything else gets a LinkedIn-shaped error (`{"status", "code", "message"}`).
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.servers.https import Emulator, Reply, Request

RESERVED = set("|{}@[]()<>#\\*_~")
HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\#\|([^\W_]+)\}")
BODY_FIELDS = {"author", "commentary", "visibility", "distribution", "lifecycleState", "isReshareDisabledByAuthor"}
DISTRIBUTION = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}


def error(status: int, code: str, message: str, **extra: Any) -> Reply:
    return Reply(status, {"status": status, "code": code, "message": message, **extra})


def unescaped_reserved(commentary: str) -> list[str]:
    """Reserved characters that are neither escaped nor part of a hashtag template."""
    text = HASHTAG_TEMPLATE.sub("", commentary)
    found, index = [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in RESERVED:
            index += 2
            continue
        if char in RESERVED:
            found.append(char)
        index += 1
    return found


def displayed(commentary: str) -> str:
    """What a reader sees: templates as hashtags, escapes removed."""
    text = HASHTAG_TEMPLATE.sub(lambda m: "#" + m.group(1), commentary)
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


class LinkedInEmulator(Emulator):
    def __init__(self, token: str, organization: str, versions: tuple[str, ...] = ("202605",),
                 max_chars: int = 3000) -> None:
        super().__init__()
        self.token = token
        self.author = f"urn:li:organization:{organization}"
        self.max_chars = max_chars
        self._versions = versions
        self.reset(versions)

    def reset(self, versions: tuple[str, ...] = ("202605",)) -> None:
        """Forget every request, fault and post (one server serves a whole test module)."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.posts: list[dict[str, Any]] = []
            self.versions = versions
            self.revoked = False
            self.statistics: dict[str, dict[str, Any]] = {}  # post URN → totalShareStatistics
            self.statistics_allowed = True  # the token's member is an organisation administrator

    # what a test reads --------------------------------------------------------------------------------

    def created(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.posts)

    def add_post(self, commentary: str, author: str | None = None) -> str:
        """A post made elsewhere (by hand on the page, or by an earlier run)."""
        with self.lock:
            return self._store(author or self.author, commentary)

    # the API ----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        refused = self._check_headers(request)
        if refused is not None:
            return refused
        if request.path == "/rest/posts" and request.method == "POST":
            return self._create(request)
        if request.path == "/rest/posts" and request.method == "GET":
            return self._find(request)
        if request.path == "/rest/organizationalEntityShareStatistics" and request.method == "GET":
            return self._statistics(request)
        return error(404, "NOT_FOUND", f"No virtual resource found for {request.method} {request.path}")

    def _check_headers(self, request: Request) -> Reply | None:
        authorization = request.header("Authorization") or ""
        if self.revoked or authorization != f"Bearer {self.token}":
            return error(401, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired",
                         serviceErrorCode=65601)
        version = request.header("LinkedIn-Version")
        if not version:
            return error(400, "VERSION_MISSING", "A version must be present. Please specify a version by adding "
                         "the LinkedIn-Version header.")
        if version not in self.versions:
            return error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
        if request.header("X-Restli-Protocol-Version") != "2.0.0":
            return error(400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version 2.0.0 is required")
        return None

    def _create(self, request: Request) -> Reply:
        if not (request.header("Content-Type") or "").startswith("application/json"):
            return error(415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
        try:
            body = request.json()
        except ValueError:
            return error(400, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
        if not isinstance(body, dict):
            return error(400, "ILLEGAL_ARGUMENT", "Request body could not be converted to data map")
        problems = [f"ERROR :: /{name} :: unrecognized field found but not allowed" for name in body
                    if name not in BODY_FIELDS]
        problems += [f"ERROR :: /{name} :: field is required but not found and has no default value"
                     for name in sorted(BODY_FIELDS - set(body))]
        if problems:
            return error(422, "UNPROCESSABLE_ENTITY", "\n".join(problems))
        if body["author"] != self.author:
            return error(403, "ACCESS_DENIED", "Not enough permissions to access: partnerApiPostsExternal.CREATE",
                         serviceErrorCode=100)
        if (body["visibility"], body["lifecycleState"], body["isReshareDisabledByAuthor"]) != (
                "PUBLIC", "PUBLISHED", False) or body["distribution"] != DISTRIBUTION:
            return error(422, "UNPROCESSABLE_ENTITY", "ERROR :: visibility, distribution or lifecycleState")
        commentary = body["commentary"]
        if not isinstance(commentary, str) or not commentary.strip():
            return error(422, "UNPROCESSABLE_ENTITY", "ERROR :: /commentary :: is empty")
        loose = unescaped_reserved(commentary)
        if loose:
            return error(422, "UNPROCESSABLE_ENTITY", f"ERROR :: /commentary :: unescaped reserved characters "
                         f"{''.join(loose)!r} (LinkedIn would cut the post at the first)")
        if len(commentary) > self.max_chars:
            return error(422, "UNPROCESSABLE_ENTITY", f"ERROR :: /commentary :: length {len(commentary)} exceeds "
                         f"maximum allowed {self.max_chars}")
        with self.lock:
            for post in self.posts:
                if post["author"] == body["author"] and post["commentary"] == commentary:
                    return error(422, "DUPLICATE_POST", f"Content is a duplicate of {post['id']}")
            urn = self._store(body["author"], commentary)
        return Reply(201, None, {"x-restli-id": urn, "x-linkedin-id": urn.rsplit(":", 1)[-1]})

    def _find(self, request: Request) -> Reply:
        query = {name: values[-1] for name, values in request.query.items()}
        if query.get("q") != "author":
            return error(400, "ILLEGAL_ARGUMENT", "q must be one of [author, dscAdAccount, ...]")
        if (request.header("X-RestLi-Method") or "").upper() != "FINDER":
            return error(400, "ILLEGAL_ARGUMENT", "X-RestLi-Method FINDER is required for a finder")
        if query.get("author") != self.author:
            return error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                         "partnerApiPostsExternal.FINDER-author", serviceErrorCode=100)
        if query.get("sortBy", "LAST_MODIFIED") not in ("LAST_MODIFIED", "CREATED"):
            return error(400, "ILLEGAL_ARGUMENT", "sortBy must be LAST_MODIFIED or CREATED")
        try:
            count = int(query.get("count", "10"))
            start = int(query.get("start", "0"))
        except ValueError:
            return error(400, "ILLEGAL_ARGUMENT", "count and start must be integers")
        if not 1 <= count <= 100:
            return error(400, "ILLEGAL_ARGUMENT", "count must be between 1 and 100")
        with self.lock:
            mine = sorted((p for p in self.posts if p["author"] == self.author),
                          key=lambda p: p["lastModifiedAt"], reverse=True)
        page = mine[start:start + count]
        return Reply(200, {"paging": {"start": start, "count": count, "links": [], "total": len(mine)},
                           "elements": page})

    def _statistics(self, request: Request) -> Reply:
        query = {name: values[-1] for name, values in request.query.items()}
        if query.get("q") != "organizationalEntity":
            return error(400, "ILLEGAL_ARGUMENT", "q must be organizationalEntity")
        if query.get("organizationalEntity") != self.author or not self.statistics_allowed:
            return error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                         "organizationalEntityShareStatistics.FINDER-organizationalEntity", serviceErrorCode=100)
        urns: list[tuple[str, str]] = []
        for kind, field_name in (("shares", "share"), ("ugcPosts", "ugcPost")):
            listed = query.get(kind)
            if listed is None:
                continue
            found = re.fullmatch(r"List\((.*)\)", listed)
            if found is None:
                return error(400, "ILLEGAL_ARGUMENT", f"{kind} must be List(urn,...)")
            urns += [(field_name, urn) for urn in found.group(1).split(",") if urn]
        zero = {"uniqueImpressionsCount": 0, "shareCount": 0, "engagement": 0.0, "clickCount": 0, "likeCount": 0,
                "impressionCount": 0, "commentCount": 0}
        with self.lock:
            known = {p["id"] for p in self.posts}
            elements = [{"totalShareStatistics": {**zero, **self.statistics.get(urn, {})}, field_name: urn,
                         "organizationalEntity": self.author} for field_name, urn in urns if urn in known]
        return Reply(200, {"paging": {"count": 10, "start": 0, "links": []}, "elements": elements})

    def _store(self, author: str, commentary: str) -> str:
        stamp = int(time.time() * 1000) + len(self.posts)  # strictly increasing, newest last
        urn = f"urn:li:share:{7300000000000000000 + len(self.posts) + 1}"
        self.posts.append({
            "id": urn, "author": author, "commentary": commentary, "visibility": "PUBLIC",
            "distribution": DISTRIBUTION, "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": False,
            "createdAt": stamp, "lastModifiedAt": stamp, "publishedAt": stamp,
        })
        return urn
