"""EMC Singapore on its recorded January 2023 price information export (USEP, LCP, DEMAND, TCL), the missing
period of 22 Jan 2023, bad payloads and the request.
"""

from __future__ import annotations

import pandas as pd
import pytest

from marketintel.config import shared_dir
from marketintel.connectors.emcsg.ingestor import PRICE_INFO_URL, EMCSGIngestor
from marketintel.connectors.emcsg.mapping import missing_periods, read_periods
from marketintel.ingest.sdk import ParseError, RawPayload
from tests.connectors.contract import ConnectorContract, parse_file

EMC = shared_dir() / "fixtures" / "emc_sg"
pytestmark = pytest.mark.skipif(not EMC.is_dir(), reason=f"recorded EMC files not found at {EMC}")
JAN = EMC / "03_USEP_Jan-2023.csv"
FILES = [JAN] if EMC.is_dir() else []
UTC = "UTC"


def _map(dataset: str, body: bytes) -> pd.DataFrame:
    return EMCSGIngestor().map_to_schema(RawPayload("emcsg", dataset, "x", body, pd.Timestamp.now(tz=UTC)))


class TestEMCSGContract(ConnectorContract):
    source = "emcsg"
    files = FILES


class TestEMCSGDemandContract(ConnectorContract):
    """The same file read as fundamentals (detection gives the prices)."""

    source = "emcsg"
    files = FILES

    def recorded_frames(self) -> list[tuple[str, str, pd.DataFrame]]:
        return [("demand_30min", p.name, _map("demand_30min", p.read_bytes())) for p in self.files]


def test_detected_as_usep() -> None:
    assert parse_file("emcsg", JAN)[0] == "usep_30min"


def test_one_period_is_missing_and_not_invented() -> None:
    raw = read_periods(JAN.read_bytes())
    assert len(raw) == 1487 == 31 * 48 - 1
    assert missing_periods(raw) == {"22 Jan 2023": [14]}
    _, df = parse_file("emcsg", JAN)
    usep = df[df["market"] == "EMC_USEP_30MIN"]
    per_day = usep.groupby(usep["interval_start_utc"].dt.tz_convert("Asia/Singapore").dt.date).size()
    assert len(per_day) == 31 and (per_day.drop(pd.Timestamp("2023-01-22").date()) == 48).all()
    assert per_day[pd.Timestamp("2023-01-22").date()] == 47
    # period 14 = 06:30-07:00 SGT = 22:30-23:00 UTC on 21 Jan: no row, the gap stays visible
    assert pd.Timestamp("2023-01-21 22:30", tz=UTC) not in set(usep["interval_start_utc"])
    gap = usep["interval_start_utc"].diff().dropna()
    assert (gap == pd.Timedelta(minutes=30)).sum() == len(gap) - 1 and gap.max() == pd.Timedelta(hours=1)


def test_first_and_last_usep_with_their_utc_intervals() -> None:
    _, df = parse_file("emcsg", JAN)
    usep = df[df["market"] == "EMC_USEP_30MIN"].set_index("interval_start_utc")
    # "USEP","01 Jan 2023","1","158.62",... period 1 = 00:00-00:30 SGT = 16:00-16:30 UTC on 31 Dec
    first = pd.Timestamp("2022-12-31 16:00", tz=UTC)
    assert usep.index.min() == first and usep.loc[first, "price"] == 158.62
    assert usep.loc[first, "interval_end_utc"] == pd.Timestamp("2022-12-31 16:30", tz=UTC)
    # "USEP","31 Jan 2023","48","106.80",... = 23:30-24:00 SGT = 15:30-16:00 UTC
    last = pd.Timestamp("2023-01-31 15:30", tz=UTC)
    assert usep.index.max() == last and usep.loc[last, "price"] == 106.80
    # "USEP","17 Jan 2023","42","4500.00",... the month's high, 20:30-21:00 SGT
    assert (
        usep["price"].idxmax() == pd.Timestamp("2023-01-17 12:30", tz=UTC) and usep["price"].max() == 4500.0
    )
    assert set(df["currency"]) == {"SGD"} and set(df["unit"]) == {"SGD/MWh"} and set(df["location"]) == {"SG"}
    assert (df["published_at_utc"] == df["interval_end_utc"]).all()


def test_stamps_are_millisecond_utc() -> None:
    df = parse_file("emcsg", JAN)[1]
    for col in ("interval_start_utc", "interval_end_utc", "published_at_utc"):
        assert str(df[col].dtype) == "datetime64[ms, UTC]", col


def test_lcp_is_its_own_market() -> None:
    _, df = parse_file("emcsg", JAN)
    lcp = df[df["market"] == "EMC_LCP_30MIN"]
    assert len(lcp) == 1487 and (lcp["price"] != 0).sum() == 37 and lcp["price"].max() == 4500.0


