"""A minimal connector for the SDK's own tests: one CSV payload per day, built in memory.

Real connectors are tested on recorded publisher responses; this one exercises the SDK's machinery
(archive, quarantine, emit, checkpoint, resume) with payloads the tests control.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pandas as pd

from marketintel.ingest.sdk import Catalog, Dataset, Ingestor, ParseError, PullRequest, RawPayload

HEADER = "interval_start_utc,price"


def day_csv(day: pd.Timestamp) -> bytes:
    hours = pd.date_range(day, periods=24, freq="h", tz="UTC")
    lines = [HEADER] + [f"{h.isoformat()},{(h.day * 100 + h.hour) / 10:.1f}" for h in hours]
    return ("\n".join(lines) + "\n").encode()


class ToyIngestor(Ingestor):
    source = "toy"

    def __init__(
        self,
        http: object = None,
        *,
        overrides: dict[str, bytes] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        super().__init__(http)
        self.overrides = overrides or {}
        self.delay_s = delay_s

    def discover(self) -> Catalog:
        return Catalog(
            "toy", (Dataset("daily", "prices", "toy hourly prices, one file a day", "1D", "UTC"),), 0.0
        )

    def pull_or_subscribe(self, request: PullRequest) -> Iterator[RawPayload]:
        for day in pd.date_range(request.start_utc.floor("D"), request.end_utc, freq="D", inclusive="left"):
            key = day.strftime("%Y-%m-%d")
            time.sleep(self.delay_s)
            yield RawPayload(
                "toy",
                request.dataset,
                f"toy://{key}.csv",
                self.overrides.get(key, day_csv(day)),
                pd.Timestamp.now(tz="UTC"),
                window_start_utc=day,
                window_end_utc=day + pd.Timedelta("1D"),
            )

    def map_to_schema(self, raw: RawPayload) -> pd.DataFrame:
        if not raw.body:
            raise ParseError("empty body")
        if raw.body.lstrip()[:1] == b"<":
            raise ParseError("an HTML page instead of CSV (the publisher's error page?)")
        first = raw.body.split(b"\n", 1)[0].decode(errors="replace")
        if first != HEADER:
            raise ParseError(f"changed header: expected {HEADER!r}, got {first!r}")
        df = pd.read_csv(io.BytesIO(raw.body))
        start = pd.to_datetime(df["interval_start_utc"], utc=True).astype("datetime64[ms, UTC]")
        return pd.DataFrame(
            {
                "interval_start_utc": start,
                "interval_end_utc": start + pd.Timedelta("1h"),
                "market": "TOY",
                "location": "HUB",
                "location_type": "hub",
                "price": df["price"].astype(float),
                "currency": "EUR",
                "unit": "EUR/MWh",
                "source": "toy",
                "published_at_utc": start.dt.floor("D"),
            }
        )


if __name__ == "__main__":  # used by the kill -9 test: ingest a window slowly in a separate process
    import sys

    from marketintel.ingest.runner import ingest
    from marketintel.store.client import connect

    port, database, start, end = sys.argv[1:5]
    client = connect(
        __import__("marketintel.config", fromlist=["x"]).ClickHouseURL(
            "http", "127.0.0.1", int(port), "default", "", database
        )
    )
    ingest(
        ToyIngestor(delay_s=0.3),
        PullRequest("daily", pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")),
        client,
        progress=lambda line: print(line, flush=True),
    )
