"""What a run did, as rows and Markdown: for the terminal, the Prefect UI's artifacts and `status`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from budbringer.approval import Approval
from budbringer.ledger import Record

if TYPE_CHECKING:
    from budbringer.cascade import Outcome, Prepared

#: the columns of a delivery, in the Prefect UI's table artifact and in `budbringer status`


def _time(record_or_outcome: object) -> str:
    """When it was delivered (the receipt's time), else when the attempt ended, in UTC."""
    receipt = getattr(record_or_outcome, "receipt", None)
    when = receipt.delivered_at if receipt else getattr(record_or_outcome, "finished_at", None)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else ""


def _receipt(receipt: object, error: str | None, links: bool = False) -> str:
    """The receipt as a link where the provider gave one (a page, a post), else its id; else the error."""
    if receipt is None:
        return error or ""
    url = getattr(receipt, "url", "") or ""
    provider_id = getattr(receipt, "provider_id", "") or ""
    if url.startswith(("http://", "https://")):
        return f"[{provider_id or url}]({url})" if links else url
    return url or provider_id


def outcome_rows(outcomes: Iterable[Outcome], links: bool = True) -> list[dict[str, str]]:
    """One row per delivery of a run, for the run's table artifact.

    The Prefect UI renders Markdown in table cells, so a receipt with a web address (a SharePoint page, a
    LinkedIn post) becomes a link there; `links=False` gives the bare address (for a terminal).
    """
    return [
        {
            "forum": o.forum,
            # not "2. hmu": the Prefect UI renders Markdown in cells, and "2. " starts a list numbered "1."
            "tier": f"{o.tier_index} · {o.tier}",
            "channel": o.channel,
            "state": o.state,
            "receipt": _receipt(o.receipt, o.error, links),
            "time": _time(o),
        }
        for o in sorted(outcomes, key=lambda o: (o.tier_index, o.forum))
    ]


def record_rows(records: Iterable[Record]) -> list[dict[str, str]]:
    """One row per delivery in the ledger: the artifact's columns, with the message and the attempts."""
    return [
        {
            "message": r.message_id,
            "forum": r.forum,
            "tier": f"{r.tier_index}. {r.tier}",
            "channel": r.channel,
            "state": r.state.value,
            "receipt": _receipt(r.receipt, r.error),
            "time": _time(r),
            "attempts": str(r.attempts),
        }
        for r in records
    ]


def summary_markdown(prepared: Prepared, approval: Approval, outcomes: list[Outcome], late: str = "") -> str:
    """The run's summary; `late` says when the approval came after its deadline (`Status.late_note`)."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.state] = counts.get(outcome.state, 0) + 1
    lines = [
        f"# {prepared.message.title}",
        "",
        f"- **Message**: `{prepared.message.id}`",
        f"- **Approved by** {approval.approved_by} under *{approval.reference}* "
        f"at {approval.approved_at:%Y-%m-%d %H:%M} UTC (approval {approval.id}, hash `{approval.hash[:12]}`)",
    ]
    if late:
        lines.append(f"- **Approved late**: {late}")
    if approval.override_order:
        lines.append(f"- **Order overridden by the chair**: {approval.override_reason}")
    lines.append("- **Deliveries**: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    warnings = [f for f in prepared.findings if f.severity == "warning"]
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- {w.forum}: {w.text}" for w in warnings]
    problems = [o for o in outcomes if not o.ok]
    if problems:
        lines += ["", "## Needs attention", ""] + [f"- {o.forum}: **{o.state}** — {o.error}" for o in problems]
    return "\n".join(lines) + "\n"


def table(rows: list[dict[str, str]], columns: Iterable[str] | None = None) -> str:
    """A plain-text table (no colours, so it reads the same in a log, a pipe or a terminal)."""
    if not rows:
        return "(nothing)"
    cols = list(columns or rows[0].keys())
    cells = [[str(row.get(c, "")) for c in cols] for row in rows]
    widths = [min(max(len(c), *(len(r[i]) for r in cells)), 70) for i, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        return "  ".join(v[:w].ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(cols), line(["-" * w for w in widths]), *(line(r) for r in cells)])