def test_demand_and_curtailed_load() -> None:
    df = _map("demand_30min", JAN.read_bytes())
    assert len(df) == 2 * 1487 and set(df["unit"]) == {"MW"} and set(df["area"]) == {"SG"}
    first = df[df["interval_start_utc"] == pd.Timestamp("2022-12-31 16:00", tz=UTC)]
    assert first.set_index("variable")["value"].to_dict() == {"curtailed_load": 0.0, "load": 5539.761}
    load = df[df["variable"] == "load"].set_index("interval_start_utc")["value"]
    # kept as published: "15 Jan 2023","1",...,"9999.023" (neighbours ~5,800 MW)
    assert load[pd.Timestamp("2023-01-14 16:00", tz=UTC)] == 9999.023
    tcl = df[df["variable"] == "curtailed_load"]
    assert (tcl["value"] != 0).sum() == 44 and tcl["value"].max() == 43.0


def test_the_realtime_layout_is_read_too() -> None:
    """HAND-WRITTEN in the real-time download's header style (no spaces, a Last Updated column)."""
    body = (
        b"Date,Period,USEP($/MWh),Demand(MW),Last Updated\n"
        b"05-Jan-2025,1,150.10,5600.5,05-Jan-2025 00:05\n05-Jan-2025,2,151.20,5590.0,05-Jan-2025 00:35\n"
    )
    prices = _map("usep_30min", body)
    assert prices["price"].tolist() == [150.10, 151.20]
    assert prices["interval_start_utc"].iloc[0] == pd.Timestamp("2025-01-04 16:00", tz=UTC)
    assert _map("demand_30min", body)["value"].tolist() == [5600.5, 5590.0]


_HEAD = JAN.read_text().splitlines()[:3] if EMC.is_dir() else ["", "", ""]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty body"),
        ("<html><form>SAML</form></html>", "HTML page"),
        ("\n".join([_HEAD[0], _HEAD[1], _HEAD[1]]), "period 1 of 01 Jan 2023 is listed twice"),
        ("\n".join(_HEAD).replace('"2","147', '"49","147'), r"PERIOD '49' on 01 Jan 2023 is not 1..48"),
        ("\n".join(_HEAD).replace("01 Jan 2023", "2023-01-01"), "unreadable DATE '2023-01-01'"),
        ("\n".join(_HEAD).replace('"158.62"', '"n/a"'), "non-numeric USEP"),
        ("\n".join(_HEAD).replace("USEP ($/MWh)", "PRICE"), "changed header: missing"),
        (_HEAD[0], "header but no rows"),
    ],
    ids=["empty", "html", "repeated", "period-49", "date", "price", "header", "no-rows"],
)
def test_bad_payloads_raise_parse_error(body: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        _map("usep_30min", body.encode())


def test_demand_needs_a_demand_column() -> None:
    with pytest.raises(ParseError, match="no demand column"):
        _map("demand_30min", b"DATE,PERIOD,USEP ($/MWh)\n01 Jan 2023,1,10\n")


def test_unknown_file_is_not_detected() -> None:
    with pytest.raises(ParseError, match="usep_30min, demand_30min"):
        EMCSGIngestor().detect_dataset("x.csv", b"a,b\n1,2\n")


def test_request_and_schedule() -> None:
    ing = EMCSGIngestor()
    assert ing.request("usep_30min") == (PRICE_INFO_URL, {"downloadRealtime": "true"})
    ds = ing.discover().dataset("usep_30min")
    assert ds.timezone == "Asia/Singapore" and ds.publication == "*/30 * * * *" and ds.verified


def test_the_realtime_download_covers_only_the_passed_part_of_today() -> None:
    class Http:
        def get(self, *args: object, **kwargs: object) -> object:
            from types import SimpleNamespace

            return SimpleNamespace(body=JAN.read_bytes(), status=200, content_type="text/csv")

    from marketintel.ingest.sdk import PullRequest

    now = pd.Timestamp.now(tz=UTC)
    past = PullRequest("usep_30min", now - pd.Timedelta(days=9), now - pd.Timedelta(days=8))
    (payload,) = EMCSGIngestor(Http()).pull_or_subscribe(past)
    assert payload.window_start_utc is None and payload.window_end_utc is None
    today = PullRequest("usep_30min", now - pd.Timedelta(days=2), now + pd.Timedelta(days=1))
    (payload,) = EMCSGIngestor(Http()).pull_or_subscribe(today)
    midnight = now.tz_convert("Asia/Singapore").normalize().tz_convert(UTC)
    if now.floor("30min") > midnight:
        assert payload.window_start_utc == midnight and payload.window_end_utc == now.floor("30min")
