"""The connector registry (entry points) and the `mi connectors` / `mi ingest` commands' errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from marketintel.ingest import registry
from marketintel.ingest.sdk import PullRequest, UnknownDatasetError
from tests.connectors.toy import ToyIngestor


def test_unknown_source_lists_the_installed_ones() -> None:
    with pytest.raises(registry.UnknownSourceError, match="no connector called 'nope'; installed: "):
        registry.load("nope")
    assert registry.names() == sorted(registry.names())


def test_unknown_dataset_lists_the_sources_datasets() -> None:
    with pytest.raises(UnknownDatasetError, match="toy has no dataset 'prices'; it has: daily"):
        ToyIngestor().discover().dataset("prices")


def test_pull_requests_need_instants_and_a_forward_window() -> None:
    with pytest.raises(ValueError, match="must end after it starts"):
        PullRequest("daily", pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC"))
    with pytest.raises(ValueError, match="tz-aware"):
        PullRequest("daily", pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02", tz="UTC"))


def test_cli_connectors_list_and_unknown_source() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "marketintel.cli", "connectors", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "nem: 16 of 16 datasets verified on recordings" in res.stdout
    assert "emerging markets (no recording here):" in res.stdout
    assert "connector: ccee (NOT verified: documented format only)" in res.stdout
    assert "China" in res.stdout and "no connector:" in res.stdout
    res = subprocess.run(
        [sys.executable, "-m", "marketintel.cli", "connectors", "parse", "nope", "x.csv"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 2 and "no connector called 'nope'" in res.stderr


def test_daily_publication_lags_agree_with_their_publication_time() -> None:
    """A daily dataset published at H:M local (a cron) has lag = publication - interval end.

    Day-ahead data is published the day before delivery (lag = -(48h - H:M)), same-day results on the day
    (-(24h - H:M)); ``--follow`` asks for a day at its end plus the lag, so a lag taken from the interval's
    start would ask a day late.
    """
    import re

    wrong = []
    for name in registry.names():
        for ds in registry.load(name)().discover().datasets:
            match = re.fullmatch(r"(\d+) (\d+) \* \* \S+", ds.publication)
            lag = pd.Timedelta(ds.lag)
            if ds.cadence != "1D" or lag >= pd.Timedelta(0) or not match:
                continue
            at = pd.Timedelta(hours=int(match.group(2)), minutes=int(match.group(1)))
            expected = [pd.Timedelta(hours=48) - at, pd.Timedelta(hours=24) - at]
            if min(abs(-lag - e) for e in expected) > pd.Timedelta(minutes=30):
                wrong.append(f"{name}/{ds.name}: lag {ds.lag} but published at {ds.publication}")
    assert wrong == []
