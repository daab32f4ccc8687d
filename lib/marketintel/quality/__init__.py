"""Data quality: freshness, completeness, duplicates and anomalies of stored series.

>>> from marketintel.quality import run_checks, write_results  # doctest: +SKIP
>>> results = run_checks(  # doctest: +SKIP
...     client, table="prices", market="SPP_REAL_TIME_5MIN", location="SPPNORTH_HUB",
...     cadence="5min", publication_lag="15min", tz="America/Chicago",
...     start_utc=pd.Timestamp("2024-03-10T06:00Z"), end_utc=pd.Timestamp("2024-03-11T05:00Z"),
... )
>>> write_results(client, results, run_id="dq-2024-03-11")  # doctest: +SKIP
"""

from marketintel.quality.checks import (
    PRICE_LIMITS,
    CheckResult,
    PriceLimits,
    QualityError,
    check_anomalies,
    check_completeness,
    check_duplicates,
    check_freshness,
    daily_completeness,
    default_price_limits,
    expected_intervals,
    parse_cadence,
    robust_zscore,
)
from marketintel.quality.run import (
    SERIES_TABLES,
    alert_id,
    alerts_frame,
    read_series,
    run_checks,
    split_series_label,
    write_results,
)

__all__ = [
    "PRICE_LIMITS",
    "SERIES_TABLES",
    "CheckResult",
    "PriceLimits",
    "QualityError",
    "alert_id",
    "alerts_frame",
    "check_anomalies",
    "check_completeness",
    "check_duplicates",
    "check_freshness",
    "daily_completeness",
    "default_price_limits",
    "expected_intervals",
    "parse_cadence",
    "read_series",
    "robust_zscore",
    "run_checks",
    "split_series_label",
    "write_results",
]
