"""An in-memory outbox, as Django's locmem backend: deliveries are kept in `SENT` for tests to inspect.

`refuse` lists fora this channel answers with a permanent failure, so that tests can exercise a failed
delivery through the same code path production uses.
"""

from __future__ import annotations

import builtins
import threading
from typing import ClassVar

from budbringer.adapters.addressing import EveryField
from budbringer.adapters.base import Adapter, ChannelSettings, ForumAddressing
from budbringer.delivery import Delivery, Receipt
from budbringer.errors import PermanentDeliveryError

SENT: list[Delivery] = []
_lock = threading.Lock()


class MemorySettings(ChannelSettings):
    refuse: list[str] = []


class MemoryAdapter(Adapter):
    type: ClassVar[str] = "memory"
    label: ClassVar[str] = "hukommelse (test)"
    Addressing: ClassVar[builtins.type[ForumAddressing]] = EveryField
    media: ClassVar[frozenset[str]] = frozenset({"mail", "page", "post", "submission", "web"})
    delivers_to_people: ClassVar[bool] = False
    Settings = MemorySettings
    settings: MemorySettings

    def deliver(self, delivery: Delivery) -> Receipt:
        if delivery.forum in self.settings.refuse:
            raise PermanentDeliveryError(self.name, delivery.forum, "refused by the memory channel's settings",
                                         "remove the forum from `refuse`")
        with _lock:
            SENT.append(delivery)
            number = len(SENT)
        return Receipt(provider="memory", provider_id=f"memory-{number}")

    def find(self, delivery: Delivery) -> Receipt | None:
        with _lock:
            for index, sent in enumerate(SENT, start=1):
                if sent.key == delivery.key:
                    return Receipt(provider="memory", provider_id=f"memory-{index}")
        return None


def clear() -> None:
    with _lock:
        SENT.clear()
