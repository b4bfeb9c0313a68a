"""The explicit registry: the `type:` name in config/plan.yaml → the adapter class.

Adding a channel means adding its class to ADAPTERS. A name taken twice is an error at start-up. The entry
point (the CLI, the flows) hands `REGISTRY` to the domain; pyproject.toml also declares ADAPTERS under the
entry-point group `budbringer.channels`, for callers that load a plan without one.
"""

from __future__ import annotations

from budbringer.adapters.base import Adapter, Registry
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

REGISTRY = Registry(ADAPTERS)


def get(type_name: str) -> type[Adapter] | None:
    return REGISTRY.get(type_name)


def names() -> list[str]:
    return REGISTRY.names()
