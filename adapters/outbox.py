"""The local outbox: every delivery becomes a file a person can open.

Mail and newsletter submissions are `.eml` files (open them in any mail program), pages are `.html`, posts
and webhook payloads are `.json`. Files go to `<path>/<message>/<NN-tier>/<forum>.<ext>`. The default plan
delivers every channel here, so a new user sees the whole cascade run with nothing configured.
"""

from __future__ import annotations

import builtins
import datetime as dt
import email.utils
import json
import os
import tempfile
from pathlib import Path
from typing import ClassVar

from budbringer.adapters.addressing import EveryField
from budbringer.adapters.base import Adapter, ChannelSettings, ForumAddressing
from budbringer.adapters.mailformat import HEADER, build_mail
from budbringer.delivery import Delivery, Receipt
from budbringer.reach_reading import ReachReading, ReachSubject
from budbringer.errors import PermanentDeliveryError, Problem
from budbringer.plan import Email

__all__ = ["HEADER", "OutboxAdapter", "OutboxSettings"]

_FOLDER_FIX = "point the channel's `path` at a folder you can write to (or make this one writable)"


class OutboxSettings(ChannelSettings):
    path: str = "outbox"
    sender: Email = "kommunikation@socialomraadet.example"  # an address: no line breaks reach the From header


class OutboxAdapter(Adapter):
    type: ClassVar[str] = "outbox"
    label: ClassVar[str] = "lokal udbakke (filer)"
    Addressing: ClassVar[builtins.type[ForumAddressing]] = EveryField
    media: ClassVar[frozenset[str]] = frozenset({"mail", "page", "post", "submission", "web"})
    delivers_to_people: ClassVar[bool] = False
    Settings = OutboxSettings
    settings: OutboxSettings

    @property
    def root(self) -> Path:
        return Path(self.settings.path)

    def path_for(self, delivery: Delivery) -> Path:
        variant = delivery.variant
        ext = {"mail": "eml", "submission": "eml", "page": "html"}.get(variant.medium, "json")
        return self.root / delivery.message_id / f"{variant.tier_index:02d}-{variant.tier}" / f"{variant.forum}.{ext}"

    def deliver(self, delivery: Delivery) -> Receipt:
        target = self.path_for(delivery)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, self._content(delivery, target.suffix))
        except OSError as exc:  # written whole or not at all (_write_atomically): nothing was delivered
            raise PermanentDeliveryError(self.name, delivery.forum, f"the outbox file {target} cannot be written "
                                         f"({exc.strerror or exc})", _FOLDER_FIX) from None
        return self._receipt(target)

    def find(self, delivery: Delivery) -> Receipt | None:
        target = self.path_for(delivery)
        if target.is_file() and delivery.key in target.read_text(encoding="utf-8"):
            return self._receipt(target)
        return None

    def reach(self, subject: ReachSubject) -> ReachReading:
        return ReachReading.not_measured("files in a folder on this machine: no one is counted")

    def preflight(self) -> list[Problem]:
        """The outbox must be a folder this process can write in: tried by writing (and removing) a file in it,
        or in the nearest folder that exists, since permission bits alone miss a read-only disk and ACLs."""
        probe = self.root
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            what = (f"{self.root} is a file, not a folder" if probe == self.root
                    else f"{probe} (on the way to {self.root}) is a file, not a folder")
            return [Problem(f"channels.{self.name}", "path", what, _FOLDER_FIX)]
        try:
            with tempfile.TemporaryFile(dir=probe, prefix=".budbringer-check-"):
                pass
        except OSError as exc:
            return [Problem(f"channels.{self.name}", "path", f"{self.root} cannot be written to "
                            f"({exc.strerror or exc}, in {probe})", _FOLDER_FIX)]
        return []

    def _receipt(self, target: Path) -> Receipt:
        return Receipt(provider="outbox", provider_id=str(target))

    def _content(self, delivery: Delivery, suffix: str) -> str:
        variant = delivery.variant
        if suffix == ".eml":
            mail = build_mail(delivery, self.settings.sender, sent_at=dt.datetime.now(dt.UTC),
                              message_id=email.utils.make_msgid(idstring=delivery.short_key,
                                                                domain="budbringer.local"))
            return mail.as_string()
        if suffix == ".html":
            return (f'<!doctype html>\n<html lang="da">\n<head>\n<meta charset="utf-8">\n'
                    f'<meta name="budbringer-delivery" content="{delivery.key}">\n'
                    f"<title>{_escape(variant.subject)}</title>\n</head>\n<body>\n{variant.body}\n</body>\n</html>\n")
        payload = {
            "delivery": delivery.key,
            "forum": variant.forum,
            "title": variant.subject,
            "summary": variant.summary,
            "link": variant.link,
            "format": variant.body_format,
            "body": variant.body,
        }
        return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _write_atomically(target: Path, content: str) -> None:
    """A crash mid-write leaves either no file or the whole file, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
