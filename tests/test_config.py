"""Where ``mi`` keeps its state: MI_DATA_DIR, else the venv's marketintel.toml, else ~/.local/share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from marketintel import config
from marketintel.exceptions import ConfigError


@pytest.fixture
def venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake ``sys.prefix`` with a home of its own, and no MI_DATA_DIR / MI_SHARED_DIR."""
    prefix = tmp_path / "venv"
    prefix.mkdir()
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MI_DATA_DIR", raising=False)
    monkeypatch.delenv("MI_SHARED_DIR", raising=False)
    return prefix


def test_env_var_wins_over_the_venv_file(venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (venv / "marketintel.toml").write_text(f'data_dir = "{tmp_path / "clone" / "data"}"\n')
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "elsewhere"))
    assert config.data_dir() == (tmp_path / "elsewhere").resolve()
    assert config.data_dir_source()[1] == "MI_DATA_DIR"
    assert (tmp_path / "elsewhere").is_dir() and not (tmp_path / "clone").exists()


def test_the_venv_file_comes_next(venv: Path, tmp_path: Path) -> None:
    clone = tmp_path / "my clone é"  # spaces and non-ASCII survive the TOML string
    (venv / "marketintel.toml").write_text(
        f'# written by make setup\ndata_dir = "{clone / "data"}"\nshared_dir = "{tmp_path / "shared"}"\n',
        encoding="utf-8",
    )
    assert config.data_dir() == (clone / "data").resolve()
    assert config.data_dir_source()[1] == str(venv / "marketintel.toml")
    assert config.store_dir() == (clone / "data" / "store").resolve()
    assert config.prefect_home() == (clone / "data" / "prefect").resolve()
    assert config.shared_dir() == (tmp_path / "shared").resolve()


def test_a_relative_data_dir_is_relative_to_the_file(venv: Path) -> None:
    (venv / "marketintel.toml").write_text('data_dir = "../data"\n')
    assert config.data_dir() == (venv.parent / "data").resolve()


def test_the_prefix_can_be_passed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MI_DATA_DIR", raising=False)
    other = tmp_path / "other-venv"
    other.mkdir()
    (other / "marketintel.toml").write_text(f'data_dir = "{tmp_path / "d"}"\n')
    assert config.data_dir(other) == (tmp_path / "d").resolve()


def test_fallback_without_env_or_file(venv: Path, tmp_path: Path) -> None:
    assert config.data_dir() == (tmp_path / "home" / ".local" / "share" / "marketintel").resolve()
    assert config.data_dir_source()[1] == "default"
    assert config.shared_dir() == (config.REPO_ROOT.parent / "shared").resolve()


def test_a_file_without_data_dir_falls_back(venv: Path, tmp_path: Path) -> None:
    (venv / "marketintel.toml").write_text(f'shared_dir = "{tmp_path / "s"}"\n')
    assert config.data_dir_source()[1] == "default"
    assert config.shared_dir() == (tmp_path / "s").resolve()


def test_a_broken_file_says_which_and_how_to_fix_it(venv: Path) -> None:
    (venv / "marketintel.toml").write_text("data_dir = /no/quotes\n")
    with pytest.raises(ConfigError, match=r"marketintel\.toml.*make setup"):
        config.data_dir()
    (venv / "marketintel.toml").write_text("data_dir = 3\n")
    with pytest.raises(ConfigError, match="string path"):
        config.data_dir()


def test_the_makefile_writes_a_file_this_reads(tmp_path: Path) -> None:
    """The $(STAMP) recipe's own command, run as make runs it, writes what data_dir() reads."""
    makefile = (config.REPO_ROOT / "Makefile").read_text()
    line = next(x for x in makefile.splitlines() if "python -c" in x and "data_dir" in x)
    code = line.split("-c '", 1)[1].rsplit("'", 1)[0]
    clone = tmp_path / 'a "quoted" clone'
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(tmp_path / "marketintel.toml"),
            f"{clone}/data",
            f"{clone}/../shared",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    settings = config.venv_config(tmp_path)
    assert settings == {"data_dir": f"{clone}/data", "shared_dir": f"{clone}/../shared"}


def test_mi_in_this_venv_finds_the_same_directory_from_anywhere(tmp_path: Path) -> None:
    """A process of this venv without MI_DATA_DIR (a shell, a kernel) finds what make's MI_DATA_DIR says."""
    code = "from marketintel import config; print(config.data_dir_source()[0])"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    if (Path(sys.prefix) / "marketintel.toml").exists():  # a venv set up by make
        assert Path(res.stdout.strip()) == config.REPO_ROOT / "data"
    else:
        assert Path(res.stdout.strip()) == tmp_path / ".local" / "share" / "marketintel"
