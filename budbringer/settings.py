"""Every setting Budbringer takes from its environment, read in this one module, once per entry point.

The entry point (the `budbringer` command, a flow run, the web app) reads `Settings.read(plan)` once and hands
it down, in its `Runtime` (budbringer/runtime.py) or as an argument; a function that is not handed it (a library
caller, a test) asks `current()`, which is the entry point's while one is `installed`, else a fresh read. No
other module reads `os.environ`. Each channel declares what it takes from the environment (its `Environment`
model, budbringer/channel.py); the channels get it from `Settings.environ`, the snapshot taken here, when the
runtime builds them. Prefect Secret blocks are read in flows/ and handed to the domain (flows/link_secret.py).

Secrets are `SecretStr`: no repr, log line or exception shows them. docs/operations.md has the table of every
setting, its variable, default, and whether it is secret.

One place writes the environment: `prepare_prefect`, because Prefect reads its own settings (PREFECT_*) from
the environment when it is first imported, and the temporary server is a child process that inherits it.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from types import MappingProxyType

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

# The packaged plan (the repository's config/, shipped in the wheel as budbringer.config).
DEFAULT_PLAN = Path(str(resources.files("budbringer.config").joinpath("plan.yaml")))
#: the folder of the ledger, its locks and the generated link secret, beside the plan unless BUDBRINGER_HOME says
HOME_FOLDER = ".budbringer"
DEFAULT_WEB_URL = "http://127.0.0.1:8400"

#: Prefect's own settings, set (unless the operator set them) before Prefect is first imported: no telemetry, our
#: loggers in the run's logs, and time for the first ephemeral start to migrate a new database (the default 20 s is
#: too short on a loaded machine)
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "budbringer",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def _variable(name: str) -> str:
    return f"BUDBRINGER_{name.upper()}"


class Settings(BaseModel):
    """What the environment says, read once. `read` resolves `plan` and `home` (so they are always set).

    Each field is read from `BUDBRINGER_<FIELD>` unless its `validation_alias` names other variables (the
    first one set wins); a variable set but empty is unset. (A plain pydantic model: pydantic-settings would
    read the same, and cost `check` some 60 imported modules, asyncio and dotenv among them.)"""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    plan: Path | None = Field(default=None, description="The plan file (`--plan` wins); else config/plan.yaml "
                                                        "in the working folder, else the packaged plan.")
    home: Path | None = Field(default=None, description="The ledger's folder (SQLite file, locks, the generated "
                                                        "link secret); default: .budbringer beside the plan.")
    dir: Path | None = Field(default=None, description="The checkout a worker runs in: the home is its "
                                                       ".budbringer (when BUDBRINGER_HOME is unset).")
    database_url: SecretStr | None = Field(default=None, description="The ledger's database URL (may hold a "
                                                                     "password); default SQLite under the home.")
    web_url: str | None = Field(default=None, description="Where the approval pages answer; else the plan's "
                                                          f"approval.web_url, else {DEFAULT_WEB_URL}.")
    web_secret: SecretStr | None = Field(default=None, description="The key that signs the approvers' links; "
                                                                   "else a Prefect Secret block, else generated.")
    web_secret_block: str | None = Field(default=None, description="The Prefect Secret block holding the link "
                                                                   "key; else the plan's approval.web_secret_block.")
    entra_client_secret: SecretStr | None = Field(default=None, description="The approval pages' Entra ID "
                                                                            "sign-in client secret.")
    approver: str | None = Field(default=None, description="`approve --by`'s default.")
    send_command: str | None = Field(default=None, description="How the author's page starts a send when the "
                                                             "Prefect server has no `budbringer-send/manual` "
                                                             "deployment: a command, `{message}` replaced by the "
                                                             "file; default `budbringer send MESSAGE`.")
    alert_webhook_url: SecretStr | None = Field(default=None, description="`alerts setup`'s webhook URL.")
    user: str | None = Field(default=None, validation_alias=AliasChoices("USER", "USERNAME"),
                             description="Who settles a delivery with `resolve` (the login name).")
    data_home: Path | None = Field(default=None, validation_alias="XDG_DATA_HOME",
                                   description="The packaged plan's ledger goes in its budbringer folder.")
    locale: str | None = Field(default=None, validation_alias=AliasChoices("LANGUAGE", "LC_ALL", "LC_MESSAGES",
                                                                           "LANG"),
                               description="The findings' language when `--lang` is not given.")

    _environ: Mapping[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def variables(cls) -> dict[str, tuple[str, ...]]:
        """Each field's variables, in the order they are tried."""
        out: dict[str, tuple[str, ...]] = {}
        for field, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                out[field] = tuple(str(choice) for choice in alias.choices)
            else:
                out[field] = (alias if isinstance(alias, str) else _variable(field),)
        return out

    @classmethod
    def read(cls, plan: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """The environment (`environ`: a test's own), read now: `plan` (`--plan`) else $BUDBRINGER_PLAN else
        config/plan.yaml here else the packaged plan; the home folder resolved against it (`home_for`)."""
        environ = dict(os.environ if environ is None else environ)
        picked = {}
        for field, names in cls.variables().items():
            value = next((environ[name] for name in names if (environ.get(name) or "").strip()), None)
            if value is not None:
                picked[field] = value
        read = cls.model_validate(picked)
        chosen = Path(plan) if plan else read.plan or _local_plan()
        settings = read.model_copy(update={"plan": chosen.resolve(), "home": read.home_for(chosen).resolve()})
        settings._environ = MappingProxyType(environ)
        return settings

    def home_for(self, plan: Path) -> Path:
        """The one default of the home folder: $BUDBRINGER_HOME; else $BUDBRINGER_DIR/.budbringer; else beside
        the plan (the project folder that holds config/plan.yaml, or the plan's own folder), never just the
        working folder, so a send from another folder finds the same ledger (docs/security.md); for the plan
        inside an installed wheel, the user's data folder."""
        if self.home is not None:
            return self.home
        if self.dir is not None:
            return self.dir / HOME_FOLDER
        plan = plan.resolve()
        if plan == DEFAULT_PLAN.resolve() and {"site-packages", "dist-packages"} & set(plan.parts):
            return (self.data_home or Path.home() / ".local" / "share") / "budbringer"
        folder = plan.parent
        return (folder.parent if folder.name == "config" else folder) / HOME_FOLDER

    @property
    def plan_file(self) -> Path:
        assert self.plan is not None, "Settings.read resolves the plan"
        return self.plan

    @property
    def home_folder(self) -> Path:
        assert self.home is not None, "Settings.read resolves the home folder"
        return self.home

    def ledger_url(self) -> str:
        """$BUDBRINGER_DATABASE_URL, else the SQLite ledger in the home folder (made, owner only, if need be)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        home = self.home_folder
        try:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            if home.stat().st_uid == os.geteuid() and home.stat().st_mode & 0o777 != 0o700:
                home.chmod(0o700)  # the ledger holds who approved what, and receipts: its owner's only
        except OSError as exc:
            from budbringer.errors import LedgerError

            raise LedgerError(f"the ledger's folder {home} cannot be created ({exc.strerror}): set BUDBRINGER_HOME "
                              "to a folder you can write to, or BUDBRINGER_DATABASE_URL") from None
        return f"sqlite:///{(home / 'ledger.db').resolve()}"

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment as it was read (read-only): the channels take their declared variables from it
        (`Adapter.from_config`), the plan its `${VAR}` references (`plan.expand_environment`)."""
        return self._environ


def _local_plan() -> Path:
    local = Path("config/plan.yaml")
    return local if local.exists() else DEFAULT_PLAN


#: the entry point's settings, in its context: Prefect runs a flow's tasks in copies of it, as it does for the
#: runtime handed to the flows (flows/send.py `using`)
_installed: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("budbringer_settings", default=None)


def current(plan: str | os.PathLike[str] | None = None) -> Settings:
    """The entry point's settings while it has installed them (`installed`), else the environment read now."""
    settings = _installed.get()
    if settings is not None and (plan is None or Path(plan).resolve() == settings.plan):
        return settings
    return Settings.read(plan)


@contextmanager
def installed(settings: Settings) -> Iterator[Settings]:
    """Make `settings` the entry point's for the duration (the command line's `main`, a flow run's runtime)."""
    token = _installed.set(settings)
    try:
        yield settings
    finally:
        _installed.reset(token)


def prepare_prefect(progress_only: bool = False) -> None:
    """Prefect's settings, before Prefect is imported: it reads them from the environment at import, and the
    temporary server (a child process) inherits them. The operator's own values win. `progress_only`: the
    terminal shows Prefect's warnings and errors only (its INFO lines still go to the run's log)."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if progress_only:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


def prefect_environment() -> dict[str, str]:
    """The process's environment, for the Prefect tier only: the temporary server's child process inherits it,
    and Prefect's own variables (PREFECT_*) decide which server a run uses (flows/temporary_server.py)."""
    return dict(os.environ)


def prefect_profile(environ: Mapping[str, str]) -> dict[str, str]:
    """The settings of Prefect's active profile (`prefect config set …`), read without importing Prefect: from
    $PREFECT_PROFILES_PATH, else $PREFECT_HOME/profiles.toml (~/.prefect), the profile $PREFECT_PROFILE, else the
    file's active one. Empty when there is none or it cannot be read."""
    import tomllib

    profiles = Path(environ.get("PREFECT_PROFILES_PATH")
                    or Path(environ.get("PREFECT_HOME") or "~/.prefect") / "profiles.toml").expanduser()
    try:
        data = tomllib.loads(profiles.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    active = environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    named = data.get("profiles", {}).get(active, {})
    return {str(k): str(v) for k, v in named.items()} if isinstance(named, dict) else {}


def prefect_startup_timeout() -> float:
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
                 or PREFECT_DEFAULTS["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
