"""A Meta Graph API emulator for one Facebook Page and its Instagram professional account, strict about what
it accepts: the bearer token, the pinned version in the path, the fields of each request.

Facebook: `POST /{v}/{page}/feed` (message, link) → `{"id": "{page}_{n}"}`; the same text twice in a row is
refused with code 506 as Meta does; `GET /{v}/{page}/published_posts` (newest first) and `GET /{v}/{post-id}`.
Instagram: `GET /{v}/{ig}/content_publishing_limit`, `POST /{v}/{ig}/media` (image_url, caption, alt_text) →
a container, `GET /{v}/{container}?fields=status_code` (IN_PROGRESS for `polls_until_finished` looks, then
`container_outcome`), `POST /{v}/{ig}/media_publish` (creation_id; refused when the quota is spent or the
container is not FINISHED), `GET /{v}/{ig}/media` (newest first) and `GET /{v}/{media-id}`.

Errors are Meta-shaped: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`. Faults beyond
these knobs (throttling, 5xx, timeouts after acting) are injected with tests.servers.https.Fault.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml

from tests.conftest import MESSAGE, PLAN
from tests.servers.https import Emulator, Reply, Request

PAGE = "104857600012345"
ACCOUNT = "17841400000012345"
TOKEN = "EAAG-page-token-never-logged-5d1c"  # the Page token the channels send (never in a log or a repr)
IMAGE = "https://www.rm.dk/billeder/dokumentation-i-hverdagen.jpg"
ALT = "En medarbejder skriver i en tablet, mens en borger ser med."
HASHTAG = re.compile(r"(?<![\w#])#[^\W_][\w]*")


def error(status: int, code: int, message: str, subcode: int | None = None,
          kind: str = "OAuthException") -> Reply:
    body: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        body["error_subcode"] = subcode
    return Reply(status, {"error": body})


def throttled(code: int = 4, minutes: int | None = None) -> dict[str, Any]:
    """The body (and headers) of a throttling answer, for a Fault."""
    messages = {4: "Application request limit reached", 17: "User request limit reached",
                32: "Page request limit reached", 613: "Calls to this api have exceeded the rate limit."}
    return {"error": {"message": messages.get(code, "Rate limited"), "type": "OAuthException", "code": code,
                      "fbtrace_id": "ThRoTtLe"}}


def usage_header(minutes: int) -> dict[str, str]:
    import json

    return {"X-Business-Use-Case-Usage": json.dumps({PAGE: [{"type": "pages", "call_count": 100,
                                                             "total_cputime": 30, "total_time": 40,
                                                             "estimated_time_to_regain_access": minutes}]})}


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+0000")


class MetaEmulator(Emulator):
    def __init__(self, token: str, page: str = PAGE, account: str = ACCOUNT,
                 versions: tuple[str, ...] = ("v25.0",)) -> None:
        super().__init__()
        self.token, self.page, self.account = token, page, account
        self.reset(versions)

    def reset(self, versions: tuple[str, ...] = ("v25.0",)) -> None:
        """Forget every request, fault, post and container (one server serves a whole test module)."""
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.versions = versions
            self.revoked = False
            self.posts: list[dict[str, Any]] = []
            self.containers: dict[str, dict[str, Any]] = {}
            self.media: list[dict[str, Any]] = []
            self.quota_total = 100
            self.quota_usage = 0
            self.polls_until_finished = 0
            self.container_outcome = "FINISHED"  # or ERROR, EXPIRED, IN_PROGRESS (stuck)
            self._ids = itertools.count(1)
            # insights: post or media id → metric → value (a dict for the by-type metrics); none yet → empty data
            self.insights: dict[str, dict[str, Any]] = {}
            self.insights_allowed = True  # read_insights / instagram_manage_insights granted

    # what a test reads or sets up ---------------------------------------------------------------------

    def page_posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.posts)

    def published_media(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.media)

    def calls(self) -> list[str]:
        """What it heard, by edge: `POST feed`, `GET content_publishing_limit`, `POST media`, or `GET node` (a
        post's, a container's or a media's fields)."""
        received = self.received()
        parts = [r.path.strip("/").split("/") for r in received]
        return [f"{r.method} {p[2] if len(p) > 2 else 'node'}" for r, p in zip(received, parts, strict=True)]

    def add_post(self, message: str, age: dt.timedelta = dt.timedelta()) -> str:
        with self.lock:
            return self._post(message, None, dt.datetime.now(dt.UTC) - age)

    def add_media(self, caption: str, age: dt.timedelta = dt.timedelta()) -> str:
        with self.lock:
            return self._media(caption, "", dt.datetime.now(dt.UTC) - age)

    # the API ----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if (request.header("Authorization") or "") != f"Bearer {self.token}" or self.revoked:
            return error(400, 190, "Error validating access token: Session has expired on Friday, 27-Nov-26 "
                         "10:00:00 PST.", subcode=463)
        if "access_token" in request.query:
            return error(400, 100, "the token belongs in the Authorization header in this emulator")
        parts = request.path.strip("/").split("/")
        if not parts or parts[0] not in self.versions:
            return error(400, 2635, f"You are calling a deprecated or unknown version of the Graph API "
                         f"({parts[0] if parts else ''}).", kind="GraphMethodException")
        form = self._form(request)
        query = {k: v[-1] for k, v in request.query.items()}
        with self.lock:
            return self._route(request.method, parts[1:], form, query)

    def _form(self, request: Request) -> dict[str, str]:
        if request.method != "POST":
            return {}
        kind = request.header("Content-Type") or ""
        if kind.startswith("application/json"):
            body = request.json()
            return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        return {k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}

    def _route(self, method: str, path: list[str], form: dict[str, str], query: dict[str, str]) -> Reply:
        if len(path) == 2 and path[0] == self.page:
            if path[1] == "feed" and method == "POST":
                return self._create_post(form)
            if path[1] == "published_posts" and method == "GET":
                return self._list(self.posts, query, ("id", "message", "created_time", "permalink_url"))
        if len(path) == 2 and path[0] == self.account:
            if path[1] == "media" and method == "POST":
                return self._create_container(form)
            if path[1] == "media" and method == "GET":
                return self._list(self.media, query, ("id", "caption", "timestamp", "permalink"))
            if path[1] == "media_publish" and method == "POST":
                return self._publish(form)
            if path[1] == "content_publishing_limit" and method == "GET":
                return Reply(200, {"data": [{"quota_usage": self.quota_usage, "config": {
                    "quota_total": self.quota_total, "quota_duration": 86400}}]})
        if len(path) == 2 and path[1] == "insights" and method == "GET":
            return self._insights(path[0], query)
        if len(path) == 1 and method == "GET":
            return self._node(path[0], query)
        return error(400, 100, f"Unsupported {method} request. Object with ID '{'/'.join(path)}' does not exist, "
                     "cannot be loaded due to missing permissions, or does not support this operation",
                     subcode=33, kind="GraphMethodException")

    # Facebook ---------------------------------------------------------------------------------------

    def _create_post(self, form: dict[str, str]) -> Reply:
        message = form.get("message", "")
        if not message.strip():
            return error(400, 100, "Invalid parameter: the post has no message", kind="OAuthException")
        unknown = set(form) - {"message", "link"}
        if unknown:
            return error(400, 100, f"Invalid parameter(s): {sorted(unknown)}")
        if "link" in form and not form["link"].startswith(("https://", "http://")):
            return error(400, 1609005, "Error posting link: the link is not a web address")
        if self.posts and self.posts[0]["message"] == message:
            return error(400, DUPLICATE, "Duplicate status message", kind="OAuthException")
        return Reply(200, {"id": self._post(message, form.get("link"), dt.datetime.now(dt.UTC))})

    def _post(self, message: str, link: str | None, when: dt.datetime) -> str:
        post_id = f"{self.page}_{9000000000 + next(self._ids)}"
        post = {"id": post_id, "message": message, "created_time": _stamp(when),
                "permalink_url": f"https://www.facebook.com/{self.page}/posts/{post_id.split('_')[1]}"}
        if link:
            post["link"] = link
        self.posts.insert(0, post)  # newest first
        self.posts.sort(key=lambda p: p["created_time"], reverse=True)
        return post_id

    # Instagram --------------------------------------------------------------------------------------

    def _create_container(self, form: dict[str, str]) -> Reply:
        image, caption = form.get("image_url", ""), form.get("caption", "")
        if not image.startswith("https://"):
            return error(400, 9004, "The media could not be fetched from this URI", subcode=2207052)
        if len(caption) > 2200:
            return error(400, 100, "The caption is too long (2,200 characters at most)", subcode=2207028)
        if len(HASHTAG.findall(caption)) > 30:
            return error(400, 100, "The caption has more than 30 hashtags", subcode=2207028)
        unknown = set(form) - {"image_url", "caption", "alt_text"}
        if unknown:
            return error(400, 100, f"Invalid parameter(s): {sorted(unknown)}")
        container = str(18000000000000000 + next(self._ids))
        self.containers[container] = {"id": container, "caption": caption, "image_url": image,
                                      "alt_text": form.get("alt_text"), "polls": 0, "status_code": "IN_PROGRESS",
                                      "media": None}
        return Reply(200, {"id": container})

    def _container_status(self, container: dict[str, Any]) -> dict[str, Any]:
        if container["status_code"] == "IN_PROGRESS":
            container["polls"] += 1
            if container["polls"] > self.polls_until_finished and self.container_outcome != "IN_PROGRESS":
                container["status_code"] = self.container_outcome
        answer = {"id": container["id"], "status_code": container["status_code"]}
        if container["status_code"] == "ERROR":
            answer["status"] = "Error: The media could not be fetched from the URI (2207052)"
        elif container["status_code"] == "EXPIRED":
            answer["status"] = "Expired: the container was not published within 24 hours"
        return answer

    def _publish(self, form: dict[str, str]) -> Reply:
        container = self.containers.get(form.get("creation_id", ""))
        if container is None:
            return error(400, 100, "Invalid parameter: creation_id does not name a container", subcode=2207001)
        if self.quota_usage >= self.quota_total:
            return error(400, 9, "Application request limit reached: the account has reached its publishing "
                         "limit", subcode=2207042)
        if container["status_code"] == "PUBLISHED":
            return error(400, 9007, "The media has already been published", subcode=2207035)
        if container["status_code"] != "FINISHED":
            return error(400, 9007, "Media ID is not available: the media is not ready for publishing",
                         subcode=2207027)
        media_id = self._media(container["caption"], container["id"], dt.datetime.now(dt.UTC))
        container["status_code"] = "PUBLISHED"
        container["media"] = media_id
        self.quota_usage += 1
        return Reply(200, {"id": media_id})

    def _media(self, caption: str, container: str, when: dt.datetime) -> str:
        media_id = str(17900000000000000 + next(self._ids))
        self.media.append({"id": media_id, "caption": caption, "timestamp": _stamp(when), "container": container,
                           "permalink": f"https://www.instagram.com/p/B{media_id[-8:]}/"})
        self.media.sort(key=lambda m: m["timestamp"], reverse=True)
        return media_id

    # reading ----------------------------------------------------------------------------------------

    def _list(self, items: list[dict[str, Any]], query: dict[str, str], known: tuple[str, ...]) -> Reply:
        fields = [f for f in query.get("fields", "id").split(",") if f]
        wrong = [f for f in fields if f not in known]
        if wrong:
            return error(400, 100, f"(#100) Tried accessing nonexisting field ({wrong[0]})")
        try:
            limit = int(query.get("limit", "25"))
        except ValueError:
            return error(400, 100, "limit must be a number")
        page = [{f: item[f] for f in fields if f in item} for item in items[:max(1, min(limit, 100))]]
        return Reply(200, {"data": page, "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}})

    def _insights(self, node: str, query: dict[str, str]) -> Reply:
        """`GET /{post-id|media-id}/insights?metric=…`: `data` of {name, period, values, title, description, id};
        a metric without figures yet is left out (Instagram's empty set for a new post), a withdrawn one is a 400."""
        if not self.insights_allowed:
            return error(403, 10, "(#10) Application does not have permission for this action")
        if not any(item["id"] == node for item in [*self.posts, *self.media]):
            return error(400, 100, f"Object with ID '{node}' does not exist", subcode=33, kind="GraphMethodException")
        metrics = [m for m in query.get("metric", "").split(",") if m]
        if not metrics:
            return error(400, 100, "(#100) The value must be a valid insights metric", subcode=1504028)
        withdrawn = [m for m in metrics if m in WITHDRAWN_METRICS]
        if withdrawn:
            return error(400, 100, f"(#100) The value must be a valid insights metric: {withdrawn[0]} is deprecated")
        figures = self.insights.get(node, {})
        data = [{"name": m, "period": "lifetime", "values": [{"value": figures[m]}], "title": m, "description": m,
                 "id": f"{node}/insights/{m}/lifetime"} for m in metrics if m in figures]
        return Reply(200, {"data": data, "paging": {"previous": "", "next": ""}})

    def _node(self, node: str, query: dict[str, str]) -> Reply:
        fields = [f for f in query.get("fields", "id").split(",") if f]
        if node in self.containers:
            answer = self._container_status(self.containers[node])
            return Reply(200, {f: answer[f] for f in ["id", *fields] if f in answer})
        for item in [*self.posts, *self.media]:
            if item["id"] == node:
                return Reply(200, {f: item[f] for f in ["id", *fields] if f in item})
        return error(400, 100, f"Object with ID '{node}' does not exist", subcode=33, kind="GraphMethodException")


DUPLICATE = 506
#: metrics Meta withdrew (Page post impressions in 2025; Instagram's impressions family in April 2025)
WITHDRAWN_METRICS = frozenset({"post_impressions", "post_impressions_unique", "impressions", "plays",
                               "video_views", "clips_replays_count"})


# -- a plan and a message for the Meta fora ------------------------------------------------------------------

def meta_env(url: str, token: str = TOKEN) -> dict[str, str]:
    """What the Facebook Page and Instagram channels read from the environment."""
    return {"BUDBRINGER_META_URL": url, "BUDBRINGER_META_PAGE_TOKEN": token, "BUDBRINGER_META_PAGE_ID": PAGE,
            "BUDBRINGER_META_IG_USER_ID": ACCOUNT}


def meta_plan(folder: Path, **channel_settings: object) -> Path:
    """plan.yaml with the facebook and instagram fora on their Meta channels (ids from the environment)."""
    path = folder / "plan.meta.yaml"
    path.write_text(yaml.safe_dump({
        "extends": str(PLAN),
        "channels": {"facebook_api": {"type": "facebook_page", **channel_settings},
                     "instagram_api": {"type": "instagram", **channel_settings}},
        "fora": {"facebook": {"enabled": True, "channel": "facebook_api"},
                 "instagram": {"enabled": True, "channel": "instagram_api"}},
    }), encoding="utf-8")
    return path


def meta_message(folder: Path) -> Path:
    """The example message with an image for Instagram in its front matter."""
    text = MESSAGE.read_text(encoding="utf-8")
    head, rest = text.split("\ndate:", 1)
    target = folder / MESSAGE.name
    target.write_text(f"{head}\nimage:\n  url: {IMAGE}\n  alt: {ALT}\ndate:{rest}", encoding="utf-8")
    return target

