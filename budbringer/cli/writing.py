"""The author's commands, before anything is sent: `init` (a starter folder), `new` (next month's message),
`check` and `preview` (every variant rendered, with its readability and findings) and `plan` (the plan as an
overview or a Danish document). None of them imports Prefect."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from budbringer.cli.entry import EXIT_OK, load_plan
from budbringer.errors import InputError, Problem, mask_secrets

if TYPE_CHECKING:
    from budbringer.plan import Plan


def cmd_init(args: argparse.Namespace) -> int:
    from budbringer import starter

    written = starter.write(args.folder)
    folder = Path(args.folder)
    print(f"{len(written)} files written to {folder}/: config/plan.yaml, templates/, messages/")
    messages = sorted(p.name for p in written if p.parent.name == "messages")
    print(f"Next: cd {folder} && budbringer check messages/{messages[0] if messages else '<message>.md'}")
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    """Next month's message as a skeleton (budbringer/skeleton.py), dated by the plan's calendar from now."""
    import datetime as dt

    from budbringer import skeleton
    from budbringer.clock import default_clock

    meeting = None
    if args.meeting:
        try:
            meeting = dt.date.fromisoformat(args.meeting)
        except ValueError:
            raise InputError([Problem("budbringer new", "--meeting", f"{args.meeting!r} is not a date",
                                      "give the meeting as YYYY-MM-DD, e.g. --meeting 2027-01-14")]) from None
    path, dates, skipped = skeleton.write(load_plan(args.plan), args.messages, default_clock(), meeting)
    for day in skipped:
        print(f"note: the OC meeting on {day.isoformat()} is skipped: its approval deadline has passed")
    print(f"{path} written: the message for the OC meeting on {dates.meeting.isoformat()}; approval is asked "
          f"for on {dates.request_at:%Y-%m-%d %H:%M} and due on {dates.deadline:%Y-%m-%d %H:%M}.")
    for other in skeleton.same_month(path):
        print(f"note: {other} is for the same month; the monthly run takes exactly one file per month: move one")
    print(f"Next: fill in every empty field (see docs/skriv-et-budskab.md), then `budbringer check {path}`, "
          "which names each field still empty")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Render every variant, print its readability figures, list the findings; blocking findings exit 1."""
    from budbringer import cascade, web_address

    plan, message, variants, review, findings = _checked(args)
    findings = findings + web_address.findings(plan)  # the links in the request mail, not the message's texts
    problems = cascade.preflight(plan) + _sign_in_problems(plan)
    print(f"{message.path}: {len(variants)} variants rendered for {len({v.tier for v in variants})} tiers; "
          f"approval hash {_approval_hash(variants)[:12]}")
    _figures_table(variants, review.figures)
    _sources_table(plan, message, variants)
    _print_findings(plan, findings, args)
    blocking = [f for f in findings if f.severity == "error"]
    if blocking or problems:
        raise InputError(problems + _blocking(message, blocking))
    print("ok: nothing was sent")
    return EXIT_OK


def _sign_in_problems(plan: object) -> list:  # type: ignore[type-arg]
    """With Entra ID sign-in on the approval pages, what `web` and `serve` refuse to start with (the client
    secret missing; with sign-in required, a member without an object id): said by `check` too, before the
    day the pages are needed."""
    if getattr(getattr(plan, "approval", None), "sign_in", None) is None:
        return []
    from budbringer.web import signin

    return signin.configuration_problems(plan)  # type: ignore[arg-type]


def _checked(args: argparse.Namespace) -> tuple:  # type: ignore[type-arg]
    """What `cascade.prepare` does, without stopping at a blocking finding: check and preview show them all."""
    from budbringer import cascade, checks, deadlines, delivery_dates, message as message_, readability, render

    plan = load_plan(args.plan)
    message = message_.load(args.message, plan)
    variants = render.render_variants(plan, message)
    review = readability.review(plan, variants, message.words)
    findings = checks.all_findings(plan, message, variants, review, (
        cascade.channel_findings(plan, variants)
        + delivery_dates.findings(plan, message, variants, now=deadlines.local_now(plan))))
    return plan, message, variants, review, findings


def _blocking(message: object, blocking: Sequence) -> list:  # type: ignore[type-arg]
    from budbringer import checks

    return checks.blocking_problems(str(message.path), list(blocking))  # type: ignore[attr-defined]


def _approval_hash(variants: Sequence) -> str:  # type: ignore[type-arg]
    from budbringer import approval

    return approval.approval_hash({v.forum: v.content_hash for v in variants})


def _figures_table(variants: Sequence, figures: dict) -> None:  # type: ignore[type-arg]
    """The readability figures of every variant as a table (rich), the way an editor reads them."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Readability of each variant (headline and prose; greetings, headings and sign-offs "
                        "not counted)", title_justify="left", show_lines=False)
    for column, justify in (("forum", "left"), ("group", "left"), ("words", "right"), ("sentences", "right"),
                            ("LIX / max", "right"), ("long words", "right"), ("longest", "right"),
                            ("> 25 words", "right"), ("address", "left"), ("glossary terms", "left"),
                            ("repeated passages", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for variant in variants:
        f = figures[variant.forum]
        lix = f"{f.lix:.0f} / {f.max_lix}"
        table.add_row(f.forum, f.stakeholder, str(f.words), str(f.sentences),
                      f"[bold red]{lix}[/]" if f.over_ceiling else lix, f"{f.long_share:.0f}%", str(f.longest),
                      str(len(f.long_sentences)), f.address or "-", ", ".join(f.terms) or "-",
                      str(len(f.repeated)))
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(table)


def _print_findings(plan: object, findings: Sequence, args: argparse.Namespace) -> None:  # type: ignore[type-arg]
    """The findings once per message field, by consequence, in the author's language (--lang, else the locale)."""
    from budbringer import catalogue
    from budbringer.findings import for_author, summary

    lang = catalogue.language(getattr(args, "lang", None))
    shown = for_author(findings, {n: f.title for n, f in plan.fora.items()}, lang)  # type: ignore[attr-defined]
    print(catalogue.say("Findings: {summary}", lang, summary=summary(shown, lang)))
    for finding in shown:
        print(f"  {finding.line()}")


