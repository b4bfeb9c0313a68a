"""One settings object (issue 23, item 1): the environment read in one module, once per entry point; one default
for the home folder; secrets never shown; channels built with what they declare, reading nothing when they
deliver; `check` builds every channel the send would build; the command line hands settings on without writing
the environment (the runtime the web app and the commands share: tests/test_runtime.py)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from budbringer import approval_links, cascade, cli, plan as plan_, runtime, settings
from budbringer.adapters.registry import REGISTRY
from budbringer.adapters.webhook import WebhookAdapter
from budbringer.channel import ChannelEnvironment
from budbringer.ledger import Ledger
from tests.conftest import PLAN, ROOT, write_plan

HOOK_URL, HOOK_SECRET = "BUDBRINGER_T23_HOOK_URL", "BUDBRINGER_T23_HOOK_SECRET"
SECRET_VALUE = "t23-" + "s3cr3t-never-shown-" * 3


ENVIRONMENT_CALLS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that touch the process environment: `os.environ`, `os.getenv`, `os.putenv`, … (also through `import os
    as x`), or one of them imported by name."""
    names_of_os = {"os"} | {a.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                            for a in node.names if a.name == "os" and a.asname}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_CALLS \
                and isinstance(node.value, ast.Name) and node.value.id in names_of_os:
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "os" \
                and {a.name for a in node.names} & ENVIRONMENT_CALLS:
            lines.append(node.lineno)
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    """The domain, the adapters and the flows (the command line and the web app are in the domain's folder) read the
    environment only through budbringer/settings.py."""
    found, scanned = {}, set()
    for folder in ("budbringer", "adapters", "flows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            scanned.add(str(path.relative_to(ROOT)))
            if lines := _reads_environment(ast.parse(path.read_text(encoding="utf-8"))):
                found[str(path.relative_to(ROOT))] = lines
    assert {"flows/temporary_server.py", "flows/link_secret.py", "adapters/graph.py", "budbringer/cli/prefect_tier.py",
            "budbringer/plan/loading.py"} <= scanned, "the walk reached every tier"
    assert list(found) == ["budbringer/settings.py"], found


def test_the_environment_scan_finds_each_way_of_reading_it() -> None:
    """The scan itself, on code that reads the environment in each way it looks for (and one that does not)."""
    reads = ["import os\nos.environ['A']", "import os\nos.getenv('A')", "import os as o\no.environ.get('A')",
             "from os import environ", "from os import getenv as g", "import os\nos.putenv('A', 'b')"]
    assert all(_reads_environment(ast.parse(code)) for code in reads)
    assert not _reads_environment(ast.parse("import os\nos.path.join('a')\nenviron = {}\nenviron.get('A')"))


def test_every_adapter_declares_its_variables_as_an_environment_model() -> None:
    """A channel's environment is a declared model (secrets as SecretStr); no adapter module reads it itself."""
    declared = {cls.type: cls.Environment for cls in (REGISTRY.get(n) for n in REGISTRY.names()) if cls is not None}
    assert all(issubclass(model, ChannelEnvironment) for model in declared.values())
    for name in ("linkedin", "facebook_page", "instagram", "graph_mail", "sharepoint_news"):
        assert declared[name].model_fields, name
    linkedin = REGISTRY.get("linkedin")
    assert linkedin is not None
    assert set(linkedin.variables(linkedin.Settings())) >= {"token", "organization", "url", "token_expires"}
    assert linkedin.Environment.model_fields["token"].annotation == SecretStr | None


def test_one_home_folder_default_beside_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUDBRINGER_HOME", "BUDBRINGER_DIR", "BUDBRINGER_DATABASE_URL", "BUDBRINGER_PLAN"):
        monkeypatch.delenv(name, raising=False)
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "config").mkdir(parents=True)
    elsewhere.mkdir()
    plan = write_plan(project / "config", {})
    monkeypatch.chdir(elsewhere)

    read = settings.Settings.read(plan)
    assert read.home_folder == (project / ".budbringer").resolve()
    assert read.ledger_url() == f"sqlite:///{project / '.budbringer' / 'ledger.db'}"
    with settings.installed(read):
        assert approval_links.home() == read.home_folder  # the link secret lives with the ledger
        assert Ledger(read.ledger_url()).locks.home == read.home_folder  # and so do the locks
    monkeypatch.setenv("BUDBRINGER_HOME", str(tmp_path / "home"))
    assert settings.Settings.read(plan).home_folder == (tmp_path / "home").resolve()


