"""How the command line reaches the flows without importing them.

`budbringer.cli` is in the domain's tier: it never imports Prefect nor `budbringer.flows` (the import contracts
in pyproject.toml say so), and the commands that run no flow (`--help`, `init`, `new`, `check`, `preview`,
`plan`, `status`, `mark`, `resolve`, `db`, `approve` without a waiting run) never load Prefect. The commands that
run one (`send`, `serve`, `web`, `alerts setup`, the resume part of `approve`) load the flows' one module for the
command line, flows/commands.py, by its name with `flows()`: that module is the whole seam, and lists
everything the command line uses from flows/.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

from budbringer import settings

#: the flows' module for the command line, loaded by name (see the module's docstring)
FLOWS_MODULE = "budbringer.flows.commands"


def flows() -> ModuleType:
    """The flows' module for the command line, with Prefect's environment set first (`quiet_prefect`)."""
    quiet_prefect()
    return importlib.import_module(FLOWS_MODULE)


def quiet_prefect() -> None:
    """Settings for Prefect before it is imported: no telemetry, our loggers shown in the run's logs
    (`budbringer.settings.prepare_prefect`, the one place that sets the environment)."""
    settings.prepare_prefect()


def progress_only() -> None:
    """The terminal shows a line per tier and Prefect's warnings and errors; Prefect's own lines at INFO (task
    runs starting and finishing, the temporary server) still go to the run's log, not to the terminal. Set
    before Prefect configures its logging; `--verbose` leaves Prefect's console as it is."""
    settings.prepare_prefect(progress_only=True)
    progress_lines()


def progress_lines() -> None:
    """The line per tier (the logger `budbringer.progress`) on the standard error of the moment."""
    progress = logging.getLogger("budbringer.progress")
    if not any(isinstance(h, _TerminalLines) for h in progress.handlers):
        progress.addHandler(_TerminalLines(logging.INFO))
        progress.setLevel(logging.INFO)


class _TerminalLines(logging.Handler):
    """The bare message on the standard error of the moment (not the one there when the handler was made)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(record.getMessage(), file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - a closed terminal must not stop a delivery
            self.handleError(record)
