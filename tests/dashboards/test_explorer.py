"""The explorer's parameters read the right rows from the store, as of the right time, with clear messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from marketintel.dashboards import tail
from marketintel.dashboards.explorer import Explorer, plot_frame
from marketintel.services import queries
from marketintel.services.sample import SAMPLE_LOCATION, SAMPLE_MARKET, SampleSummary
from marketintel.store import insert_df
from tests.dashboards.rows import hours, price_rows
from tests.storeproc import wait_until

UTC = "UTC"


@pytest.fixture(autouse=True)
def _no_poller_left() -> Iterator[None]:
    yield
    tail.stop_all()


@pytest.fixture(scope="module")
def revised(db_client: Any, sample: SampleSummary) -> str:
    """A second market whose hour 01:00 is revised at 14:00 (first published at 10:00)."""
    published = pd.Timestamp("2024-03-30 10:00", tz=UTC)
    first = price_rows("REV_DA", "HUB_B", hours("2024-03-31", 3), [50, 60, 70], published, "prelim")
    insert_df(db_client, "prices", first)
    insert_df(db_client, "prices", price_rows("REV_DA", "HUB_B", hours("2024-03-31 01:00", 1), [65],
                                             published + pd.Timedelta(hours=4)))  # fmt: skip
    return "REV_DA"


def test_defaults_show_the_last_week_of_the_first_series(db_client: Any, sample: SampleSummary) -> None:
    view = Explorer(client=db_client)
    assert (view.market, view.location) == (SAMPLE_MARKET, SAMPLE_LOCATION)
    assert view.message == ""
    expected = queries.price_series(db_client, SAMPLE_MARKET, SAMPLE_LOCATION, view.start, view.end)
    assert_frame_equal(view.prices, expected)
    assert len(view.prices) > 24 * 6
    assert view.area == "NORDPOOL / SYS"  # the fundamentals of the price market's own area
    assert view.variables == ["load_forecast", "wind_forecast"]
    assert set(view.fundamentals["variable"]) == {"load_forecast", "wind_forecast"}


@pytest.mark.parametrize("resolution", ["hourly", "daily"])
def test_resolution_and_window_read_the_same_as_the_query(
    db_client: Any, sample: SampleSummary, resolution: str
) -> None:
    view = Explorer(client=db_client)
    start = pd.Timestamp(view.end) - pd.Timedelta(days=3)
    view.param.update(resolution=resolution, start=start.to_pydatetime())
    expected = queries.price_series(
        db_client, SAMPLE_MARKET, SAMPLE_LOCATION, start, view.end, resolution=resolution
    )
    assert_frame_equal(view.prices, expected)
    plotted = plot_frame(view.prices)
    # steps from each start; the last step ends at the last interval's end
    assert plotted["price"].tolist() == [*expected["price_avg"], expected["price_avg"].iloc[-1]]
    assert plotted["time"].iloc[-1] == expected["interval_end_utc"].iloc[-1].tz_localize(None)
    assert (plotted["low"] <= plotted["price"]).all() and (plotted["price"] <= plotted["high"]).all()
    fundamentals = queries.fundamentals(
        db_client, "NORDPOOL", "SYS", ["load_forecast", "wind_forecast"], start, view.end,
        resolution=resolution, aggregates=["avg"],
    )  # fmt: skip
    assert_frame_equal(view.fundamentals, fundamentals)


def test_changing_market_moves_location_and_window(db_client: Any, revised: str) -> None:
    view = Explorer(client=db_client)
    view.market = revised
    assert view.location == "HUB_B"
    assert pd.Timestamp(view.end) == pd.Timestamp("2024-04-01")
    assert view.prices["price"].tolist() == [50.0, 65.0, 70.0]


def test_as_of_hides_later_revisions(db_client: Any, revised: str) -> None:
    view = Explorer(client=db_client, market=revised, location="HUB_B")
    view.as_of = pd.Timestamp("2024-03-30 12:00").to_pydatetime()  # before the 14:00 revision
    assert view.prices["price"].tolist() == [50.0, 60.0, 70.0]
    assert view.prices["revision"].tolist() == ["prelim"] * 3
    view.as_of = None
    assert view.prices["price"].tolist() == [50.0, 65.0, 70.0]
    view.as_of = pd.Timestamp("2024-03-30 09:00").to_pydatetime()  # before anything was published
    assert view.prices.empty
    assert "No prices for this selection" in view.message
    assert "2024-03-30 09:00:00+00:00" in view.message


def test_bad_selection_gives_a_message_not_an_exception(db_client: Any, sample: SampleSummary) -> None:
    view = Explorer(client=db_client)
    view.start = view.end
    assert view.prices.empty
    assert "Check the selection" in view.message and "start < end" in view.message
    assert view._alert.visible


def test_live_appends_new_rows_once(db_client: Any, sample: SampleSummary) -> None:
    view = Explorer(client=db_client, market="LIVE_DA", location="HUB_L")  # unknown yet: empty page
    assert view.market == SAMPLE_MARKET
    assert "Unknown market 'LIVE_DA'" in view.message and SAMPLE_MARKET in view.message
    insert_df(db_client, "prices", price_rows("LIVE_DA", "HUB_L", hours("2025-02-01", 2), [1, 2],
                                             pd.Timestamp("2025-01-31", tz=UTC)))  # fmt: skip
    view = Explorer(client=db_client, market="LIVE_DA", location="HUB_L")
    view.live = True
    assert view.prices["price"].tolist() == [1.0, 2.0]
    assert len(tail.active_tails()) == 1
    insert_df(db_client, "prices", price_rows("LIVE_DA", "HUB_L", hours("2025-02-01 02:00", 1), [3],
                                             pd.Timestamp("2025-01-31", tz=UTC)))  # fmt: skip
    # the poller's thread applies the rows (no session here): the table is the last thing it updates
    wait_until(lambda: len(view._table.value) == 3, "the new row appended")
    assert view.prices["price"].tolist() == [1.0, 2.0, 3.0]
    # what the plot draws: steps, the last one to the last interval's end
    assert view._price_source.data["price"].tolist() == [1.0, 2.0, 3.0, 3.0]
    assert view._table.value["price"].tolist() == [1.0, 2.0, 3.0]
    view.live = False
    wait_until(lambda: tail.active_tails() == {}, "the poller stopped with its only subscriber")
