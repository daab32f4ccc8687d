"""Content negotiation and the four encodings of the API: what ``Accept`` chooses, and round trips."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marketintel.api import formats
from marketintel.api.problems import Problem


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/json", "json"),
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("text/*", "csv"),
        ("application/vnd.apache.parquet", "parquet"),
        ("application/x-parquet", "parquet"),
        ("application/vnd.apache.arrow.stream", "arrow"),
        ("application/json;q=0.5, text/csv", "csv"),  # quality first
        ("application/vnd.apache.parquet;q=0.9, text/csv;q=0.9", "parquet"),  # a tie: the first named
        ("image/png, application/json;q=0.1", "json"),  # the one acceptable offer
        ("text/html,application/xhtml+xml,*/*;q=0.8", "json"),  # a browser
    ],
)
def test_accept_chooses_the_format(accept: str | None, chosen: str) -> None:
    assert formats.negotiate(accept) == chosen


def test_format_parameter_overrides_accept() -> None:
    assert formats.negotiate("application/json", "csv") == "csv"
    assert formats.negotiate("image/png", "arrow") == "arrow"  # even an unacceptable Accept
    with pytest.raises(Problem) as caught:
        formats.negotiate(None, "xlsx")
    assert caught.value.status == 400 and caught.value.extra["allowed"] == ["arrow", "csv", "json", "parquet"]


@pytest.mark.parametrize("accept", ["image/png", "text/html", "application/json;q=0", "application/xml"])
def test_nothing_acceptable_is_406_listing_the_media_types(accept: str) -> None:
    with pytest.raises(Problem) as caught:
        formats.negotiate(accept)
    assert caught.value.status == 406
    assert accept in caught.value.detail
    offered = {m.split(";")[0] for m in caught.value.extra["allowed"]}
    assert offered == {"application/json", "text/csv", "application/vnd.apache.parquet",
                       "application/vnd.apache.arrow.stream"}  # fmt: skip


def _frame(n: int = 5) -> pd.DataFrame:
    start = pd.Timestamp("2024-03-31T00:00:00Z")
    return pd.DataFrame(
        {
            "interval_start_utc": pd.date_range(start, periods=n, freq="h").astype("datetime64[ms, UTC]"),
            "location": [f"HUB_{i}" for i in range(n)],
            "price": [10.5 * i - 3.25 for i in range(n)],
            "congestion": [np.nan if i % 2 else 0.125 * i for i in range(n)],
            "n_intervals": np.arange(n, dtype="uint64"),
        }
    )


def _decode(fmt: str, body: bytes) -> tuple[pd.DataFrame, dict[str, Any]]:
    if fmt == "json":
        doc = json.loads(body)
        return pd.DataFrame(doc["data"]), doc["meta"]
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(body)), {}
    table = pq.read_table(io.BytesIO(body)) if fmt == "parquet" else pa.ipc.open_stream(body).read_all()
    return table.to_pandas(), json.loads(table.schema.metadata[b"marketintel"])


def _encoded(batches: list[pa.RecordBatch], fmt: str, meta: dict[str, Any]) -> bytes:
    return b"".join(formats.encode(iter(batches), fmt, meta))


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet", "arrow"])
def test_each_format_round_trips_a_frame(fmt: str) -> None:
    df = _frame()
    meta = {"units": {"price": "USD/MWh"}, "rows": len(df)}
    # three batches of 2, 2 and 1 rows: the encodings join them into one document
    table = pa.Table.from_pandas(df, preserve_index=False)
    back, meta_back = _decode(fmt, _encoded(table.to_batches(max_chunksize=2), fmt, meta))
    assert len(back) == len(df) and list(back.columns) == list(df.columns)
    if fmt != "csv":
        assert meta_back == meta
    if fmt in ("json", "csv"):  # ISO-8601 UTC text
        assert back["interval_start_utc"].iloc[0] == "2024-03-31T00:00:00.000Z"
        back["interval_start_utc"] = pd.to_datetime(back["interval_start_utc"], utc=True).astype(
            "datetime64[ms, UTC]"
        )
        back["n_intervals"] = back["n_intervals"].astype("uint64")
        back["congestion"] = back["congestion"].astype("float64")  # JSON's null
    else:
        assert back["interval_start_utc"].dtype == df["interval_start_utc"].dtype  # typed, tz-aware
    back["location"] = back["location"].astype(df["location"].dtype)
    pd.testing.assert_frame_equal(back, df, check_exact=False, rtol=1e-15)


def test_json_writes_nan_and_infinities_as_null_and_naive_stamps_as_utc() -> None:
    # a MAPE over zero actuals is infinite: JSON has no Infinity, and a ValueError mid-stream would cut the
    # answer short after its 200
    stamps = [datetime(2024, 1, 1, 12, 30)] * 4
    batch = pa.RecordBatch.from_pydict(
        {
            "t": pa.array(stamps, pa.timestamp("ms")),
            "x": pa.array([float("nan"), float("inf"), -float("inf"), 1.5]),
        }
    )
    doc = json.loads(_encoded([batch], "json", {}))
    assert doc["data"][0] == {"t": "2024-01-01T12:30:00.000Z", "x": None}
    assert [r["x"] for r in doc["data"]] == [None, None, None, 1.5]


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet", "arrow"])
def test_an_empty_result_keeps_its_columns(fmt: str) -> None:
    empty = _frame().iloc[:0]
    body = b"".join(formats.encode(formats.frame_batches(empty), fmt, {"rows": 0}))
    if fmt == "json":
        assert json.loads(body) == {"meta": {"rows": 0}, "data": []}
    elif fmt == "csv":
        assert pd.read_csv(io.BytesIO(body)).columns.tolist() == list(empty.columns)
    else:
        back, meta = _decode(fmt, body)
        assert back.empty and list(back.columns) == list(empty.columns) and meta == {"rows": 0}


def test_encode_streams_batch_by_batch() -> None:
    table = pa.Table.from_pandas(_frame(6), preserve_index=False)
    for fmt in ("json", "csv", "arrow"):
        chunks = [c for c in formats.encode(iter(table.to_batches(max_chunksize=2)), fmt, {}) if c]
        assert len(chunks) >= 3, (fmt, len(chunks))  # not one buffer built at the end
    csv = b"".join(formats.encode(iter(table.to_batches(max_chunksize=2)), "csv", {})).decode()
    assert csv.count("interval_start_utc") == 1  # one header