def test_settings_are_read_from_the_snapshot_they_are_given(tmp_path: Path) -> None:
    read = settings.Settings.read(PLAN, {"BUDBRINGER_HOME": str(tmp_path), "BUDBRINGER_WEB_URL": " ",
                                         "USERNAME": "bo", "BUDBRINGER_T23": "x"})
    assert read.home_folder == tmp_path.resolve() and read.web_url is None  # set but blank is unset
    assert read.user == "bo" and read.environ["BUDBRINGER_T23"] == "x"
    assert settings.Settings.variables()["database_url"] == ("BUDBRINGER_DATABASE_URL",)


def test_secrets_never_show_in_the_settings(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    for name in ("BUDBRINGER_WEB_SECRET", "BUDBRINGER_ENTRA_CLIENT_SECRET", "BUDBRINGER_ALERT_WEBHOOK_URL"):
        monkeypatch.setenv(name, SECRET_VALUE)
    monkeypatch.setenv("BUDBRINGER_DATABASE_URL", f"postgresql+psycopg://budbringer:{SECRET_VALUE}@db/ledger")
    read = settings.Settings.read(PLAN)
    assert SECRET_VALUE not in repr(read) + str(read) + str(read.model_dump())
    assert read.web_secret is not None and read.web_secret.get_secret_value() == SECRET_VALUE


def _webhook_plan(folder: Path) -> Path:
    """The shipped plan with the website's channel a webhook (a whole channel: `extends` would merge `path`)."""
    data = yaml.safe_load(PLAN.read_text(encoding="utf-8"))
    data["channels"]["website"] = {"type": "webhook", "url_env": HOOK_URL, "secret_env": HOOK_SECRET}
    data["templates"] = str(ROOT / "templates")
    path = folder / "webhook-plan.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_channel_takes_its_variables_when_built_and_reads_none_when_it_delivers(
        monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    monkeypatch.setenv(HOOK_URL, "https://cms.example/intake")
    monkeypatch.setenv(HOOK_SECRET, SECRET_VALUE)
    run = runtime.build(_webhook_plan(workdir), REGISTRY)
    try:
        channel = run.channels["website"]
        assert isinstance(channel, WebhookAdapter)
        monkeypatch.delenv(HOOK_URL)  # changed after the entry point read it: the run keeps what it read
        monkeypatch.delenv(HOOK_SECRET)
        assert channel.url == "https://cms.example/intake"
        assert channel.preflight() == []
        assert SECRET_VALUE not in repr(channel) + repr(channel.environment) + repr(run)
    finally:
        run.close()


def test_check_builds_every_channel_the_send_builds_and_names_file_field_and_fix(
        monkeypatch: pytest.MonkeyPatch, workdir: Path, message_copy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(HOOK_URL, "http://cms.example/intake")  # not https
    monkeypatch.delenv(HOOK_SECRET, raising=False)
    plan = _webhook_plan(workdir)
    loaded = plan_.load(plan, REGISTRY)
    built, problems = cascade.build_channels(loaded, environ=os.environ)
    run = runtime.build(plan, REGISTRY)
    try:
        assert set(built) == set(run.channels) == set(loaded.channels)  # the same channels as the send's
    finally:
        run.close()
    assert problems == []

    assert cli.main(["--plan", str(plan), "check", str(message_copy)]) == 1
    err = capsys.readouterr().err
    assert f"{plan}: channels.website (${HOOK_URL}): the webhook URL is not set or not https://" in err
    assert f"{plan}: channels.website (${HOOK_SECRET}): is not set" in err
    assert "fix: set it to the secret the receiver shares" in err
    assert "nothing was sent" in err


def test_the_command_line_writes_no_environment(monkeypatch: pytest.MonkeyPatch, workdir: Path,
                                                message_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BUDBRINGER_HOME")
    (workdir / "config").mkdir()
    plan = write_plan(workdir / "config", {})
    before = dict(os.environ)
    assert cli.main(["--plan", str(plan), "status"]) == 0
    assert cli.main(["--plan", str(plan), "check", str(message_copy)]) in (0, 1)
    assert dict(os.environ) == before
    assert (workdir / ".budbringer" / "ledger.db").is_file()  # the ledger beside the plan given with --plan
    capsys.readouterr()
