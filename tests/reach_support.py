"""What the reach tests share: LinkedIn's stand-in with the channel's variables set, a plan with the reach
channels, a variant that was sent, and a message recorded as delivered with its receipts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from budbringer.approval import Approval
from budbringer.delivery import Delivery, Receipt
from budbringer.ledger import Ledger
from budbringer.render import Variant
from tests.conftest import PLAN, ROOT
from tests.servers.https import HTTPSServer
from tests.servers.linkedin import LinkedInEmulator


@contextmanager
def linkedin_stand_in(ca: trustme.CA, monkeypatch: pytest.MonkeyPatch, token: str,
                      organization: str) -> Iterator[LinkedInEmulator]:
    """LinkedIn's stand-in over HTTPS, with the variables the LinkedIn channel reads when it is built."""
    emulator = LinkedInEmulator(token, organization)
    with HTTPSServer(emulator, ca) as server:
        monkeypatch.setenv("BUDBRINGER_LINKEDIN_URL", server.url)
        monkeypatch.setenv("BUDBRINGER_LINKEDIN_TOKEN", token)
        monkeypatch.setenv("BUDBRINGER_LINKEDIN_ORGANIZATION", organization)
        yield emulator


def reach_plan(folder: Path, channels: Mapping[str, Any], **sections: Any) -> Path:
    """The shipped plan with these channels added (and any top-level `sections`, e.g. reach), in `folder`."""
    base = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    base["channels"].update(channels)
    base["templates"] = str(ROOT / "templates")
    base.update(sections)
    path = folder / "reach-plan.yaml"
    path.write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    return path


def sent_variant(forum: str, channel: str, subject: str, body: str, **fields: Any) -> Variant:
    """A variant as sent to `forum` (a post to others unless `fields` say otherwise)."""
    shape: dict[str, Any] = {"forum_title": forum, "tier": "t", "tier_index": 1, "phase": "publish",
                             "medium": "post", "template": "x", "stakeholder": "others", "body_format": "text",
                             "summary": subject, "link": None, **fields}
    return Variant(forum=forum, channel=channel, subject=subject, body=body, **shape)


def record_delivered(ledger: Ledger, message: str, receipts: Mapping[tuple[str, str], Receipt],
                     variant: Callable[[str, str], Variant], approved_by: str = "Mette Lund") -> None:
    """Record `message` as approved and delivered to each (forum, channel) with its receipt, at the clock's
    now; `variant(forum, channel)` is what was sent."""
    approval = ledger.record_approval(Approval(
        message_id=message, variant_hashes={f: variant(f, c).content_hash for f, c in receipts},
        approved_by=approved_by, reference="Styregruppemøde, punkt 2"))
    for (forum, channel), receipt in receipts.items():
        delivery = Delivery(message, variant(forum, channel), channel, approval_id=approval.id or 0)
        ledger.claim(delivery)
        ledger.delivered(delivery.key, receipt)
