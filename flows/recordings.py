"""Replay folders built from the recorded responses in ``../shared/fixtures``, for runs without network.

``HttpClient("replay", folder)`` serves a folder of recorded bodies keyed by the requests a connector
builds. This module assembles such folders from the shared recordings for the datasets and windows they
cover, so that the flows and ``make demo`` can run the real connectors, runner and store offline and say
so. Each entry names the window the recordings cover; a request outside it fails as a missing recording.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from marketintel.config import shared_dir
from marketintel.exceptions import MarketIntelError
from marketintel.ingest.http import request_key


@dataclass(frozen=True)
class Recording:
    """A recorded window of one dataset: where its files are and which requests they answer."""

    source: str
    dataset: str
    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    requests: Callable[[], list[tuple[str, Path]]]  # (URL the connector builds, recorded file)
    note: str


def _spp_rt() -> list[tuple[str, Path]]:
    from marketintel.connectors.spp.ingestor import SPPIngestor

    folder = shared_dir() / "fixtures" / "spp"
    out = []
    for minute in ("40", "45", "50", "55"):
        stamp = pd.Timestamp(f"2025-03-31 08:{minute}", tz="America/Chicago")
        url = SPPIngestor().file_url("lmp_real_time_5min", stamp)
        out.append((url, folder / f"RTBM-LMP-SL-2025033108{minute}.csv"))
    return out


def _spp_da() -> list[tuple[str, Path]]:
    from marketintel.connectors.spp.ingestor import SPPIngestor

    url = SPPIngestor().file_url("lmp_day_ahead_hourly", pd.Timestamp("2025-03-19", tz="America/Chicago"))
    return [(url, shared_dir() / "fixtures" / "spp" / "DA-LMP-SL-202503190100.csv")]


def _isone_region_forecast() -> list[tuple[str, Path]]:
    from marketintel.connectors.isone.ingestor import ISONEIngestor

    folder = shared_dir() / "fixtures" / "isone" / "api_v1.1"
    out = []
    for day in ("20241102", "20241103"):
        (url,) = ISONEIngestor().urls(
            "load_forecast_by_region_hourly", pd.Timestamp(day, tz="America/New_York")
        )
        out.append((url, folder / f"reliabilityregionloadforecast_day_{day}_all.json"))
    return out


def _cme_settlements() -> list[tuple[str, Path]]:
    from marketintel.connectors.cme.ingestor import URL

    return [(URL, shared_dir() / "fixtures" / "cme" / "nymex_future__tradedate_20141229.csv")]


def _omie_day() -> list[tuple[str, Path]]:
    from marketintel.connectors.omie.ingestor import OMIEIngestor

    url, _ = OMIEIngestor().request("marginal_price_15min", pd.Timestamp("2025-10-01", tz="Europe/Madrid"))
    return [(url, shared_dir() / "fixtures" / "omie" / "INT_PBC_EV_H_1_01_10_2025_01_10_2025.TXT")]


def _nem_dispatch_price() -> list[tuple[str, Path]]:
    from marketintel.connectors.nem.ingestor import NEMIngestor

    url = NEMIngestor.archive_url("DISPATCHPRICE", "2025-01")
    name = "PUBLIC_ARCHIVE%23DISPATCHPRICE%23FILE01%23202501010000.zip"
    return [(url, shared_dir() / "fixtures" / "aemo_nem" / "mmsdm" / name)]


RECORDINGS: dict[tuple[str, str], Recording] = {
    ("spp", "lmp_real_time_5min"): Recording(
        "spp", "lmp_real_time_5min", pd.Timestamp("2025-03-31 13:35", tz="UTC"),
        pd.Timestamp("2025-03-31 13:55", tz="UTC"), _spp_rt,
        "SPP RTBM LMP, 2025-03-31 08:35-08:55 CPT; the 08:45 file was served empty (quarantined)",
    ),
    ("spp", "lmp_day_ahead_hourly"): Recording(
        "spp", "lmp_day_ahead_hourly", pd.Timestamp("2025-03-19 05:00", tz="UTC"),
        pd.Timestamp("2025-03-20 05:00", tz="UTC"), _spp_da, "SPP day-ahead LMP, operating day 2025-03-19",
    ),
    ("isone", "load_forecast_by_region_hourly"): Recording(
        "isone", "load_forecast_by_region_hourly", pd.Timestamp("2024-11-02 04:00", tz="UTC"),
        pd.Timestamp("2024-11-04 05:00", tz="UTC"), _isone_region_forecast,
        "ISO-NE load forecast by reliability region, 2024-11-02 and the 25-hour 2024-11-03",
    ),
    ("cme", "futures_settlements"): Recording(
        "cme", "futures_settlements", pd.Timestamp("2014-12-29 05:00", tz="UTC"),
        pd.Timestamp("2014-12-30 05:00", tz="UTC"), _cme_settlements,
        "NYMEX daily settlements of trade date 2014-12-29 (Henry Hub, PJM/ERCOT/MISO/NYISO power)",
    ),
    ("omie", "marginal_price_15min"): Recording(
        "omie", "marginal_price_15min", pd.Timestamp("2025-09-30 22:00", tz="UTC"),
        pd.Timestamp("2025-10-01 22:00", tz="UTC"), _omie_day,
        "OMIE marginal prices of Spain and Portugal, 2025-10-01: the first day of the 15-minute MTU",
    ),
    ("nem", "dispatch_price"): Recording(
        "nem", "dispatch_price", pd.Timestamp("2024-12-31 14:00", tz="UTC"),
        pd.Timestamp("2025-01-03 14:00", tz="UTC"), _nem_dispatch_price,
        "AEMO NEM 5-minute dispatch prices of NSW1 and SA1, 2025-01-01..03 AEST (MMSDM archive, "
        "filtered to some regions and days of the month by its origin)",
    ),
}  # fmt: skip


def replay_folder(source: str, dataset: str, folder: Path, start: Any = None, end: Any = None) -> Recording:
    """Write the replay folder (bodies + ``index.json``) of a recorded dataset into ``folder``.

    Parameters
    ----------
    source, dataset : str
        The recorded dataset.
    folder : Path
        Where to write it.
    start, end : str or pd.Timestamp, optional
        The window to be replayed [UTC]; it must lie inside the recording.

    Raises
    ------
    MarketIntelError
        When there is no recording of that dataset, the window lies outside it, or the shared recordings
        are not found (the message says where they were looked for, ``MI_SHARED_DIR``).
    """
    recording = RECORDINGS.get((source, dataset))
    if recording is None:
        known = ", ".join(f"{s}/{d}" for s, d in RECORDINGS)
        raise MarketIntelError(f"no recorded replay of {source}/{dataset}; recorded: {known}")
    stamps = [None if v is None else pd.Timestamp(v) for v in (start, end)]
    first, last = [None if t is None else t.tz_localize("UTC") if t.tzinfo is None else t for t in stamps]
    if (first is not None and first < recording.start_utc) or (last is not None and last > recording.end_utc):
        raise MarketIntelError(
            f"the window {start} .. {end} is outside the recording of {source}/{dataset}, "
            f"{recording.start_utc} .. {recording.end_utc}; choose a window inside it or replay=False"
        )
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for k, (url, path) in enumerate(recording.requests()):
        if not path.is_file():
            raise MarketIntelError(f"recording {path} not found (set MI_SHARED_DIR to the shared/ folder)")
        name = f"{k:03d}-{path.name}"
        (folder / name).write_bytes(path.read_bytes())
        index[request_key("GET", url, None)] = {"file": name, "status": 200, "content_type": ""}
    (folder / "index.json").write_text(json.dumps(index, indent=1))
    return recording
