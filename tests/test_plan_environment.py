"""Plan values from the environment (issue 17): `${VAR}` and `${VAR:-default}` in a plan's string values.

One plan points at a test relay or the production relay by its environment: an SMTP channel whose host, port,
security, CA file and login come from the environment delivers through aiosmtpd; `budbringer check` refuses a
plan whose variable is unset, naming the file, the field and the variable, and nothing is sent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from budbringer import plan as plan_
from budbringer.adapters.smtp import SmtpAdapter
from budbringer.cli import EXIT_PROBLEM, main
from budbringer.errors import InputError, PermanentDeliveryError
from tests.conftest import write_plan
from tests.servers.smtp import PASSWORD_ENV, SENDER, USER, Relay, delivery

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SMTP_CHANNEL = {
    "type": "smtp",
    "host": "${BUDBRINGER_SMTP_HOST}",
    "port": "${BUDBRINGER_SMTP_PORT:-587}",
    "security": "${BUDBRINGER_SMTP_SECURITY:-starttls}",
    "ca_file": "${BUDBRINGER_SMTP_CA_FILE}",
    "sender": SENDER,
    "username_env": "BUDBRINGER_SMTP_USERNAME",
    "password_env": PASSWORD_ENV,
    "timeout": 5,
}


#: the variables the SMTP plan lists in its `environment:` (the only ones it may use)
ENVIRONMENT = ["BUDBRINGER_SMTP_HOST", "BUDBRINGER_SMTP_PORT", "BUDBRINGER_SMTP_SECURITY", "BUDBRINGER_SMTP_CA_FILE"]


def smtp_plan(folder: Path) -> Path:
    """The shipped plan with OC and HMU moved to an SMTP channel configured from the environment."""
    return write_plan(folder, {"environment": ENVIRONMENT, "channels": {"smtp_mail": SMTP_CHANNEL},
                               "fora": {"oc": {"channel": "smtp_mail"}, "hmu": {"channel": "smtp_mail"}}})


@pytest.fixture
def relay_env(relay: Relay, ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> Relay:
    monkeypatch.setenv("BUDBRINGER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BUDBRINGER_SMTP_PORT", str(relay.port))
    monkeypatch.setenv("BUDBRINGER_SMTP_SECURITY", relay.security)
    monkeypatch.setenv("BUDBRINGER_SMTP_CA_FILE", str(ca_file))
    monkeypatch.setenv("BUDBRINGER_SMTP_USERNAME", USER)
    return relay


@pytest.mark.usefixtures("before_deadline")
def test_a_plan_with_the_relay_from_the_environment_checks_and_delivers(
        relay_env: Relay, workdir: Path, message_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = smtp_plan(workdir)
    loaded = plan_.load(plan)
    settings = loaded.channels["smtp_mail"].settings
    assert (settings["host"], settings["port"]) == ("127.0.0.1", str(relay_env.port))
    assert settings["security"] == relay_env.security

    assert main(["--plan", str(plan), "check", str(message_copy)]) == 0  # preflight logs in to the relay
    assert "ok: nothing was sent" in capsys.readouterr().out
    assert relay_env.envelopes == [] and len(relay_env.logins) == 1
    assert "refused" not in relay_env.logins[0]

    from tests import crash_runner  # the cascade's own steps, tier by tier, without Prefect

    assert crash_runner.main(str(plan), str(message_copy)) == 0, capsys.readouterr().out
    outcomes = {o["forum"]: o["state"] for o in json.loads(capsys.readouterr().out)}
    assert outcomes["oc"] == outcomes["hmu"] == "delivered"
    received = sorted(address for envelope in relay_env.envelopes for address in envelope.rcpt_tos)
    assert received == sorted([*loaded.fora["oc"].address.mail_to(), *loaded.fora["hmu"].address.mail_to()])


def test_check_refuses_an_unset_variable_in_one_line_and_sends_nothing(
        relay_env: Relay, workdir: Path, message_copy: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BUDBRINGER_SMTP_HOST")
    plan = smtp_plan(workdir)

    assert main(["--plan", str(plan), "check", str(message_copy)]) == EXIT_PROBLEM
    err = capsys.readouterr().err
    [problem] = [line for line in err.splitlines() if line.startswith("  - ")]
    assert problem.startswith(f"  - {plan}:")
    assert "channels.smtp_mail.host: uses ${BUDBRINGER_SMTP_HOST}, which is not set" in problem
    assert "fix: set BUDBRINGER_SMTP_HOST in the environment, or give a default" in err
    assert err.startswith("error: 1 problem found; nothing was sent:")
    assert relay_env.envelopes == [] and relay_env.logins == []  # not even a connection


def test_a_default_is_used_when_the_variable_is_unset_or_empty(tmp_path: Path) -> None:
    data = {"channels": {"relay": {"host": "${RELAY_HOST:-smtp.test.example}", "port": "${RELAY_PORT:-2525}",
                                   "sender": "kommunikation@${RELAY_DOMAIN:-socialomraadet.example}"}},
            "literal": "$${NOT_EXPANDED} and $5", "environment": ["RELAY_HOST", "RELAY_PORT", "RELAY_DOMAIN"]}
    problems = plan_.expand_environment(data, "plan.yaml", {}, {"RELAY_PORT": ""})
    assert problems == []
    assert data["channels"]["relay"] == {"host": "smtp.test.example", "port": "2525",
                                         "sender": "kommunikation@socialomraadet.example"}
    assert data["literal"] == "${NOT_EXPANDED} and $5"
    assert data["environment"] == ["RELAY_HOST", "RELAY_PORT", "RELAY_DOMAIN"]  # names, never expanded


@pytest.mark.parametrize("value,what,fix", [
    ("${BUDBRINGER_SMTP_PASSWORD}", "${BUDBRINGER_SMTP_PASSWORD} looks like a secret, and secrets never go in a plan",
     "`password_env: BUDBRINGER_SMTP_PASSWORD`"),
    ("${LINKEDIN_TOKEN:-x}", "looks like a secret", "*_env"),
    ("${1HOST}", "${1HOST} is not a variable reference", "${NAME:-default}"),
    ("${HOST", None, None),  # no closing brace: not a reference, kept as written (the host check refuses it)
])
def test_secrets_and_malformed_references_are_refused(tmp_path: Path, value: str, what: str | None,
                                                      fix: str | None) -> None:
    data = {"channels": {"relay": {"host": value}}}
    problems = plan_.expand_environment(data, "plan.yaml", {("channels", "relay", "host"): 12}, {})
    if what is None:
        assert problems == [] and data["channels"]["relay"]["host"] == value
        return
    [problem] = problems
    assert (problem.file, problem.field, problem.line) == ("plan.yaml", "channels.relay.host", 12)
    assert what in problem.what and fix in problem.fix


def test_keys_are_not_expanded_and_the_overlay_is_named(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDBRINGER_SMTP_HOST", raising=False)
    monkeypatch.setenv("BUDBRINGER_SMTP_CA_FILE", "/etc/ssl/certs/ca-certificates.crt")
    plan = smtp_plan(workdir)
    with pytest.raises(InputError) as raised:
        plan_.load(plan)
    [problem] = raised.value.problems  # the port and security have defaults; the CA file is set
    assert problem.file == str(plan) and problem.field == "channels.smtp_mail.host" and problem.line
    assert plan.read_text(encoding="utf-8").splitlines()[problem.line - 1].strip().startswith("host:")
    data = {"${KEY}": "value"}
    assert plan_.expand_environment(data, "plan.yaml", {}, {}) == [] and data == {"${KEY}": "value"}


def test_the_login_name_from_the_environment(relay: Relay, ca_file: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = {"host": "127.0.0.1", "port": relay.port, "security": relay.security,
              "sender": SENDER, "username_env": "BUDBRINGER_SMTP_USERNAME", "password_env": PASSWORD_ENV,
              "ca_file": str(ca_file), "timeout": 5}
    monkeypatch.delenv("BUDBRINGER_SMTP_USERNAME", raising=False)
    channel = SmtpAdapter.from_config("smtp_mail", config, os.environ)
    with pytest.raises(PermanentDeliveryError, match="BUDBRINGER_SMTP_USERNAME is not set"):
        channel.deliver(delivery())
    assert relay.envelopes == []
    # The channel took the environment when it was built: a variable set afterwards is not read while it
    # delivers; the next entry point's channel has it.
    monkeypatch.setenv("BUDBRINGER_SMTP_USERNAME", USER)
    with pytest.raises(PermanentDeliveryError, match="BUDBRINGER_SMTP_USERNAME is not set"):
        channel.deliver(delivery())
    channel = SmtpAdapter.from_config("smtp_mail", config, os.environ)
    channel.deliver(delivery())
    assert len(relay.envelopes) == 1 and "refused" not in relay.logins[-1]
    with pytest.raises(Exception, match="either `username` or `username_env`"):
        SmtpAdapter.from_config("smtp_mail", {**config, "username": USER}, os.environ)


def test_the_plan_and_its_channels_take_the_environment_the_entry_point_read(
        workdir: Path, ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One reading of the environment (`Settings.read`) serves the plan's `${VAR}`s and the channels' variables:
    the process's environment changed afterwards changes neither."""
    from budbringer import runtime, settings
    from budbringer.adapters.registry import REGISTRY

    for name in (*ENVIRONMENT, "BUDBRINGER_SMTP_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    plan = smtp_plan(workdir)
    snapshot = {**os.environ, "BUDBRINGER_SMTP_HOST": "relay.test.example", "BUDBRINGER_SMTP_PORT": "2525",
                "BUDBRINGER_SMTP_CA_FILE": str(ca_file), "BUDBRINGER_SMTP_USERNAME": "budbringer-relay"}
    run = runtime.Runtime(settings.Settings.read(plan, snapshot), REGISTRY)
    try:
        monkeypatch.setenv("BUDBRINGER_SMTP_HOST", "elsewhere.example")
        assert run.plan.channels["smtp_mail"].settings["host"] == "relay.test.example"
        channel = run.channels["smtp_mail"]
        assert isinstance(channel, SmtpAdapter)
        assert channel.settings.effective_port == 2525 and channel.environment.username == "budbringer-relay"
    finally:
        run.close()
    with pytest.raises(InputError, match="BUDBRINGER_SMTP_CA_FILE"):  # the process's own: CA file unset
        plan_.load(plan, REGISTRY, {**os.environ, "BUDBRINGER_SMTP_HOST": "relay.test.example"})
