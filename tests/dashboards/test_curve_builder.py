"""The curve builder builds from stored settlements or a file, explains contradictions, saves with lineage."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketintel.dashboards.curve_builder import UPLOAD, CurveBuilder
from marketintel.dashboards.curves import Curves
from marketintel.services import curves as service
from marketintel.services import queries
from marketintel.services.sample import SampleSummary
from marketintel.store import insert_df

TRADE_DATE = dt.date(2025, 12, 15)
#: monthly Henry Hub settlements of 2026 [USD/MMBtu]
SETTLES = [4.10, 3.95, 3.60, 3.30, 3.25, 3.35, 3.50, 3.55, 3.45, 3.55, 3.85, 4.25]
#: a quarter that contradicts its three months (they average 3.884 on days)
BAD_CSV = (
    "name,start,end,price\n"
    "M-2026-01,2026-01-01,2026-01-31,4.10\nM-2026-02,2026-02-01,2026-02-28,3.95\n"
    "M-2026-03,2026-03-01,2026-03-31,3.60\nQ-2026-Q1,2026-01-01,2026-03-31,4.50\n"
    "M-2026-04,2026-04-01,2026-04-30,3.30\n"
)


@pytest.fixture(autouse=True)
def _no_prefect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MI_PREFECT_API_URL", "http://127.0.0.1:9/api")


@pytest.fixture(scope="module")
def settlements(db_client: Any, sample: SampleSummary) -> pd.DataFrame:
    """Twelve monthly NG settlements traded on :data:`TRADE_DATE`."""
    months = pd.date_range("2026-01-01", periods=12, freq="MS")
    frame = pd.DataFrame(
        {
            "trade_date": [TRADE_DATE] * 12,
            "market": "NYMEX",
            "product": "NG",
            "contract": [f"M-{m:%Y-%m}" for m in months],
            "delivery_start": [m.date() for m in months],
            "delivery_end": [(m + pd.offsets.MonthBegin(1)).date() for m in months],  # exclusive
            "profile": "base",
            "settle": SETTLES,
            "bid": [None] * 12,
            "ask": [None] * 12,
            "currency": "USD",
            "unit": "USD/MMBtu",
            "source": "test",
            "published_at_utc": pd.Timestamp("2025-12-15 20:30", tz="UTC"),
        }
    )
    insert_df(db_client, "forward_quotes", frame)
    return frame


def test_builds_from_stored_settlements_and_reports_every_contract(
    db_client: Any, settlements: pd.DataFrame
) -> None:
    page = CurveBuilder(client=db_client)
    assert page.product == "NG" and page.trade_date == str(TRADE_DATE)
    assert page.calendar == "HENRY_HUB" and page.weights == "days"  # gas: day-weighted
    result = page.build()
    assert result is not None and page.message == ""
    assert result.stored is None  # nothing is stored before Save
    assert result.unit == "USD/MMBtu" and result.curve_name == "NG_daily"
    report = page.report
    assert list(report["contract"]) == list(settlements["contract"])
    assert (report["status"] == "ok").all() and report["error"].abs().max() < 1e-8
    # the invariant: the drawn curve averages back to every settlement over its month (gas: by days)
    points = service.build_points(result.build)
    local_day = pd.DatetimeIndex(points["delivery_start_utc"]).tz_convert("America/Chicago")
    monthly = points.groupby(local_day.strftime("%Y-%m"))["value"].mean()
    np.testing.assert_allclose(monthly.to_numpy(), SETTLES, atol=1e-10)
    assert page._curve_box.visible and page._errors_box.visible
    assert "12 of 12 contracts reprice" in page._report_title.object
    # it says when it was built: a rebuild that gives the same curve still shows that it ran
    assert re.search(r"\(built \d\d:\d\d:\d\d UTC in \d+\.\d\d s\)", page._report_title.object)
    assert not page._save_button.disabled
    assert page._curve_pane.object.yaxis[0].axis_label == "price [USD/MMBtu]"


def test_contradicting_quotes_are_explained_per_contract_not_raised(
    db_client: Any, settlements: pd.DataFrame
) -> None:
    page = CurveBuilder(client=db_client)
    page._file.filename = "bad quotes.csv"
    page._file.value = BAD_CSV.encode()
    assert page.source == UPLOAD and page.upload is not None and page.upload[0] == "bad_quotes.csv"
    assert page.build() is None
    assert page.kind == "danger" and "Traceback" not in page.message
    assert "Q-2026-Q1 (base) quoted 4.5" in page.message and "least squares" in page.message
    assert list(page.inconsistency["contract"]) == ["Q-2026-Q1"]
    assert page.inconsistency["inconsistency"].iloc[0] == pytest.approx(4.5 - 3.8811, abs=1e-3)
    assert page._table.value.equals(page.inconsistency) and not page._curve_box.visible
    assert page._save_button.disabled
    assert page.report_frame().equals(page.inconsistency)  # "download" gives the explanation
    # reconciled by least squares instead: a curve, with the adjusted contracts marked
    page.on_inconsistent = "reprice as closely as possible (least squares)"
    result = page.build()
    assert result is not None and page.message == ""
    assert (page.report["status"] == "adjusted (least squares)").sum() == 4  # the quarter and its months
    assert "reconciled by least squares" in page._summary.object


def test_a_missing_upload_or_bad_option_is_a_message(db_client: Any, settlements: pd.DataFrame) -> None:
    page = CurveBuilder(client=db_client, source=UPLOAD)
    assert page.build() is None
    assert page.kind == "danger" and "no quotes file uploaded" in page.message
    page = CurveBuilder(client=db_client, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 2))
    assert page.build() is None and page.kind == "danger" and "Failed building the curve" in page.message


def test_save_writes_a_new_version_with_lineage_that_the_curves_page_lists(
    db_client: Any, settlements: pd.DataFrame
) -> None:
    page = CurveBuilder(client=db_client, writer=db_client, curve_name="NG_FROM_BUILDER")
    assert page.save() is None and "Build a curve first" in page.message
    built = page.build()
    assert built is not None
    saved = page.save()
    assert saved is not None and saved.stored is not None
    assert saved.stored.version == 1 and page._save_button.disabled
    assert "Saved **NG_FROM_BUILDER** version 1" in page.message
    assert page._save_note.object == "Saved as version 1."
    runs = queries.curve_versions(db_client, "NG_FROM_BUILDER", include_parameters=True)
    assert len(runs) == 1 and runs["status"].iloc[0] == "ok"
    assert runs["input_sha256"].iloc[0] == built.build.input_sha256
    assert json.loads(runs["parameters"].iloc[0])["built_by"] == "curve builder (no login)"
    assert runs["as_of_utc"].iloc[0] == pd.Timestamp(
        "2025-12-16 06:00", tz="UTC"
    )  # end of trade date, Chicago
    # a build is saved once; building again and saving makes version 2
    assert page.save() is None and "stored already" in page.message
    page.build()
    again = page.save()
    assert again is not None and again.stored is not None and again.stored.version == 2
    view = Curves(client=db_client, curve="NG_FROM_BUILDER")
    assert view.shown is not None and view.shown.version == 2
    assert "saved from the curve builder by curve builder (no login)" in view._lineage.object
    np.testing.assert_allclose(view.sources()["contracts"]["y"], SETTLES)


def test_saving_needs_the_users_own_writer_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marketintel import config
    from marketintel.hub import paths
    from marketintel.store.endpoint.auth import write_user

    users = tmp_path / "users.toml"
    monkeypatch.setenv("MI_STORE_USERS_FILE", str(users))
    with pytest.raises(service.CurveSaveError, match="no store credentials of their own"):
        service.user_store_client("quant-a")
    password = paths.store_password("quant-a", create=True)
    assert password is not None
    write_user(users, "quant-a", "reader", password)
    assert config.clickhouse_url().is_local_default
    with pytest.raises(service.CurveSaveError, match="--store-role writer"):
        service.user_store_client("quant-a")
    assert service.store_role("quant-a") == "reader"
    write_user(users, "quant-a", "writer", password)
    assert service.store_role("quant-a") == "writer"


def test_a_store_refusal_is_a_message_naming_the_writer_role(
    db_client: Any, settlements: pd.DataFrame
) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    class ReadOnly:
        """A client whose every statement is refused as a reader's write would be."""

        def query(self, *args: Any, **kwargs: Any) -> Any:
            raise DatabaseError("Code: 164. DB::Exception: quant-a: Cannot execute query in readonly mode")

        insert = command = query

    page = CurveBuilder(client=db_client, writer=ReadOnly())
    assert page.build() is not None
    assert page.save() is None
    assert page.kind == "danger" and "Cannot execute query in readonly mode" in page.message
    assert "--store-role writer" in page.message and "Traceback" not in page.message
    assert not page._save_button.disabled  # still unsaved: the user may retry once granted
    assert (
        page._save_note.object.startswith("**Not saved.**")
        and "--store-role writer" in page._save_note.object
    )


def test_product_calendars() -> None:
    assert service.calendar_for_product("NG") == "HENRY_HUB"
    assert service.calendar_for_product("PJM_WESTERN_HUB_DA") == "PJM"
    assert service.calendar_for_product("ERCOT_NORTH_HUB") == "ERCOT"
    assert service.calendar_for_product("SOMETHING") == "EEX_DE"