def _sources_table(plan: object, message: object, variants: Sequence) -> None:  # type: ignore[type-arg]
    """Where each part of every forum's text comes from: its own or shared text, its group's, the timeline and
    the template (a field from a text written for another reader is marked ✗)."""
    from budbringer import render

    print("Sources of each forum's text (✗: written for another reader)")
    for sources in render.text_sources(plan, message, list(variants)):  # type: ignore[arg-type]
        print(f"  {sources.forum}: {render.sources_line(sources)}")


def cmd_preview(args: argparse.Namespace) -> int:
    """The approval page without buttons, and each variant on its own page, as static files (Danish)."""
    from budbringer import cascade
    from budbringer.web import pages

    plan, message, variants, review, findings = _checked(args)
    prepared = cascade.Prepared(plan, message, variants, findings)
    out = Path(args.out or Path("preview") / prepared.message.id)
    if out.exists() and not out.is_dir():
        raise InputError([Problem(str(out), "--out", "is an existing file; the preview is a folder of pages",
                                  "give a folder (new, or one that holds an earlier preview)")])
    out.mkdir(parents=True, exist_ok=True)
    from budbringer import render

    request = render.render_approval_request(prepared.plan, prepared.message, prepared.variants,
                                             prepared.findings, prepared.approval_hash,
                                             quality={forum: figures.line_da()
                                                      for forum, figures in review.figures.items()})
    quality = pages.readability_figures(prepared)
    (out / "00-approval.html").write_text(pages.render("mail.html.j2", title=request.subject, mail=request),
                                          encoding="utf-8")
    links = {f"Anmodningen om godkendelse (mailen til {prepared.plan.approval.title.lower()})": "00-approval.html"}
    for tier in pages.tiers(prepared, quality):
        for view in tier.variants:
            variant = view.variant
            name = f"{variant.tier_index:02d}-{variant.forum}.html"
            (out / name).write_text(pages.render("variant.html.j2", title=variant.forum_title, view=view,
                                                 tier=tier, message=prepared.message), encoding="utf-8")
            links[f"Trin {tier.index}: {variant.forum_title} ({view.medium})"] = name
    (out / "index.html").write_text(pages.approval_page(prepared, None, links=links, quality=quality),
                                    encoding="utf-8")
    print(f"{len(links) - 1} variants and the approval request written with the page the approvers see "
          f"(without buttons), with each variant's readability figures; open {(out / 'index.html').resolve()}")
    _sources_table(plan, message, variants)
    _print_findings(plan, findings, args)
    blocking = [f for f in findings if f.severity == "error"]
    if blocking:
        raise InputError(_blocking(message, blocking))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    """The plan, as text or as a Danish document; masked (`mask_secrets`) like every error, whatever it holds."""
    plan = load_plan(args.plan)
    if args.format != "text":
        from budbringer.web import plan_document

        text = plan_document.html_document(plan) if args.format == "html" else plan_document.markdown_document(plan)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
            print(f"the plan as a Danish document ({args.format}): {Path(args.out).resolve()}")
        else:
            sys.stdout.write(text)
        return EXIT_OK
    import contextlib
    import io

    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        _plan_text(plan)
    sys.stdout.write(mask_secrets(shown.getvalue()))
    return EXIT_OK


def _plan_text(plan: Plan) -> None:
    policy = plan.approval
    print(f"{plan.name}\n({plan.path})\n")
    print(f"Vision: {plan.narrative.vision}  ·  Aim: {plan.narrative.aim}\n")
    alone = "may approve alone" if policy.chair_may_approve_alone else "approves with the others"
    print(f"Approval: {policy.title} — chair {policy.chair} ({alone}); otherwise {policy.members_required} of "
          f"{len(policy.members)} members: {', '.join(m.name for m in policy.members)}\n")
    for index, tier in enumerate(plan.tiers, start=1):
        print(f"{index}. {tier.title} [{tier.name}, {tier.phase}]")
        for name in tier.fora:
            forum = plan.fora[name]
            channel = plan.channels[forum.channel]
            state = "" if forum.enabled else f"  (disabled: {forum.disabled_reason or 'later phase'})"
            to = ", ".join(forum.address.reach())
            print(f"   - {forum.title} ({name}): {forum.stakeholder}, {forum.medium} via {forum.channel} "
                  f"({channel.type}){' → ' + to if to else ''}{state}")
            if forum.informs:
                print(f"       passes it on to: {', '.join(forum.informs)}")
            if forum.meetings:
                print(f"       meetings: {', '.join(d.isoformat() for d in forum.meetings)}")


