"""timeutils: the one place that converts time zones."""

from __future__ import annotations

import pandas as pd
import pytest

from marketintel.exceptions import NaiveTimestampError, SchemaError
from marketintel.timeutils import local_day_start_utc, local_to_utc, naive_timestamp_problem, to_instant


def test_local_to_utc_on_dst_days_refuses_to_guess() -> None:
    spring = pd.date_range("2024-03-31 00:00", periods=2, freq="h")  # 00:00, 01:00 exist in Berlin
    assert list(local_to_utc(spring, "Europe/Berlin")) == [
        pd.Timestamp("2024-03-30 23:00", tz="UTC"),
        pd.Timestamp("2024-03-31 00:00", tz="UTC"),
    ]
    with pytest.raises(ValueError, match="2024-03-31 02:00"):  # does not exist: clocks jump 02:00 -> 03:00
        local_to_utc(pd.DatetimeIndex(["2024-03-31 02:00"]), "Europe/Berlin")
    with pytest.raises(ValueError, match="2024-10-27 02:00"):  # happens twice
        local_to_utc(pd.DatetimeIndex(["2024-10-27 02:00"]), "Europe/Berlin")
    with pytest.raises(ValueError, match="naive wall-clock"):
        local_to_utc(pd.date_range("2024-01-01", periods=1, tz="UTC"), "Europe/Berlin")
    fixed = local_to_utc(pd.DatetimeIndex(["2024-07-01 00:00"]), "Etc/GMT-1")  # UTC+01:00 all year
    assert fixed[0] == pd.Timestamp("2024-06-30 23:00", tz="UTC")


def test_local_day_start_counts_23_and_25_hour_days() -> None:
    hours = pd.date_range("2024-10-26 22:00", "2024-10-28 00:00", freq="h", tz="UTC")
    starts = local_day_start_utc(hours, "Europe/Berlin")
    counts = pd.Series(1, index=starts).groupby(level=0).size()
    assert counts[pd.Timestamp("2024-10-26 22:00", tz="UTC")] == 25  # the long day of the autumn change


def test_to_instant_and_naive_columns() -> None:
    assert to_instant("2024-03-31T01:00Z", "t") == pd.Timestamp("2024-03-31 01:00", tz="UTC")
    with pytest.raises(NaiveTimestampError, match="tz-aware"):
        to_instant("2024-03-31 01:00", "as_of")
    with pytest.raises(SchemaError, match="got NaT"):
        to_instant(pd.NaT, "as_of")
    naive = pd.Series(pd.date_range("2024-01-01", periods=2, freq="h"))
    assert "naive timestamps" in (naive_timestamp_problem("ts", naive) or "")
    assert naive_timestamp_problem("ts", naive.dt.tz_localize("UTC")) is None
