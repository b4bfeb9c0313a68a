"""The explicit registry: the `type:` name in config/plan.yaml → the adapter class.

Adding a channel means adding its class to ADAPTERS. A name taken twice is an error at start-up.
"""

from __future__ import annotations

from budbringer.adapters.base import Adapter
from budbringer.adapters.facebook_page import FacebookPageAdapter
from budbringer.adapters.graph_mail import GraphMailAdapter
from budbringer.adapters.instagram import InstagramAdapter
from budbringer.adapters.linkedin import LinkedInAdapter
from budbringer.adapters.memory import MemoryAdapter
from budbringer.adapters.newsletter import NewsletterAdapter
from budbringer.adapters.outbox import OutboxAdapter
from budbringer.adapters.sharepoint_news import SharePointNewsAdapter
from budbringer.adapters.smtp import SmtpAdapter
from budbringer.adapters.webhook import WebhookAdapter

ADAPTERS: tuple[type[Adapter], ...] = (
    OutboxAdapter,
    MemoryAdapter,
    LinkedInAdapter,
    WebhookAdapter,
    NewsletterAdapter,
    GraphMailAdapter,
    SharePointNewsAdapter,
    SmtpAdapter,
    FacebookPageAdapter,
    InstagramAdapter,
)


def _index(classes: tuple[type[Adapter], ...]) -> dict[str, type[Adapter]]:
    index: dict[str, type[Adapter]] = {}
    for cls in classes:
        if cls.type in index:
            raise RuntimeError(f"adapter type {cls.type!r} is registered twice: "
                               f"{index[cls.type].__name__} and {cls.__name__}")
        index[cls.type] = cls
    return index


_BY_TYPE = _index(ADAPTERS)


def get(type_name: str) -> type[Adapter] | None:
    return _BY_TYPE.get(type_name)


def names() -> list[str]:
    return sorted(_BY_TYPE)
