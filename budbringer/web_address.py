"""Where the approvers' pages answer, as the mailed links name it, and whether the members can reach it there.

The links in a request mail (and a reminder) are `base_url(plan)/godkend/…`. Without `BUDBRINGER_WEB_URL` or the
plan's `approval.web_url` that is `http://127.0.0.1:8400`: right for a trial on one machine with the outbox,
useless in a mail to the steering group, whose click would open nothing. `check`, `serve` and `web` say so
(`unreachable_links`). Plain Python: no ledger, no Prefect, so `check` stays quick.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from budbringer.plan import Plan

if TYPE_CHECKING:
    from budbringer.settings import Settings
    from budbringer.checks import Finding  # imported when there is a finding to make

#: where `budbringer web` (and so `serve`) answers when nothing else is set
DEFAULT = "http://127.0.0.1:8400"


def base_url(plan: Plan, given: Settings | None = None) -> str:
    """Where `budbringer web` answers: $BUDBRINGER_WEB_URL, else the plan's `approval.web_url`, else local."""
    from budbringer import settings

    url = (given or settings.current()).web_url or plan.approval.web_url or DEFAULT
    return url.rstrip("/")


def is_loopback(url: str) -> bool:
    """The address only this machine can open: localhost, 127.0.0.0/8, ::1."""
    host = (urlsplit(url).hostname or "").casefold()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unreachable_links(plan: Plan) -> str | None:
    """The links' base URL when it is a loopback address while the approval channel mails real people (a channel
    whose `delivers_to_people`, not the outbox's files); None when the links are fine or reach nobody."""
    channel = plan.channels.get(plan.approval.channel or "")
    adapter = plan.registry.get(channel.type) if channel is not None else None
    if adapter is None or not adapter.delivers_to_people:
        return None
    url = base_url(plan)
    return url if is_loopback(url) else None


def warning(plan: Plan) -> str | None:
    """The command line's warning (English) for `serve` and `web`, or None."""
    url = unreachable_links(plan)
    if url is None:
        return None
    return (f"WARNING: the approval links point at {url}, which only this machine can open, but approval requests "
            f"go to the members of {plan.approval.title} by mail (channel {plan.approval.channel}). Set "
            "BUDBRINGER_WEB_URL (or approval.web_url in the plan) to the address where they reach these pages, "
            "e.g. https://budbringer.example.dk, wherever `send` or a worker runs.")


def findings(plan: Plan) -> list[Finding]:
    """`check`'s finding (a warning about the approval, in English and Danish) when the links are unreachable."""
    url = unreachable_links(plan)
    if url is None:
        return []
    from budbringer import catalogue, checks, findings as findings_

    said = catalogue.pair(
        "the approval links point at {url}, which only this machine can open, but the approval request is mailed "
        "to the members of {group}: ask whoever runs Budbringer to set BUDBRINGER_WEB_URL (or `approval.web_url` "
        "in the plan) to the address where the members reach the approval pages",
        url=url, group=plan.approval.title)
    return [checks.Finding(findings_.APPROVAL, "warning", *said, "approval_links", "")]
