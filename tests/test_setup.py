"""The project's set-up promises: one namespace, the `mi` CLI, pins mirrored for conda."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        m = re.match(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_environment_yml_mirrors_the_lock_file() -> None:
    lock = _pins((ROOT / "requirements" / "lock.txt").read_text().splitlines())
    env = _pins((ROOT / "environment.yml").read_text().splitlines())
    assert lock and env == lock
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_pyproject_pins_match_the_lock_file() -> None:
    lock = _pins((ROOT / "requirements" / "lock.txt").read_text().splitlines())
    text = (ROOT / "pyproject.toml").read_text()
    declared = _pins([f"{m}" for m in re.findall(r'"([A-Za-z0-9_.\-]+==[^"]+)"', text)])
    assert declared, "pyproject.toml declares pinned dependencies"
    for name, version in declared.items():
        assert lock.get(name) == version, f"{name}: pyproject {version} vs lock {lock.get(name)}"


def test_namespace_imports_from_any_directory(tmp_path: Path) -> None:
    code = (
        "import marketintel, marketintel.connectors, marketintel.flows, marketintel.store;"
        "print(marketintel.__file__)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert str(ROOT / "lib" / "marketintel") in res.stdout


def test_mi_help_and_version() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "marketintel.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0 and "store" in res.stdout and "version" in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "marketintel.cli", "version"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0 and "marketintel" in res.stdout and "chdb" in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "marketintel.cli", "store", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    for sub in ("serve", "start", "stop", "status", "migrate"):
        assert sub in res.stdout


def test_bad_cli_input_names_what_was_expected() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "marketintel.cli", "store", "serve", "--port", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2 and "invalid int value" in res.stderr


def test_mi_store_schema_prints_single_node_and_cluster_ddl_and_docs() -> None:
    def run(*args: str) -> str:
        res = subprocess.run(
            [sys.executable, "-m", "marketintel.cli", "store", "schema", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    single = run()
    assert "ENGINE = ReplacingMergeTree(" in single and "ON CLUSTER" not in single
    assert "CREATE TABLE IF NOT EXISTS `default`.`prices`" in single
    cluster = run("--cluster", "prod", "--database", "mi")
    assert "ON CLUSTER 'prod'" in cluster and "ReplicatedReplacingMergeTree(" in cluster
    assert "ENGINE = Distributed('prod', 'mi', 'prices_local'" in cluster
    docs = run("--docs")
    assert "## `prices`" in docs and "| `published_at_utc` |" in docs
