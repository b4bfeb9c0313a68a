"""A toy channel, to show (and test) that a channel is one module and one registry entry: a notice board in a
folder. Each delivery pins one notice, a text file under `<folder>/<board>/`; `find` looks it up by the
delivery's key, so a lost answer is found instead of pinned twice.

Its settings (`folder`) are the channel's; its addressing (`board`: which board a forum's notices go on) is
the forum's, declared here and checked by `budbringer.plan` when the plan is loaded. docs/adding-a-channel.md
walks through a real one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from budbringer.adapters.base import Adapter, ChannelSettings, ForumAddressing
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import PermanentDeliveryError
from budbringer.plan import Plan


class NoticeBoardSettings(ChannelSettings):
    folder: str = Field(description="The folder the boards are in.")


class Board(ForumAddressing):
    board: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")] = Field(
        description="The board the forum's notices are pinned on (a folder name: lower-case letters, digits, -).")

    def reach(self) -> list[str]:
        return [f"opslagstavlen {self.board}"]


class NoticeBoardAdapter(Adapter):
    type: ClassVar[str] = "notice_board"
    label: ClassVar[str] = "opslagstavle"
    Addressing: ClassVar[type[ForumAddressing]] = Board
    media: ClassVar[frozenset[str]] = frozenset({"web", "post"})
    Settings = NoticeBoardSettings
    settings: NoticeBoardSettings

    def bind(self, plan: Plan, channels: Mapping[str, Adapter]) -> None:
        """Learn each forum's board (a forum's addressing is read from the plan, as the newsletter channel
        learns its issues)."""
        self.boards = {name: forum.address for name, forum in plan.fora.items() if forum.channel == self.name}

    def _notice(self, delivery: Delivery) -> Path:
        address = self.boards.get(delivery.forum)
        if not isinstance(address, Board):
            raise PermanentDeliveryError(self.name, delivery.forum, "the forum is not on this channel in the plan",
                                         "check the forum's `channel:` in the plan")
        name = hashlib.sha256(delivery.key.encode()).hexdigest()[:16]
        return Path(self.settings.folder) / address.board / f"{name}.txt"

    def deliver(self, delivery: Delivery) -> Receipt:
        notice = self._notice(delivery)
        notice.parent.mkdir(parents=True, exist_ok=True)
        notice.write_text(f"{delivery.variant.subject}\n\n{delivery.variant.body}", encoding="utf-8")
        return Receipt(provider=self.type, provider_id=notice.name, delivered_at=self.clock())

    def find(self, delivery: Delivery) -> Receipt | None:
        notice = self._notice(delivery)
        return Receipt(provider=self.type, provider_id=notice.name, delivered_at=self.clock()) if notice.is_file() \
            else None
