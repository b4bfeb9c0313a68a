"""A wheel, not a checkout: `pip install .` into a fresh virtual environment, then `budbringer init` in an empty
folder, `check` and `send` from there. Nothing may come from this repository at run time, and nothing generic
(`adapters`, `flows`, `templates`, `config`) may land at the top of site-packages.

The fresh environment gets this environment's third-party packages through a path file (so no registry is
asked for Prefect and the rest), never this repository or its editable install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT, pinned_environment

pytestmark = pytest.mark.slow  # builds a wheel and starts a temporary Prefect server (.ci/run runs it)


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.timeout(1200)
def test_a_wheel_install_inits_checks_and_sends_without_a_checkout(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # This environment's dependencies, after the fresh site-packages; its .pth files (the editable install of
    # this repository among them) are not read from there.
    (site / "zz-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BUDBRINGER_", "PREFECT_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({"PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "PREFECT_HOME": str(tmp_path / "prefect"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"})
    built = ROOT / "build"  # setuptools builds the wheel in the checkout's build/: removed after, if it was not there
    had_build = built.exists()
    try:
        _run([str(python), "-m", "pip", "install", "-q", str(ROOT)], tmp_path, env)
    finally:
        if not had_build:
            shutil.rmtree(built, ignore_errors=True)

    assert (site / "budbringer" / "adapters" / "registry.py").is_file()
    assert (site / "budbringer" / "templates" / "oc_briefing.html.j2").is_file()
    assert list((site / "budbringer" / "flows" / "prefect_seed").glob("*.sqlite.gz"))  # a new Prefect home's database
    assert not [name for name in ("adapters", "flows", "templates", "config", "messages") if (site / name).exists()]
    assert not list(site.glob("__editable__*budbringer*"))

    empty = tmp_path / "empty"
    empty.mkdir()
    budbringer = str(venv / "bin" / "budbringer")
    where = _run([str(python), "-c", "import budbringer, budbringer.cli as c; print(budbringer.__file__, "
                  "c.__file__)"], empty, env).stdout
    assert str(ROOT) not in where and str(site) in where, where
    _run([budbringer, "init", "demo"], empty, env)
    demo = empty / "demo"
    message = next((demo / "messages").glob("*.md"))
    # Checked before the example's approval deadline (`check` says when it has passed): the clock pinned.
    checked = _run([budbringer, "check", f"messages/{message.name}"], demo, pinned_environment(env))
    assert "12 variants rendered" in checked.stdout and "ok: nothing was sent" in checked.stdout
    sent = _run([budbringer, "send", f"messages/{message.name}", "--approved-by", "Mette Lund", "--approval-ref",
                 "Styregruppemøde 2026-11-20, punkt 3"], demo, env)
    assert "12 delivered now" in sent.stdout, sent.stdout[-2000:]
    server_log = (tmp_path / "prefect" / "budbringer-temporary-server.log").read_text(encoding="utf-8")
    assert "created from Budbringer's empty Prefect database" in server_log  # the wheel's seed, not migrations
    assert len(list((demo / "outbox").rglob("*.eml"))) >= 5
    again = subprocess.run([budbringer, "init", "demo"], cwd=empty, env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 1 and "never overwrites" in again.stderr
