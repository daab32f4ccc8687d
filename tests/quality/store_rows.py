"""Rows for the data-quality page's tests: a checked series with a gap on a DST day, payloads, a watermark."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from marketintel.services.quality import QualityOutcome, run_data_quality
from marketintel.store import insert_df

MARKET = "SPP_REAL_TIME_5MIN"
HUB = "SPPNORTH_HUB"
TZ = "America/Chicago"
#: Chicago local days 2024-03-09 (24 h) and 2024-03-10 (DST: 23 h), 5-minute intervals: 288 + 276
START = pd.Timestamp("2024-03-09 06:00", tz="UTC")
END = pd.Timestamp("2024-03-11 05:00", tz="UTC")
#: three intervals missing on the DST day
GAP = pd.date_range("2024-03-10 15:00", periods=3, freq="5min", tz="UTC")
#: the empty file SPP serves for an interval not yet published, and a CSV cut short
EMPTY_REASON = "ParseError: empty file (SPP serves 0-byte files for intervals not yet published)"
PARTIAL_BODY = b"Interval,Settlement Location,LMP\n03/10/2024 09:00:00,SPPNORTH_HUB,21.5\n\xff\xfe broken"


def price_rows() -> pd.DataFrame:
    """5-minute prices of the hub over the two local days, without :data:`GAP`."""
    starts = pd.date_range(START, END, freq="5min", inclusive="left")
    starts = starts[~starts.isin(GAP)]
    return pd.DataFrame(
        {
            "interval_start_utc": starts,
            "interval_end_utc": starts + pd.Timedelta(minutes=5),
            "market": MARKET,
            "location": HUB,
            "location_type": "hub",
            "price": 20.0 + np.sin(np.arange(len(starts)) / 40.0),
            "currency": "USD",
            "unit": "USD/MWh",
            "published_at_utc": starts + pd.Timedelta(minutes=10),
            "source": "spp",
        }
    )


def payload_rows(fetched: pd.Timestamp) -> pd.DataFrame:
    """Three archived payloads of spp/lmp_real_time_5min: parsed, quarantined (empty), partial."""
    bodies = [b"Interval,LMP\n", b"", PARTIAL_BODY]
    return pd.DataFrame(
        {
            "source": "spp",
            "dataset": "lmp_real_time_5min",
            "sha256": [hashlib.sha256(b + bytes([i])).hexdigest() for i, b in enumerate(bodies)],
            "url": [f"https://portal.spp.org/file-browser-api/download/{i}.csv" for i in range(3)],
            "request": "{}",
            "http_status": 200,
            "content_type": "text/csv",
            "size_bytes": [len(b) for b in bodies],
            "payload": bodies,
            "status": ["ok", "quarantined", "partial"],
            "reason": ["", EMPTY_REASON, "rows after line 2 are not UTF-8; left out"],
            "fetched_at_utc": [fetched, fetched + pd.Timedelta(minutes=1), fetched + pd.Timedelta(minutes=2)],
        }
    )


def checkpoint_rows(watermark: pd.Timestamp) -> pd.DataFrame:
    """The dataset's checkpoint: ingested without gaps up to ``watermark``."""
    return pd.DataFrame(
        {
            "source": ["spp"],
            "dataset": ["lmp_real_time_5min"],
            "stream": [""],
            "watermark_utc": [watermark],
            "state": ["{}"],
            "run_id": ["ingest-test"],
            "updated_at_utc": [watermark],
        }
    )


def populate(client: Any) -> QualityOutcome:
    """Store the series, run its checks (results and alerts stored), the payloads and the checkpoint."""
    insert_df(client, "prices", price_rows())
    insert_df(client, "raw_payloads", payload_rows(pd.Timestamp("2024-03-11 05:20", tz="UTC")))
    insert_df(client, "checkpoints", checkpoint_rows(END))
    return run_data_quality(
        table="prices", market=MARKET, location=HUB, cadence="5min", publication_lag="15min", tz=TZ,
        start=START, end=END, run_id="dq-test", client=client,
    )  # fmt: skip
