"""The import graph of the installed package, as static tools see it from the checkout: no circle, counting the
imports made for type checkers only (`if TYPE_CHECKING:`), which import-linter's contracts leave out
([tool.importlinter] exclude_type_checking_imports) and Python never runs, but which still tie the modules'
meanings together.

Also: no Python file in the project over 500 lines (issue 23), and every module of the domain is under the import
contract that keeps the adapters, the flows, the command line and Prefect out of it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp

from tests.conftest import ROOT

def _circles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    inside = set(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module) & inside):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return found


def _imports(graph: grimp.ImportGraph, circle: list[str]) -> list[str]:
    return [f"{d['importer']}:{d['line_number']} {d['line_contents']}"
            for a in circle for b in circle if graph.direct_import_exists(importer=a, imported=b)
            for d in graph.get_import_details(importer=a, imported=b)]


def test_no_import_circle_counting_type_only_imports() -> None:
    graph = grimp.build_graph("budbringer", exclude_type_checking_imports=False, cache_dir=None)
    assert "budbringer.adapters.registry" in graph.modules and "budbringer.flows.send" in graph.modules
    circles = _circles(graph, "budbringer")
    assert not circles, "\n\n".join("circle: " + " ".join(c) + "\n  " + "\n  ".join(_imports(graph, c))
                                    for c in circles)


def test_the_circle_finder_finds_a_circle() -> None:
    """The finder itself, on a graph with a known circle (a → b → c → a) and a tail (d → a)."""
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.d", "p.a")]:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    assert _circles(graph, "p") == [["p.a", "p.b", "p.c"]]


def _python_files() -> list[Path]:
    """Every .py file of the checkout once (rglob does not descend into budbringer/'s links to adapters/, flows/, …)."""
    skip = {".venv", "build", ".git"}
    return sorted(p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts))


def test_no_python_file_over_500_lines() -> None:
    over = {}
    for path in _python_files():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > 500:
            over[path.relative_to(ROOT).as_posix()] = lines
    assert len(_python_files()) > 100, "the walk found the project's files"
    assert not over, f"split these by responsibility (500 lines at most): {over}"


#: the tiers above the domain, each with its own contract (the links to adapters/ and flows/, the command line and
#: `python -m budbringer`, which is the command line's entry point)
ABOVE_THE_DOMAIN = {"adapters", "flows", "cli", "__main__"}


def _domain_contract() -> dict[str, list[str]]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["type"] == "forbidden" and "budbringer.flows" in c["forbidden_modules"]
                and "budbringer.cli" in c["forbidden_modules"])


def test_every_domain_module_is_under_the_domain_contract() -> None:
    """A new module in budbringer/ (a .py file or a package) joins the forbidden contract's `source_modules`, so the
    domain stays free of the adapters, the flows, the command line and Prefect without anyone remembering to say so."""
    package = ROOT / "budbringer"
    top = {p.stem for p in package.glob("*.py") if p.name != "__init__.py"}
    top |= {p.name for p in package.iterdir() if p.is_dir() and not p.is_symlink() and (p / "__init__.py").is_file()}
    assert {"plan", "ledger", "web", "cli", "engine"} <= top, "the walk found the domain's modules"
    listed = set(_domain_contract()["source_modules"])
    missing = sorted(f"budbringer.{name}" for name in top - ABOVE_THE_DOMAIN if f"budbringer.{name}" not in listed)
    assert not missing, f"add to source_modules of the domain's forbidden contract in pyproject.toml: {missing}"
    gone = sorted(m for m in listed if m.removeprefix("budbringer.") not in top - ABOVE_THE_DOMAIN)
    assert not gone, f"listed in the domain's forbidden contract, but not a domain module: {gone}"
