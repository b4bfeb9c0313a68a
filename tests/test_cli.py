"""The `budbringer` command: check, preview and plan, in-process and as a real process.

Bad input exits 1 with an error naming the file, the field and the fix, and nothing is delivered. `--help`,
`check` and `preview` never import Prefect.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from budbringer import cli
from budbringer.ledger import Ledger
from tests.conftest import MESSAGE, PLAN, ROOT, pinned_environment, write_plan

BUDBRINGER = Path(sys.executable).parent / "budbringer"


def run(*argv: str | Path) -> int:
    return cli.main([str(a) for a in argv])


def assert_nothing_delivered(folder: Path) -> None:
    outbox = folder / "outbox"
    assert not outbox.exists() or not any(outbox.rglob("*")), f"something was delivered: {list(outbox.rglob('*'))}"
    assert Ledger().records() == []
    assert Ledger().approvals_for("2026-11-status-udbud") == []


@pytest.mark.usefixtures("before_deadline")
def test_check_a_good_message(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--plan", PLAN, "check", MESSAGE) == 0
    out, err = capsys.readouterr()
    assert f"{MESSAGE}: 12 variants rendered for 4 tiers; approval hash " in out
    assert out.rstrip().endswith("ok: nothing was sent")
    assert err == ""
    assert_nothing_delivered(workdir)


def test_plan_given_before_or_after_the_subcommand(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = workdir / "findes-ikke.yaml"
    for argv in (["--plan", missing, "check", MESSAGE], ["check", "--plan", missing, MESSAGE]):
        assert run(*argv) == 1
        assert f"{missing}: (file): cannot be read" in capsys.readouterr().err


def test_plan_from_the_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BUDBRINGER_PLAN", str(workdir / "miljø.yaml"))
    assert run("check", MESSAGE) == 1
    assert "miljø.yaml: (file): cannot be read" in capsys.readouterr().err


def test_check_a_template_error(workdir: Path, message_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    templates = workdir / "templates"
    shutil.copytree(ROOT / "templates", templates)
    broken = templates / "network_briefing.html.j2"
    broken.write_text(broken.read_text(encoding="utf-8").replace("{{ forum.title }}", "{{ forum.titel }}", 1),
                      encoding="utf-8")
    plan = write_plan(workdir, {"templates": str(templates)})
    assert run("--plan", plan, "check", message_copy) == 1
    out, err = capsys.readouterr()
    assert "ok" not in out
    assert err.startswith("error: ")
    # One problem per forum that uses the template (the three networks), each naming file, field and fix.
    assert err.count(f"{broken}:") == 3
    assert re.search(rf"{re.escape(str(broken))}:\d+: \(variable\): .*titel", err)
    assert "fix: use only the names listed in templates/README.md" in err
    assert "nothing was sent" in err
    assert_nothing_delivered(workdir)


def test_check_a_message_naming_an_unknown_forum(workdir: Path, message_copy: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = message_copy.read_text(encoding="utf-8")
    message_copy.write_text(text.replace("date: 2026-11-23\n", "date: 2026-11-23\nfora: [oc, hmu, lmu]\n", 1),
                            encoding="utf-8")
    line = next(n for n, row in enumerate(message_copy.read_text(encoding="utf-8").splitlines(), 1)
                if row.startswith("fora:"))
    assert run("--plan", PLAN, "check", message_copy) == 1
    err = capsys.readouterr().err
    assert f"{message_copy}:{line}: fora[2]: names the unknown forum 'lmu'" in err
    assert "fix: use one of: " in err and "hmu" in err and "network_quality" in err
    assert_nothing_delivered(workdir)


def test_check_a_malformed_plan(workdir: Path, message_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = workdir / "plan.yaml"
    plan.write_text(f"extends: {PLAN}\nfora:\n  oc:\n    title: [OC-kredsen\n", encoding="utf-8")
    assert run("--plan", plan, "check", message_copy) == 1
    err = capsys.readouterr().err
    assert re.search(rf"{re.escape(str(plan))}:\d+: \(syntax\): is not valid YAML", err)
    assert "fix: fix the indentation or quoting on that line" in err
    assert_nothing_delivered(workdir)


def test_check_a_plan_with_an_unknown_field(workdir: Path, message_copy: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(workdir, {"fora": {"hmu": {"informerer": ["LMU"]}}})
    assert run("--plan", plan, "check", message_copy) == 1
    err = capsys.readouterr().err
    assert f"{plan}:4: fora.hmu.informerer: is not a known field" in err
    assert "fix: remove it or correct its spelling" in err
    assert_nothing_delivered(workdir)


@pytest.mark.usefixtures("before_deadline")
def test_preview_writes_the_approvers_page_without_buttons_and_every_variant(
        workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--plan", PLAN, "preview", MESSAGE) == 0
    out = capsys.readouterr().out
    folder = workdir / "preview" / "2026-11-status-udbud"
    index = folder / "index.html"
    assert f"12 variants and the approval request written with the page the approvers see (without buttons), " \
           f"with each variant's readability figures; open {index.resolve()}" in out
    page = index.read_text(encoding="utf-8")
    links = re.findall(r'href="([^"#:]+\.html)"', page)
    assert links == ["00-approval.html", "01-oc.html", "02-hmu.html", "02-network_quality.html",
                     "02-network_sensum.html", "02-network_health.html", "03-intranet.html",
                     "03-intranet_local.html", "04-website.html", "04-linkedin.html", "04-regional_intranet.html",
                     "04-midtnyt.html", "04-perspektiv.html"]
    for link in links:
        assert (folder / link).is_file()
    assert '<html lang="da">' in page and "Forhåndsvisning: Status på udbuddet" in page
    assert "Trin 1: OC-kredsen" in page and "Trin 4: Ekstern kommunikation" in page
    assert "<button" not in page and "<form" not in page  # the preview: the same page without buttons
    assert "Kære medlemmer af HMU" in page and "Kære medlemmer af HMU" in (folder / "02-hmu.html").read_text()
    linkedin = (folder / "04-linkedin.html").read_text(encoding="utf-8")
    assert '<div class="post-text">Kan jeres system samle dokumentationen' in linkedin and " tegn</dd>" in linkedin
    assert "Til:</dt> <dd>hmu@socialomraadet.example" in page
    assert "LIX" in page and "Fagord" in page  # each variant's readability figures, beside it
    for english in ("Approval hash", "Variants", "Findings"):
        assert english not in page
    assert_nothing_delivered(workdir)


def test_plan_prints_every_tier_and_forum(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("plan", "--plan", PLAN) == 0
    out = capsys.readouterr().out
    tiers = [line for line in out.splitlines() if re.match(r"\d\. ", line)]
    assert tiers == ["1. OC-kredsen [oc, cascade]", "2. HMU og netværkene [hmu_and_networks, cascade]",
                     "3. Medarbejderne [employees, cascade]", "4. Ekstern kommunikation [external, publish]"]
    for forum in ("oc", "hmu", "network_quality", "network_sensum", "network_health", "intranet", "intranet_local",
                  "website", "linkedin", "regional_intranet", "midtnyt", "perspektiv", "facebook", "instagram"):
        assert f"({forum}):" in out, forum
    assert "Socialområdets Facebook-side (facebook): citizens, post via social (outbox)  (disabled:" in out
    assert "passes it on to: LMU" in out
    assert "chair Mette Lund (may approve alone)" in out
    assert "Vi understøtter borgeren i at udleve ønsker, håb og drømme" in out


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run("--help")
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("check", "preview", "send", "status", "plan"):
        assert command in out


# -- as a real process ---------------------------------------------------------------------------------------

def environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUDBRINGER_")}
    env.update(BUDBRINGER_HOME=str(folder / ".budbringer"), PYTHONPATH=str(ROOT))
    return env


def test_the_console_script(workdir: Path) -> None:
    good = subprocess.run([str(BUDBRINGER), "check", str(MESSAGE)], cwd=workdir,
                          env=pinned_environment(environment(workdir)),
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert "12 variants rendered" in good.stdout  # the packaged plan, as nothing else is configured

    plan = write_plan(workdir, {"tiers": [{"name": "oc", "title": "OC", "fora": ["oc", "ocx"]}]})
    bad = subprocess.run([str(BUDBRINGER), "--plan", str(plan), "check", str(MESSAGE)], cwd=workdir,
                         env=environment(workdir), capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert f"{plan}:" in bad.stderr and "tiers[0].fora[1]: names the unknown forum 'ocx'" in bad.stderr
    assert "fix: add it under `fora:`" in bad.stderr
    assert bad.stdout == ""
    assert not (workdir / "outbox").exists()


NO_PREFECT = """
import sys
from budbringer import cli
try:
    cli.main(["--help"])
