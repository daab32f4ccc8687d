"""The core tables of the store, as data (see ``ARCHITECTURE.md``, "Core tables").

Table names are the contract between components; add columns as needed, keep the names. Look tables up
in :data:`TABLES` (an unknown name fails with the list of known ones).

Facts are point-in-time: each row carries ``published_at_utc`` (when the fact became knowable) and
``ingested_at_utc`` (when the platform stored it). A revision (preliminary -> final) is a new row with a
later ``published_at_utc``; writing the same payload again gives the same natural key and
``published_at_utc`` and is collapsed by the ``ReplacingMergeTree`` (the latest ``ingested_at_utc``
wins), so re-ingesting changes nothing in ``FINAL`` / latest-version reads.

Intervals are half-open ``[interval_start_utc, interval_end_utc)``. Where values of one column come in
several units (prices of power and gas, fundamentals), the row's ``unit`` column states the unit and the
spec's unit of the value column says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from marketintel.exceptions import SchemaError, UnknownTableError
from marketintel.store.schema import INGESTED_AT, PUBLISHED_AT, UTC_TIMESTAMP, Column, TableSpec

#: Unit text for value columns whose unit is given per row by the ``unit`` column.
ROW_UNIT = "see `unit`"
_NOW = "now64(3, 'UTC')"
_LC = "LowCardinality(String)"


# --------------------------------------------------------------------------------------------------------
# Column helpers: one definition of each recurring column
# --------------------------------------------------------------------------------------------------------
def _utc(name: str, description: str, *, nullable: bool = False, default: str | None = None) -> Column:
    type_name = f"Nullable({UTC_TIMESTAMP})" if nullable else UTC_TIMESTAMP
    return Column(name, type_name, None, description, default=default)


def _dim(name: str, description: str, *, default: str | None = None) -> Column:
    """Return a low-cardinality dimension column (market, area, variable, status, ...)."""
    return Column(name, _LC, None, description, default=default)


def _text(name: str, description: str, *, default: str | None = None) -> Column:
    return Column(name, "String", None, description, default=default)


def _value(name: str, description: str, unit: str = ROW_UNIT, *, nullable: bool = False) -> Column:
    return Column(name, "Nullable(Float64)" if nullable else "Float64", unit, description)


def _published() -> Column:
    return _utc(PUBLISHED_AT, "When the fact became knowable (the source's publication time)")


def _ingested() -> Column:
    return _utc(
        INGESTED_AT, "When the platform stored the row; the version among identical rows", default=_NOW
    )


def _source() -> Column:
    return _dim("source", "Connector that produced the row (entry-point name, e.g. 'caiso')")


#: ``fidelity`` values: the publisher's own data; a third party's republication or continuation (never mixed
#: with the exchange's own settlements: its market name differs too); derived by the platform from other
#: rows; synthetic fill when no source is usable (the routing service's fallback, always flagged).
FIDELITIES = ("official", "third_party", "derived", "synthetic")


def _fidelity() -> Column:
    return _dim(
        "fidelity",
        "How close the row is to the publisher's own data: 'official', 'third_party', 'derived' or"
        " 'synthetic'",
        default="'official'",
    )


def _interval() -> tuple[Column, Column]:
    return (
        _utc("interval_start_utc", "Start of the delivery / measurement interval (inclusive)"),
        _utc("interval_end_utc", "End of the delivery / measurement interval (exclusive)"),
    )


def _currency() -> Column:
    return _dim("currency", "ISO 4217 currency code of the prices, e.g. 'EUR', 'USD', 'GBP'")


def _price_unit() -> Column:
    return _dim("unit", "Unit of the prices, e.g. 'EUR/MWh', 'USD/MWh', 'GBp/therm', 'EUR/tCO2'")


def _run_id(description: str, *, default: str | None = None) -> Column:
    return _text("run_id", description, default=default)


def _fact(
    name: str,
    description: str,
    columns: Iterable[Column],
    natural_key: tuple[str, ...],
    *,
    partition_by: str | None = None,
    shard_by: tuple[str, ...] = (),
) -> TableSpec:
    """Return a point-in-time fact table: revisions are rows, re-ingests collapse on the latest ingest."""
    return TableSpec(
        name=name,
        description=description,
        columns=(*columns, _published(), _ingested()),
        engine="ReplacingMergeTree",
        order_by=(*natural_key, PUBLISHED_AT),
        natural_key=natural_key,
        partition_by=partition_by,
        version_column=INGESTED_AT,
        shard_by=shard_by,
    )


# --------------------------------------------------------------------------------------------------------
# Market data
# --------------------------------------------------------------------------------------------------------
INSTRUMENTS = _fact(
    "instruments",
    "Reference data: one row per instrument (price series or traded product) and revision",
    [
        _text("instrument_id", "Stable identifier, unique across sources, e.g. 'EEX.DE_POWER.BASE'"),
        _dim("commodity", "power, gas or carbon"),
        _dim("market", "Market operator or exchange, with its run where relevant, e.g. 'CAISO_DAM', 'EEX'"),
        _text("location", "Delivery location (node, hub, zone, bidding area); '' if none", default="''"),
        _dim(
            "location_type", "Kind of location: node, hub, zone, bidding_area, ...; '' if none", default="''"
        ),
        _dim("product", "Product as in forward_quotes.product; '' for spot series", default="''"),
        _currency(),
        _price_unit(),
        _dim("timezone", "IANA time zone of the market's delivery calendar (labels only; stamps stay UTC)"),
        _text("description", "Human-readable description", default="''"),
        _utc("valid_from_utc", "First instant the instrument exists"),
        _utc("valid_to_utc", "Instant the instrument stops existing; NULL while it is active", nullable=True),
        _source(),
    ],
    ("instrument_id",),
)

PRICES = _fact(
    "prices",
    "Market prices: one row per market, location, interval and revision",
    [
        *_interval(),
        _dim("market", "Market and run the price clears in, e.g. 'CAISO_DAY_AHEAD_HOURLY', 'EPEX_DE_DA'"),
        _text("location", "Pricing location: node, hub, zone or bidding area, as the source names it"),
        _dim("location_type", "Kind of location: node, hub, zone, bidding_area, ..."),
        _value("price", "Price of energy in the interval (the sum of the components where they exist)"),
        _value(
            "energy", "Energy (system marginal) component of the price; NULL if not published", nullable=True
        ),
        _value("congestion", "Congestion component of the price; NULL if not published", nullable=True),
        _value("loss", "Marginal loss component of the price; NULL if not published", nullable=True),
        _currency(),
        _price_unit(),
        _dim(
            "revision",
            "The source's label of this version (e.g. 'preliminary', 'final'); '' if it has none",
            default="''",
        ),
        _source(),
        _fidelity(),
    ],
    ("market", "location", "interval_start_utc", "interval_end_utc"),
    partition_by="toYYYYMM(interval_start_utc)",
    shard_by=("market", "location"),
)

FUNDAMENTALS = _fact(
    "fundamentals",
    "Fundamentals in long form (load, generation by fuel, flows, their forecasts): one row per variable,"
    " area, interval and publication",
    [
        *_interval(),
        _dim("market", "Market operator or data provider area set, e.g. 'ERCOT', 'ENTSOE'"),
        _dim("area", "Area the value refers to (zone, bidding area, region, ...)"),
        _dim(
            "area_to",
            "For flows: the receiving area (positive = from area to area_to); '' otherwise",
            default="''",
        ),
        _dim("variable", "What is measured, e.g. 'load', 'load_forecast', 'generation_wind', 'flow'"),
        _value("value", "Value of the variable over the interval"),
        _dim("unit", "Unit of value, e.g. 'MW' (average power), 'MWh', 'degC'"),
        _source(),
        _fidelity(),
    ],
    ("market", "area", "area_to", "variable", "interval_start_utc", "interval_end_utc"),
    partition_by="toYYYYMM(interval_start_utc)",
    shard_by=("market", "area"),
)

FORWARD_QUOTES = _fact(
    "forward_quotes",
    "Forward and futures quotes: one row per contract, profile, trade date and revision",
    [
        Column("trade_date", "Date", None, "Trading day the quote belongs to (exchange calendar)"),
        _dim("market", "Exchange or broker, e.g. 'EEX', 'ICE_ENDEX', 'NYMEX'"),
        _dim("product", "Product, e.g. 'DE_POWER', 'TTF_GAS', 'EUA'"),
        _dim("contract", "Contract label as the exchange names it, e.g. '2025-M03', '2026-Q1', 'CAL-27'"),
        Column("delivery_start", "Date", None, "First delivery day (market-local calendar date, inclusive)"),
        Column(
            "delivery_end", "Date", None, "Day after the last delivery day (market-local date, exclusive)"
        ),
        _dim("profile", "Delivery profile: 'base', 'peak', 'offpeak', ..."),
        _value("settle", "Settlement price; NULL if none was published", nullable=True),
        _value("bid", "Best bid at the close; NULL if none", nullable=True),
        _value("ask", "Best ask at the close; NULL if none", nullable=True),
        _currency(),
        _price_unit(),
        _source(),
        _fidelity(),
    ],
    ("market", "product", "profile", "trade_date", "contract"),
    partition_by="toYYYYMM(trade_date)",
    shard_by=("market", "product"),
)

# --------------------------------------------------------------------------------------------------------
# Curves, forecasts, backtests
# --------------------------------------------------------------------------------------------------------
CURVES = _fact(
    "curves",
    "Forward curves: one row per curve, scenario, as-of time, delivery interval and publication",
    [
        _dim("curve_name", "Curve identifier, e.g. 'DE_POWER_BASE_HOURLY'"),
        _dim("scenario", "Scenario the curve belongs to; 'base' for the unshifted curve", default="'base'"),
        _utc("as_of_utc", "Information cutoff: the curve uses quotes published at or before this instant"),
        Column(
            "version",
            "UInt32",
            None,
            "Build number of this curve, scenario and as-of: 1, 2, ...",
            default="1",
        ),
        _utc("delivery_start_utc", "Start of the delivery interval (inclusive)"),
        _utc("delivery_end_utc", "End of the delivery interval (exclusive)"),
        _value("value", "Forward price for delivery in the interval"),
        _currency(),
        _price_unit(),
        _run_id("curve_runs.run_id of the build that produced the row"),
    ],
    ("curve_name", "scenario", "as_of_utc", "version", "delivery_start_utc", "delivery_end_utc"),
    partition_by="toYYYYMM(as_of_utc)",
    shard_by=("curve_name", "scenario"),
)

CURVE_RUNS = _fact(
    "curve_runs",
    "Lineage of curve builds: one row per build (run) and status update",
    [
        _dim("curve_name", "Curve identifier, as in curves.curve_name"),
        _dim("scenario", "Scenario, as in curves.scenario", default="'base'"),
        _utc("as_of_utc", "Information cutoff of the build"),
        _text("run_id", "Identifier of the build (UUID)"),
        Column("version", "UInt32", None, "curves.version the build wrote", default="1"),
        _dim("method", "Construction method, e.g. 'max_smoothness_exact', 'max_smoothness_qp'"),
        _text("parameters", "Method parameters as JSON", default="'{}'"),
        Column("input_quotes", "UInt32", "quotes", "Number of forward quotes the build used", default="0"),
        _text("input_sha256", "sha256 of the input quotes as read (hex)", default="''"),
        _value(
            "max_reprice_error",
            "Largest absolute difference between a contract price and the curve's average over it",
            "see curves.unit",
            nullable=True,
        ),
        _dim("status", "'running', 'ok' or 'failed'"),
        _text("message", "Warnings or the error of a failed build", default="''"),
        _dim("code_version", "marketintel version (or git revision) that ran the build", default="''"),
        _utc("started_at_utc", "When the build started"),
        _utc("finished_at_utc", "When the build finished; NULL while running", nullable=True),
    ],
    ("curve_name", "scenario", "as_of_utc", "run_id"),
)

FORECASTS = _fact(
    "forecasts",
    "Forecasts: one row per model, target, statistic, issue time, target interval and publication",
    [
        _dim("model", "Model identifier including its configuration, e.g. 'seasonal_naive_7d', 'lear_728'"),
        _dim("market", "Market of the target, as in prices.market / fundamentals.market"),
        _text("location", "Location or area of the target"),
        _dim("variable", "Forecast target, e.g. 'price', 'load'"),
        _dim(
            "statistic", "Which statistic: 'mean', 'median' or a quantile such as 'q0.10'", default="'mean'"
        ),
        _utc("issue_time_utc", "Information cutoff: the forecast uses data published at or before it"),
        *_interval(),
        _value("value", "Forecast value"),
        _dim("unit", "Unit of value, e.g. 'EUR/MWh', 'MW'"),
        _run_id("Forecast or backtest run that produced the row", default="''"),
    ],
    (
        "model",
        "market",
        "location",
        "variable",
        "statistic",
        "issue_time_utc",
        "interval_start_utc",
        "interval_end_utc",
    ),
    partition_by="toYYYYMM(issue_time_utc)",
    shard_by=("model", "market", "location", "variable"),
)

BACKTEST_RUNS = _fact(
    "backtest_runs",
    "Backtest runs: one row per run and status update",
    [
        _text("run_id", "Identifier of the backtest (UUID)"),
        _dim("model", "Model under test, as in forecasts.model"),
        _dim("market", "Market of the target"),
        _text("location", "Location or area of the target"),
        _dim("variable", "Forecast target, e.g. 'price'"),
        _dim("benchmark", "Benchmark model for relative metrics and tests; '' if none", default="''"),
        _text("config", "Backtest configuration as JSON (horizons, windows, recalibration)", default="'{}'"),
        _utc("issue_start_utc", "First issue time of the rolling origin"),
        _utc("issue_end_utc", "Last issue time of the rolling origin (inclusive)"),
        _dim("recalibration", "How often the model is refitted, e.g. 'daily', 'weekly', 'never'"),
        _dim("status", "'running', 'ok' or 'failed'"),
        _text("message", "Warnings or the error of a failed run", default="''"),
        _dim("code_version", "marketintel version (or git revision) that ran the backtest", default="''"),
        _utc("started_at_utc", "When the run started"),
        _utc("finished_at_utc", "When the run finished; NULL while running", nullable=True),
    ],
    ("model", "run_id"),
)

BACKTEST_METRICS = _fact(
    "backtest_metrics",
    "Backtest metrics and test statistics: one row per run, metric, grouping and benchmark",
    [
        _text("run_id", "backtest_runs.run_id"),
        _dim("model", "Model under test"),
        _dim("market", "Market of the target"),
        _text("location", "Location or area of the target"),
        _dim("variable", "Forecast target"),
        _dim(
            "metric", "MAE, RMSE, MAPE, WAPE, sMAPE, rMAE, MASE, DM_stat, DM_pvalue, GW_stat, GW_pvalue, ..."
        ),
        _dim("group_by", "Grouping dimension: 'all', 'hour', 'horizon', 'period', ...", default="'all'"),
        _text("group_value", "Value of the grouping dimension, e.g. '13', '24h', '2024-Q1'", default="'all'"),
        _dim("benchmark", "Reference model of relative metrics and tests; '' if none", default="''"),
        _value("value", "Metric value"),
        _dim(
            "unit",
            "Unit of value: the target's unit for MAE/RMSE, '%' for MAPE/WAPE/sMAPE, '1' (dimensionless)"
            " for rMAE/MASE/statistics and p-values",
        ),
        Column("n_obs", "UInt64", "observations", "Number of forecast/actual pairs behind the value"),
    ],
    ("run_id", "metric", "group_by", "group_value", "benchmark"),
)

# --------------------------------------------------------------------------------------------------------
# Rollups: derived tables that a refresh rebuilds from the facts (marketintel.store.rollup)
# --------------------------------------------------------------------------------------------------------
PRICES_HOURLY = TableSpec(
    name="prices_hourly",
    description="Hourly rollup of prices at their latest revision: one row per market, location and UTC"
    " hour (the latest refresh wins); derived from prices by marketintel.store.rollup",
    columns=(
        _dim("market", "prices.market"),
        _text("location", "prices.location"),
        _utc("hour_utc", "UTC hour the aggregated intervals start in (inclusive start of the hour)"),
        _currency(),
        _price_unit(),
        Column(
            "mixed_units",
            "UInt8",
            None,
            "1 if the hour's rows come in more than one currency or unit (readers then use prices)",
            default="0",
        ),
        Column("n_intervals", "UInt64", "intervals", "Stored intervals (natural keys) starting in the hour"),
        _value("price_ms_sum", "Sum of price times interval length, for time-weighted averages", "unit x ms"),
        _value("ms_sum", "Sum of the interval lengths", "ms"),
        _value("price_sum", "Sum of the prices"),
        _value("price_min", "Smallest price"),
        _value("price_max", "Largest price"),
        _utc("first_start_utc", "Start of the earliest interval of the hour"),
        _value("price_first", "Price of the earliest interval of the hour"),
        _utc("last_start_utc", "Start of the latest interval of the hour"),
        _value("price_last", "Price of the latest interval of the hour"),
        _utc("max_published_at_utc", "Latest publication among the hour's rows (every revision)"),
        Column(
            "refresh_block",
            "UInt64",
            None,
            "Block watermark of the refresh that wrote the row: it covers every prices block up to it",
        ),
        _utc("refreshed_at_utc", "When the refresh wrote the row", default=_NOW),
    ),
    engine="ReplacingMergeTree",
    order_by=("market", "location", "hour_utc"),
    natural_key=("market", "location", "hour_utc"),
    # a location's year is one contiguous range of one part: a year's read touches ~2 granules per column
    partition_by="toYear(hour_utc)",
    version_column="refresh_block",
    shard_by=("market", "location"),
)

ROLLUP_REFRESHES = TableSpec(
    name="rollup_refreshes",
    description="Completed refreshes of the rollups: one row per refresh, an append-only log; a rollup"
    " covers its source's blocks up to the largest watermark_block",
    columns=(
        _dim("rollup_name", "Rollup table refreshed, e.g. 'prices_hourly'"),
        _dim("source_table", "Fact table it was refreshed from, e.g. 'prices'"),
        Column("watermark_block", "UInt64", None, "Every source block up to this number is in the rollup"),
        Column("previous_block", "UInt64", None, "Watermark before this refresh; 0 for a full build"),
        _dim("mode", "'full' (rebuilt from all rows) or 'incremental' (the hours touched since)"),
        Column("hours", "UInt64", "hours", "Rollup rows written: (market, location, hour) keys recomputed"),
        _utc("max_published_at_utc", "Latest publication among the rows the refresh aggregated"),
        Column("mixed_hours", "UInt64", "hours", "Hours written with mixed_units = 1", default="0"),
        _value("seconds", "How long the refresh took", "s"),
        _utc("refreshed_at_utc", "When the refresh completed", default=_NOW),
    ),
    engine="MergeTree",
    order_by=("rollup_name", "refreshed_at_utc"),
)


# --------------------------------------------------------------------------------------------------------
# Ingestion and operations
# --------------------------------------------------------------------------------------------------------
RAW_PAYLOADS = TableSpec(
    name="raw_payloads",
    description="Every payload fetched from a source, byte for byte, including quarantined ones",
    columns=(
        _source(),
        _dim("dataset", "Dataset of the source the payload belongs to"),
        _text("sha256", "sha256 of payload (lower-case hex)"),
        _text("url", "Where the payload was fetched from"),
        _text(
            "request", "The request as the connector built it (method, parameters) as JSON", default="'{}'"
        ),
        Column(
            "http_status",
            "UInt16",
            None,
            "HTTP status of the response; 0 if not fetched over HTTP",
            default="0",
        ),
        _dim("content_type", "Media type of the payload, e.g. 'application/zip'", default="''"),
        Column("size_bytes", "UInt64", "bytes", "Length of payload"),
        Column("payload", "String", None, "The bytes exactly as fetched", codec="ZSTD(3)"),
        _dim(
            "status",
            "'ok' (parsed), 'partial' (parsed, a part left out), 'quarantined' (could not be parsed) "
            "or 'pending'",
        ),
        _text("reason", "Why the payload was quarantined, or what was left out; '' when ok", default="''"),
        _utc("fetched_at_utc", "When the payload was fetched"),
        _ingested(),
    ),
    engine="ReplacingMergeTree",
    order_by=("source", "dataset", "sha256"),
    natural_key=("source", "dataset", "sha256"),
    version_column=INGESTED_AT,
    shard_by=("source", "dataset", "sha256"),
)

CHECKPOINTS = TableSpec(
    name="checkpoints",
    description="Resumable connector state: one row per source, dataset and stream (the latest wins)",
    columns=(
        _source(),
        _dim("dataset", "Dataset of the source"),
        _text(
            "stream",
            "Sub-stream of the dataset (e.g. one location); '' if the dataset is one stream",
            default="''",
        ),
        _utc("watermark_utc", "End of the last interval ingested without gaps"),
        _text("state", "Connector-specific state as JSON (cursors, ETags)", default="'{}'"),
        _run_id("Run that wrote the checkpoint", default="''"),
        _utc("updated_at_utc", "When the checkpoint was written; the version", default=_NOW),
    ),
    engine="ReplacingMergeTree",
    order_by=("source", "dataset", "stream"),
    natural_key=("source", "dataset", "stream"),
    version_column="updated_at_utc",
)

DATA_QUALITY = TableSpec(
    name="data_quality",
    description="Results of data-quality checks (freshness, completeness, anomalies): an append-only log",
    columns=(
        _utc("checked_at_utc", "When the check ran"),
        _dim("check_name", "Check identifier, e.g. 'freshness', 'completeness', 'spike'"),
        _dim("table_name", "Store table checked"),
        _dim("market", "Market checked; '' if the check spans markets", default="''"),
        _text("location", "Location or area checked; '' if the check spans locations", default="''"),
        _utc("window_start_utc", "Start of the checked window (inclusive)"),
        _utc("window_end_utc", "End of the checked window (exclusive)"),
        _dim("status", "'pass', 'warn' or 'fail'"),
        _value("observed", "Measured value (e.g. lag, share of missing intervals)", ROW_UNIT, nullable=True),
        _value("threshold", "Threshold the observed value was compared with", ROW_UNIT, nullable=True),
        _dim("unit", "Unit of observed and threshold, e.g. 'min', '%'", default="''"),
        _text("details", "Human-readable details (JSON or text)", default="''"),
        _run_id("Run that executed the check", default="''"),
    ),
    engine="MergeTree",
    order_by=("table_name", "check_name", "market", "location", "checked_at_utc"),
    partition_by="toYYYYMM(checked_at_utc)",
)

ALERTS = TableSpec(
    name="alerts",
    description="Alerts raised by checks and runs: one row per alert, the latest update wins",
    columns=(
        _text("alert_id", "Identifier of the alert (UUID)"),
        _dim("category", "What raised it, e.g. 'data_quality', 'ingestion', 'model'"),
        _dim("severity", "'info', 'warning' or 'critical'"),
        _utc("raised_at_utc", "When the alert was first raised"),
        _dim("table_name", "Store table concerned; '' if none", default="''"),
        _dim("market", "Market concerned; '' if none", default="''"),
        _text("location", "Location concerned; '' if none", default="''"),
        _text("title", "One-line summary"),
        _text("message", "What was wrong and what would be right", default="''"),
        _dim("status", "'open', 'acknowledged' or 'resolved'"),
        _run_id("Run that raised or updated the alert", default="''"),
        _utc("updated_at_utc", "When this version of the alert was written; the version", default=_NOW),
    ),
    engine="ReplacingMergeTree",
    order_by=("alert_id",),
    natural_key=("alert_id",),
    version_column="updated_at_utc",
)

ALERT_ACKS = TableSpec(
    name="alert_acks",
    description="Acknowledgements of alerts: who acknowledged which alert when, an append-only log",
    columns=(
        _text("alert_id", "alerts.alert_id of the alert acknowledged"),
        _text("acknowledged_by", "Hub user who acknowledged it"),
        _utc("acknowledged_at_utc", "When it was acknowledged", default=_NOW),
        _utc("alert_updated_at_utc", "alerts.updated_at_utc of the alert version that was acknowledged"),
        _text("note", "What the user said about it; '' if nothing", default="''"),
    ),
    engine="MergeTree",
    order_by=("alert_id", "acknowledged_at_utc"),
)

ACCESS_RULES = TableSpec(
    name="access_rules",
    description=(
        "Entitlement rules granted to groups, versioned: every grant and revoke is a new row (who, when); "
        "the latest version of a rule_id is in force unless it is a revoke"
    ),
    columns=(
        _text("rule_id", "Identifier of the rule (stable across its versions)"),
        Column("version", "UInt32", None, "Version of the rule: 1 for the grant, +1 for each change"),
        _dim("action", "'grant' (the rule is in force) or 'revoke' (it no longer is)"),
        _dim("group_name", "Hub group the rule is granted to"),
        _dim("table_name", "Store table the rule opens (prices, fundamentals, forward_quotes, ...)"),
        Column("markets", "Array(String)", None, "Markets the rule covers; empty: every market"),
        Column("locations", "Array(String)", None, "Location names or glob patterns (* ?); empty: all"),
        Column("location_types", "Array(String)", None, "Location types (hub, node, zone); empty: all"),
        Column("variables", "Array(String)", None, "Variables (fundamentals, forecasts); empty: all"),
        Column("products", "Array(String)", None, "Products (forward quotes) or curve names; empty: all"),
        Column("delay_s", "UInt64", "s", "Rows become visible this long after their publication"),
        Column("history_s", "UInt64", "s", "Only intervals starting within this long before now; 0: all"),
        Column("export", "UInt8", None, "1 if the group may export what the rule opens"),
        _text("changed_by", "Who granted or revoked (store or hub user)"),
        _utc("changed_at_utc", "When the change was made", default=_NOW),
        _text("note", "Why, in the changer's words; '' if nothing", default="''"),
    ),
    engine="MergeTree",
    order_by=("rule_id", "version"),
)

#: Bookkeeping of :func:`marketintel.store.migrate.migrate`; not a market table.
SCHEMA_MIGRATIONS = TableSpec(
    name="schema_migrations",
    description="Migrations applied to this database: one row per table and change",
    columns=(
        _dim("table_name", "Table the migration changed"),
        _text("spec_hash", "sha256 of the table spec the table was migrated to (hex)"),
        _dim("action", "'create_table', 'add_columns' or 'update_comments'"),
        _text("statements", "The DDL executed, separated by ';\\n'"),
        _utc("applied_at_utc", "When the migration was applied", default=_NOW),
    ),
    engine="MergeTree",
    order_by=("table_name", "applied_at_utc"),
)


# --------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------
class TableRegistry(Mapping[str, TableSpec]):
    """Table specs by name; an unknown name fails with the list of known ones."""

    def __init__(self, specs: Iterable[TableSpec]) -> None:
        self._specs: dict[str, TableSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise SchemaError(f"table {spec.name!r} is registered twice")
            self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> TableSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTableError(
                f"unknown table {name!r}; known tables: {', '.join(self._specs)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"TableRegistry({list(self._specs)})"


#: The core tables, by name.
# --------------------------------------------------------------------------------------------------------
# Scenarios and routing
# --------------------------------------------------------------------------------------------------------
ASSUMPTIONS = TableSpec(
    name="assumptions",
    description="Named, versioned assumptions scenarios refer to: one row per name and version (append-only)",
    columns=(
        _dim("name", "Assumption name, e.g. 'heat_rate', 'load_growth', 'gas_path'"),
        Column("version", "UInt32", None, "Version of the name: 1, 2, ... (a new value is a new version)"),
        _dim("kind", "'scalar' (value) or 'series' (points: a path over delivery dates)"),
        _value("value", "The scalar's value; NULL for a series", "see `unit`", nullable=True),
        _text(
            "points",
            "A series as JSON: [[\"YYYY-MM-DD\", value], ...] in date order; '' for a scalar",
            default="''",
        ),
        _dim("unit", "Unit of the value(s), e.g. 'MMBtu/MWh', '%/year', 'USD/MMBtu'", default="''"),
        _text("description", "What it is and where it comes from", default="''"),
        _text("created_by", "Hub user (or service) that wrote the version", default="''"),
        _utc("created_at_utc", "When the version was written", default=_NOW),
    ),
    engine="ReplacingMergeTree",
    order_by=("name", "version"),
    natural_key=("name", "version"),
    version_column="created_at_utc",
)

SCENARIO_RUNS = TableSpec(
    name="scenario_runs",
    description="Tracked scenario runs: one row per run and status update (the latest update wins)",
    columns=(
        _text("run_id", "Identifier of the run (UUID)"),
        _dim("scenario", 'Scenario name as written in its text (`scenario "..."`)'),
        _text("text", "The scenario's text as run"),
        _text("text_sha256", "sha256 of the text (hex)"),
        _text(
            "inputs_sha256",
            "sha256 of everything the result depends on (text, assumptions' versions,"
            " base lineage, code version): equal hashes are reruns of the same inputs",
            default="''",
        ),
        _text("assumptions", "The assumptions' versions used, as JSON {name: version}", default="'{}'"),
        _text(
            "base_lineage",
            "The base curve's lineage as JSON (curve, version, run, as-of; or the quotes"
            " file and its sha256)",
            default="'{}'",
        ),
        _dim("output_curve", "curves.curve_name the scenario curve was stored under", default="''"),
        Column("output_version", "UInt32", None, "curves.version written", default="0"),
        _dim("code_version", "marketintel version (or git revision) that ran it", default="''"),
        _dim("status", "'running', 'ok', 'failed' or 'reused' (a rerun of the same inputs)"),
        _text("message", "Warnings or the error of a failed run", default="''"),
        _text("created_by", "Hub user who ran it", default="''"),
        _utc("started_at_utc", "When the run started"),
        _utc("finished_at_utc", "When it finished; NULL while running", nullable=True),
        _value("duration_s", "Duration of the run", "s", nullable=True),
        _utc("updated_at_utc", "When this version of the row was written; the version", default=_NOW),
    ),
    engine="ReplacingMergeTree",
    order_by=("scenario", "run_id"),
    natural_key=("scenario", "run_id"),
    version_column="updated_at_utc",
)

ROUTING_TRUST = TableSpec(
    name="routing_trust",
    description="Trust scores of the sources of logical series over time: one row per series, source and"
    " evaluation (history kept)",
    columns=(
        _dim("series", "Logical series, e.g. 'NORDIC_DA_FI'"),
        _dim("source", "Candidate source of the series (connector/dataset)"),
        _utc("evaluated_at_utc", "When the score was computed"),
        _value("freshness", "Freshness component in [0, 1]", "-"),
        _value("completeness", "Completeness component in [0, 1]", "-"),
        _value("agreement", "Agreement with the other sources on overlapping intervals, in [0, 1]", "-"),
        _value("reliability", "1 - recent failure rate, in [0, 1]", "-"),
        _value("score", "Trust score in [0, 1] (formula: marketintel.routing.trust)", "-"),
        _dim("breaker", "Circuit breaker state: 'closed', 'open' or 'half_open'"),
        _text("detail", "Inputs of the score as JSON", default="'{}'"),
    ),
    engine="ReplacingMergeTree",
    order_by=("series", "source", "evaluated_at_utc"),
    natural_key=("series", "source", "evaluated_at_utc"),
)

ROUTING_DECISIONS = TableSpec(
    name="routing_decisions",
    description="Which source's data the router served for each logical series and interval, and why",
    columns=(
        _dim("series", "Logical series"),
        *_interval(),
        _dim("chosen", "Source served, 'blend' or 'synthetic'"),
        _text("alternatives", "The other candidates and their state as JSON", default="'[]'"),
        _text("weights", "Blend weights by source as JSON ({} unless blended)", default="'{}'"),
        _text("reason", "Why: priority, failover (open / stale / disagrees), blend, synthetic"),
        _utc("decided_at_utc", "When the decision was made", default=_NOW),
    ),
    engine="ReplacingMergeTree",
    order_by=("series", "interval_start_utc", "decided_at_utc"),
    natural_key=("series", "interval_start_utc", "decided_at_utc"),
)


TABLES = TableRegistry(
    [
        INSTRUMENTS,
        PRICES,
        FUNDAMENTALS,
        FORWARD_QUOTES,
        CURVES,
        CURVE_RUNS,
        FORECASTS,
        BACKTEST_RUNS,
        BACKTEST_METRICS,
        PRICES_HOURLY,
        ROLLUP_REFRESHES,
        RAW_PAYLOADS,
        CHECKPOINTS,
        DATA_QUALITY,
        ALERTS,
        ALERT_ACKS,
        ACCESS_RULES,
        ASSUMPTIONS,
        SCENARIO_RUNS,
        ROUTING_TRUST,
        ROUTING_DECISIONS,
    ]
)


def get_table(name: str) -> TableSpec:
    """Return the spec of core table ``name``.

    Raises
    ------
    UnknownTableError
        If there is no such table (the message lists the known ones).
    """
    return TABLES[name]
