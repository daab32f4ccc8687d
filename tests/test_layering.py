"""The import graph points down only: front ends -> services -> quant core / store (ARCHITECTURE.md).

Read from the source with ``ast`` (nothing is imported): every ``import``/``from ... import`` statement,
at any depth (imports inside functions count), and ``__import__``/``importlib.import_module`` calls with
a literal module name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> the package it is imported as (pyproject's package-dir)
FOLDERS = {
    ROOT / "lib" / "marketintel": "marketintel",
    ROOT / "connectors": "marketintel.connectors",
    ROOT / "flows": "marketintel.flows",
    ROOT / "dashboards": "marketintel.dashboards",
}


def module_name(path: Path) -> str:
    """Return the dotted module name of a source file of one of :data:`FOLDERS`."""
    for folder, package in FOLDERS.items():
        if path.is_relative_to(folder):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise ValueError(path)


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) of every import in a file."""
    yield from imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def imports_in(text: str, module: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) of every import in the source ``text`` of ``module``."""
    tree = ast.parse(text)
    here = module.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from marketintel import flows` imports a subpackage
                yield node.lineno, f"{target}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def sources(folder: Path) -> list[Path]:
    """Return the Python files of a folder, sorted."""
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def violations(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    """Return ``file:line imports module`` for each import of a forbidden package from ``folder``."""
    out = []
    for path in sources(folder):
        for line, module in imported(path):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return sorted(set(out))


def test_the_library_imports_nothing_above_it() -> None:
    found = violations(
        ROOT / "lib" / "marketintel",
        ("marketintel.connectors", "marketintel.flows", "marketintel.dashboards"),
    )
    assert found == [], "upward imports from lib/marketintel:\n" + "\n".join(found)


def test_the_dashboards_read_through_the_services_and_write_no_sql() -> None:
    """Dashboards call the library (services, registry); they import no connector or flow, and hold no SQL."""
    found = violations(
        ROOT / "dashboards", ("marketintel.connectors", "marketintel.flows", "clickhouse_connect")
    )
    assert found == [], "dashboards importing below the services:\n" + "\n".join(found)
    sql = re.compile(r"\b(SELECT|INSERT INTO|ALTER TABLE|CREATE TABLE)\b")
    holding = [str(p.relative_to(ROOT)) for p in sources(ROOT / "dashboards") if sql.search(p.read_text())]
    assert holding == [], f"SQL text in dashboards: {holding}"


def test_connectors_do_not_import_the_flows() -> None:
    found = violations(ROOT / "connectors", ("marketintel.flows",))
    assert found == [], "connectors importing flows:\n" + "\n".join(found)


def test_the_sdk_has_no_cycle_and_connectors_never_touch_the_store() -> None:
    """A connector needs only its HTTP client: the runner owns every store write."""
    sdk = violations(ROOT / "lib" / "marketintel" / "ingest" / "sdk.py", ("marketintel.ingest.runner",))
    assert sdk == []
    store = violations(
        ROOT / "connectors", ("marketintel.store", "clickhouse_connect", "marketintel.ingest.runner")
    )
    assert store == [], "connectors reaching for the store:\n" + "\n".join(store)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from marketintel.flows.demo import run", ["marketintel.flows.demo", "marketintel.flows.demo.run"]),
        ("import marketintel.connectors.spp", ["marketintel.connectors.spp"]),
        ("from marketintel import flows", ["marketintel", "marketintel.flows"]),
        ("x = __import__('marketintel.flows.cli')", ["marketintel.flows.cli"]),
        ("from .. import flows", ["marketintel", "marketintel.flows"]),
        (
            "def f():\n    from marketintel.connectors import canonical",
            ["marketintel.connectors", "marketintel.connectors.canonical"],
        ),
    ],
)
def test_the_checker_sees_every_form_of_import(source: str, expected: list[str]) -> None:
    """The checker itself can fail: each import form is found (as if in ``marketintel.store.probe``)."""
    assert [m for _, m in imports_in(source, "marketintel.store.probe")] == expected
