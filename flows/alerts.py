"""Alerts: operators are told when a Budbringer run fails or crashes, or a delivery's outcome is uncertain.

Two Prefect automations on the server, both calling one webhook block (`budbringer-alerts`), created by one
command:

    BUDBRINGER_ALERT_WEBHOOK_URL='https://…' budbringer alerts setup            # or --webhook-url URL

- `budbringer-run-failed`: a flow run of any `budbringer-*` flow (the manual send, the monthly briefing,
  the preview) ends Failed or Crashed.
- `budbringer-delivery-uncertain`: a run emitted `budbringer.delivery.uncertain` (`emit_uncertain` below):
  a delivery may or may not have reached its forum and a person must settle it (`budbringer status`).

The webhook is a Microsoft Teams "Workflows" webhook (`--format teams`: an Adaptive Card in the channel), a
Power Automate "When an HTTP request is received" flow (`--format json`, the default; add a "Send an email"
step to alert by mail), or any endpoint that takes a JSON POST. The URL carries its own credential (a SAS
signature): it is kept in a Prefect `Webhook` block as a secret, and is never printed or logged here.

Run `setup` again to change the URL or the format: the block and the automations are replaced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

UNCERTAIN_EVENT = "budbringer.delivery.uncertain"
BLOCK_NAME = "budbringer-alerts"
FAILED_AUTOMATION = "budbringer-run-failed"
UNCERTAIN_AUTOMATION = "budbringer-delivery-uncertain"
#: the flows an alert watches: every flow Budbringer deploys is named budbringer-…
FLOWS = "budbringer-*"
FORMATS = ("json", "teams")


def emit_uncertain(message_id: str, forum: str, detail: str, key: str = "", channel: str = "") -> None:
    """Tell the server that a delivery's outcome is uncertain: the `budbringer-delivery-uncertain`
    automation alerts the operators.

    Call it from a flow or task (send_flow calls it for every outcome in state "uncertain"); inside a run,
    Prefect relates the event to the run, its flow and its deployment, so the alert can link to the run.
    `detail` is the delivery's error text, which never holds a secret. Never raises: an alert that cannot
    be sent must not change what the run did (Prefect logs the failure).
    """
    from prefect.events import emit_event

    emit_event(
        event=UNCERTAIN_EVENT,
        resource={
            "prefect.resource.id": f"budbringer.delivery.{key or f'{message_id}/{forum}'}",
            "prefect.resource.name": f"{message_id} → {forum}",
            "budbringer.message": message_id,
            "budbringer.forum": forum,
            "budbringer.channel": channel,
        },
        payload={"message": message_id, "forum": forum, "channel": channel, "detail": detail[:2000]},
    )


# What the webhook receives: Jinja, rendered by the server's automation service when it fires. Each text is
# rendered into a variable, then `tojson` quotes it, so the body stays valid JSON whatever a message holds.
_FAILED_TEXT = ("Budbringer: the run {{ flow_run.name }} of {{ flow.name }} ended {{ flow_run.state.name }}"
                "{% if deployment %} (deployment {{ deployment.name }}){% endif %}: {{ flow_run.state.message }}")
_UNCERTAIN_TEXT = ("Budbringer: the delivery of {{ event.payload.message }} to {{ event.payload.forum }} "
                   "({{ event.payload.channel }}) is uncertain and must be settled by hand: "
                   "{{ event.payload.detail }}. See `budbringer status {{ event.payload.message }}`.")
#: the run's page in the UI; empty unless the server knows its UI's address (PREFECT_UI_URL on the server)
_RUN_URL = "{{ (flow_run|ui_url) or '' if flow_run else '' }}"


@dataclass(frozen=True)
class AlertSetup:
    block: str
    automations: dict[str, UUID]


def payloads(fmt: str) -> dict[str, str]:
    """The two webhook bodies (Jinja templates that render to JSON)."""
    return {
        FAILED_AUTOMATION: _json_template("run-failed", "Budbringer: {{ flow.name }} {{ flow_run.state.name }}",
                                          _FAILED_TEXT, fmt),
        UNCERTAIN_AUTOMATION: _json_template("delivery-uncertain",
                                             "Budbringer: uncertain delivery to {{ event.payload.forum }}",
                                             _UNCERTAIN_TEXT, fmt),
    }


def _json_template(kind: str, title: str, text: str, fmt: str) -> str:
    """A Jinja template whose output is JSON: each text is rendered into a variable, then `tojson`-quoted."""
    sets = "".join(f"{{% set {name} %}}{value}{{% endset %}}" for name, value in (
        ("bb_title", title), ("bb_text", text), ("bb_url", _RUN_URL), ("bb_event", "{{ event.event }}"),
        ("bb_run", "{{ flow_run.name }}"), ("bb_occurred", "{{ event.occurred }}"),
        ("bb_link", "{% if bb_url | trim %}[Open the run in Prefect](" + _RUN_URL + "){% endif %}")))
    if fmt == "teams":
        shape: dict[str, Any] = {
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard", "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "@@bb_title@@", "weight": "Bolder", "size": "Medium",
                         "wrap": True},
                        {"type": "TextBlock", "text": "@@bb_text@@", "wrap": True},
                        {"type": "TextBlock", "text": "@@bb_link@@", "wrap": True},
                    ],
                },
            }],
        }
    else:
        shape = {"source": "budbringer", "kind": kind, "title": "@@bb_title@@", "text": "@@bb_text@@",
                 "event": "@@bb_event@@", "flow_run": "@@bb_run@@", "url": "@@bb_url@@",
                 "occurred": "@@bb_occurred@@"}
    body = json.dumps(shape, ensure_ascii=False)
    for name in ("bb_title", "bb_text", "bb_url", "bb_event", "bb_run", "bb_occurred", "bb_link"):
        body = body.replace(f'"@@{name}@@"', f"{{{{ {name} | trim | tojson }}}}")
    return sets + body


async def asetup(webhook_url: str, fmt: str = "json") -> AlertSetup:
    """Store the webhook in a block and (re)create both automations. Returns their ids; never the URL."""
    from pydantic import SecretStr

    from prefect.automations import Automation, CallWebhook, EventTrigger, Posture
    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.events import ResourceSpecification

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if not webhook_url.startswith(("https://", "http://")):
        raise ValueError("the webhook URL must start with https:// (http:// only for a local test receiver)")
    block = Webhook(method="POST", url=SecretStr(webhook_url), allow_private_urls=True)
    block_id = await block.save(BLOCK_NAME, overwrite=True)
    bodies = payloads(fmt)
    async with get_client() as client:
        for existing in await client.read_automations_by_name(FAILED_AUTOMATION) + \
                await client.read_automations_by_name(UNCERTAIN_AUTOMATION):
            await client.delete_automation(existing.id)
    failed = Automation(
        name=FAILED_AUTOMATION,
        description="Alert the operators when a Budbringer run fails or crashes (budbringer alerts setup).",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related=ResourceSpecification({"prefect.resource.role": "flow",
                                                 "prefect.resource.name": FLOWS}),
            posture=Posture.Reactive, threshold=1, within=0),
        actions=[CallWebhook(block_document_id=block_id, payload=bodies[FAILED_AUTOMATION])],
    )
    uncertain = Automation(
        name=UNCERTAIN_AUTOMATION,
        description="Alert the operators when a delivery's outcome is uncertain (budbringer alerts setup).",
        trigger=EventTrigger(
            expect={UNCERTAIN_EVENT}, match={"prefect.resource.id": "budbringer.delivery.*"},
            posture=Posture.Reactive, threshold=1, within=0),
        actions=[CallWebhook(block_document_id=block_id, payload=bodies[UNCERTAIN_AUTOMATION])],
    )
    created = {}
    for automation in (failed, uncertain):
        made = await automation.acreate()
        created[made.name] = made.id
    return AlertSetup(BLOCK_NAME, created)


def setup(webhook_url: str, fmt: str = "json") -> AlertSetup:
    import asyncio

    return asyncio.run(asetup(webhook_url, fmt))