except SystemExit as exit:
    assert exit.code == 0
assert cli.main(["check", {message!r}]) == 0
assert cli.main(["preview", {message!r}, "--out", "preview"]) == 0
assert cli.main(["plan"]) == 0
loaded = sorted(name for name in sys.modules if name == "prefect" or name.startswith("prefect."))
assert not loaded, loaded
print("no prefect")
"""


def test_help_check_preview_and_plan_do_not_import_prefect(workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-c", NO_PREFECT.format(message=str(MESSAGE))], cwd=workdir,
                          env=pinned_environment(environment(workdir)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("no prefect")
    assert (workdir / "preview" / "index.html").is_file()


def test_the_module_runs_as_a_script(workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "budbringer.cli", "plan"], cwd=workdir, env=environment(workdir),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "4. Ekstern kommunikation [external, publish]" in done.stdout


def imported_modules(importtime: str) -> list[str]:
    """The modules a process imported, from the lines `python -X importtime` writes to its stderr."""
    return [line.rsplit("|", 1)[1].strip() for line in importtime.splitlines() if line.startswith("import time:")
            and not line.rstrip().endswith("| imported package")]


@pytest.mark.parametrize("argv", [["--help"], ["check", str(MESSAGE)], ["preview", str(MESSAGE)], ["status"]],
                         ids=["help", "check", "preview", "status"])
def test_commands_that_run_no_flow_import_no_prefect(workdir: Path, argv: list[str]) -> None:
    # The command line is outside flows/: only send, serve, web, alerts and a resuming approve load Prefect
    # (through flows/commands.py). Read from the process's own import list, every module it imported.
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "budbringer", *argv], cwd=workdir,
                          env=pinned_environment(environment(workdir)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    imported = imported_modules(done.stderr)
    assert "budbringer.cli" in imported and "budbringer.cli.sending" in imported  # the list is read
    assert not [m for m in imported if m == "prefect" or m.startswith(("prefect.", "budbringer.flows"))]
    shown = {"--help": "usage: budbringer", "check": "ok: nothing was sent", "preview": "open ",
             "status": "(nothing)"}
    assert shown[argv[0]] in done.stdout, done.stdout


@pytest.mark.slow  # a temporary Prefect server in a process of its own
def test_send_shows_a_line_per_tier_and_the_forum_titles_and_prefects_own_lines_only_with_verbose(
        workdir: Path) -> None:
    env = {k: v for k, v in environment(workdir).items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(workdir / "prefect-home"))  # no server: the command starts a temporary one
    argv = [str(BUDBRINGER), "send", str(MESSAGE), "--approved-by", "Mette Lund", "--approval-ref", "Møde 3"]
    quiet = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    tiers = [line for line in quiet.stderr.splitlines() if re.match(r"\d\. \w+ \(", line)]
    assert tiers == ["1. oc (OC-kredsen): 1 delivered", "2. hmu_and_networks (HMU og netværkene): 4 delivered",
                     "3. employees (Medarbejderne): 2 delivered", "4. external (Ekstern kommunikation): 5 delivered"]
    assert "Task run" not in quiet.stderr and "Finished in state" not in quiet.stderr  # Prefect's own lines
    assert "Netværk for Sensum Bosted-tovholderne" in quiet.stdout  # the plan's title of each forum
    assert "12 delivered now, 0 delivered before." in quiet.stdout
    # It ends cleanly: what the temporary server says as it is stopped (Prefect's services log tracebacks about
    # events they will not record) goes to its log file in PREFECT_HOME, not to the operator's terminal.
    assert "Traceback" not in quiet.stderr and "ERROR" not in quiet.stderr, quiet.stderr

    (workdir / "outbox").rename(workdir / "first-outbox")
    (workdir / ".budbringer").rename(workdir / "first-ledger")
    loud = subprocess.run([*argv, "--verbose"], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0, loud.stderr
    assert "Finished in state Completed()" in loud.stderr and "Task run 'deliver-oc-" in loud.stderr
