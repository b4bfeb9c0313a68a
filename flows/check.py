"""Check and preview a message as a Prefect run: what the steering group will be asked to approve.

Runs the same checks as `budbringer check` (plan, message, templates, lengths, readability, channel
credentials) and shows the result in the Prefect UI: a table of every variant (forum, tier, channel, subject,
content hash) and a Markdown artifact with the findings, the approval hash and every variant's text. Nothing
is sent and nothing is written to the ledger. Deployed as `budbringer-check/preview` (prefect.yaml).
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from budbringer import cascade, catalogue, render
from budbringer.adapters.registry import REGISTRY
from budbringer.checks import plain_text
from budbringer.errors import InputError
from budbringer.findings import for_author
from budbringer.render import Variant


def _text(variant: Variant, limit: int = 1200) -> str:
    """A variant's body as plain text for the preview artifact (the UI shows Markdown, not mail HTML)."""
    body = re.sub(r"\n\s*\n+", "\n\n", plain_text(variant)).strip()
    return body if len(body) <= limit else body[:limit].rstrip() + " …"


@flow(name="budbringer-check", log_prints=True)
def check_flow(message: str, plan: str | None = None) -> dict[str, object]:
    """Check a message against the plan and publish a preview of every variant as artifacts. Sends nothing."""
    from budbringer import plan as plan_
    from budbringer.settings import Settings

    logger = get_run_logger()
    settings = Settings.read(plan)  # this flow run's entry point: the settings read once
    prepared = cascade.prepare(plan_.load(settings.plan_file, REGISTRY, settings.environ),
                               str(Path(message).resolve()), settings.environ)
    problems = cascade.preflight(prepared.plan, environ=settings.environ)
    shown = for_author(prepared.findings, {n: f.title for n, f in prepared.plan.fora.items()},
                       catalogue.language(environ=settings.environ))
    for finding in shown:
        logger.warning("%s", finding.line())
    key = re.sub(r"[^a-z0-9-]+", "-", prepared.message.id.lower()).strip("-")
    ordered = sorted(prepared.variants, key=lambda v: (v.tier_index, v.forum))
    create_table_artifact(
        key=f"preview-{key}",
        table=[{"forum": v.forum_title, "tier": f"{v.tier_index} · {v.tier}", "channel": v.channel,
                "medium": v.medium, "subject": v.subject, "content hash": v.content_hash[:12]}
               for v in ordered],
        description=f"Variants of {prepared.message.id} (nothing was sent)")
    lines = [f"# Preview: {prepared.message.title}", "",
             f"- **Message**: `{prepared.message.id}`",
             f"- **Approval hash**: `{prepared.approval_hash}` ({len(prepared.variants)} variants)",
             "- **Nothing was sent.** Approve with `budbringer send … --approved-by … --approval-ref …` or the "
             "`budbringer-send/manual` deployment."]
    if problems:
        lines += ["", "## Problems (the send would stop here)", ""]
        lines += [f"- `{p.file}` {p.field}: {p.what} — {p.fix}" for p in problems]
    lines += ["", "## Sources of each forum's text", ""]
    lines += [f"- `{s.forum}`: {render.sources_line(s)}"
              for s in render.text_sources(prepared.plan, prepared.message, prepared.variants)]
    if shown:
        lines += ["", "## Findings", ""] + [f"- {f.line()}" for f in shown]
    for variant in ordered:
        lines += ["", f"## {variant.tier_index}. {variant.forum_title} ({variant.channel}, {variant.medium})", "",
                  f"**{variant.subject}**", "", "```text", _text(variant), "```"]
    create_markdown_artifact(key=f"preview-text-{key}", markdown="\n".join(lines) + "\n",
                             description=f"Preview of {prepared.message.id}")
    if problems:
        raise InputError(problems)
    logger.info("%s: %d variants, approval hash %s; nothing was sent", prepared.message.id,
                len(prepared.variants), prepared.approval_hash[:12])
    return {"message": prepared.message.id, "approval_hash": prepared.approval_hash,
            "variants": len(prepared.variants), "findings": len(prepared.findings)}
