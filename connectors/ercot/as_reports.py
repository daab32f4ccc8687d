"""ERCOT 2-Day Ancillary Service Reports (NP3-911-ER) -> fundamentals. Pure.

One ZIP per operating day, posted two days later (the recorded one, ``2d_*-05-NOV-24.csv``, was listed
with ``postDatetime`` 2024-11-05T03:16:10 and covers operating day 2024-11-03). It holds one CSV per
ancillary service (``REGUP``, ``REGDN``, ``RRSPFR``, ``RRSUFR``, ``RRSFFR``, ``ECRSS``, ``ECRSM``, ``NSPIN``,
``NSPNM``, ``ONNS``, ``OFFNS``; the token after the last underscore of the member name) and kind:

* ``2d_Self_Arranged_AS_<svc>``: ``Delivery Date, Hour Ending, Total Self-Arranged AS - <label>`` [MW]
  -> variable ``as_self_arranged_<svc>``;
* ``2d_Cleared_DAM_AS_<svc>``: ``Delivery Date, Hour Ending, Total Cleared AS - <label>`` [MW]
  -> variable ``as_cleared_dam_<svc>``;
* ``2d_Agg_AS_Offers_<svc>``: the aggregated offer curve, rows ``Delivery Date, Hour Ending, MW Offered,
  <svc> Offer Price``: for each hour, price points [USD/MW per hour] with the cumulative MW offered at or
  below that price (MW never decreases as the price rises; rows are not always in price order, so they
  are sorted). -> variable ``as_offer_<svc>_mw``, with ``area_to`` = the price point, ``"p=<price>"``
  (two decimals, e.g. ``"p=12.50"``; more only when the file has sub-cent prices).

  Why ``area_to``: the curve has a third dimension (price) that ``fundamentals`` has no column for. A
  variable per price (``as_offer_regup_mw_at_12.50``) would make the variable set unbounded and a step
  index (``price_step_3``) would make the key meaningless (step 3 is a different price every hour, and
  inserting a step renumbers the others). The price point, formatted canonically, is a stable key: the
  same (hour, service, price) is the same fact across reloads, the curve is rebuilt exactly by reading
  all ``area_to`` of a variable and hour, and both MW and price are kept without rounding. It is a
  documented overload of ``area_to`` (meant for flows) and only for these ``as_offer_*`` variables.

Hour convention: ``Hour Ending`` is 1..24, and 1..25 on the fall-back day (the recorded 2024-11-03 has
25 rows per series, no DST flag and no ``02*`` label): hour *k* is the *k*-th elapsed hour of the local
operating day, i.e. it ends ``k`` hours after local midnight (in UTC), so HE 2 is 01:00-02:00 CDT and HE 3
the repeated 01:00-02:00 CST; a 23-hour day ends at HE 23. This matches wall-clock hour ending on every
ordinary day. An hour beyond the day's length, or a non-integer label, is refused.

Publication time: the members name the posting *date* (``05-NOV-24``) but not the time; rows are stamped
with the end of that local posting day, an upper bound (the recorded document was posted at 03:16 that
day), so a backtest never sees them before they existed. The reports are not revised.
"""

from __future__ import annotations

import io
import re
import zipfile

import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/Chicago"
_MEMBER = re.compile(
    r"^2d_(Self_Arranged_AS|Cleared_DAM_AS|Agg_AS_Offers)_([A-Z]+)-(\d{2}-[A-Z]{3}-\d{2})\.csv$"
)
KINDS = {
    "Self_Arranged_AS": "as_self_arranged_",
    "Cleared_DAM_AS": "as_cleared_dam_",
    "Agg_AS_Offers": "as_offer_",
}
KEY = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]


def _members(body: bytes) -> dict[str, bytes]:
    if not body:
        raise ParseError("empty body")
    if body.lstrip()[:1] in (b"<", b"{"):
        raise ParseError("an HTML page or JSON error instead of the NP3-911-ER ZIP")
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            return {n: zf.read(n) for n in zf.namelist() if n.lower().endswith(".csv")}
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise ParseError(f"truncated or corrupt ZIP: {exc}") from None


def hour_ending_elapsed(dates: pd.Series, hour_ending: pd.Series) -> pd.Series:
    """Return interval ends [UTC] of hours counted from local midnight (HE 1..23/24/25)."""
    try:
        day = pd.to_datetime(dates.astype(str).str.strip(), format="%m/%d/%Y")
        he = pd.to_numeric(hour_ending.astype(str).str.strip(), errors="raise").astype(int)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"unreadable delivery date or hour ending (e.g. a '02*' label): {exc}") from None
    days = pd.DatetimeIndex(day.drop_duplicates())
    midnight = pd.Series(local_to_utc(days, TZ), index=days)  # local midnight always exists in Chicago
    next_midnight = pd.Series(local_to_utc(days + pd.Timedelta(days=1), TZ), index=days)
    hours = ((next_midnight - midnight) / pd.Timedelta(hours=1)).astype(int)
    length = day.map(hours)
    bad = (he < 1) | (he > length)
    if bad.any():
        raise ParseError(f"hour ending outside 1..hours of the day: {hour_ending[bad].head(3).tolist()}")
    start_of_day = day.map(midnight)
    return (start_of_day + pd.to_timedelta(he, unit="h")).astype("datetime64[ms, UTC]")


def _price_label(price: pd.Series) -> pd.Series:
    """Format price points canonically: two decimals, or up to six when a price has sub-cent digits."""
    cents = (price * 100).round(6)
    if (cents == cents.round()).all():
        return "p=" + price.map("{:.2f}".format)
    return "p=" + price.map(lambda p: f"{p:.6f}".rstrip("0"))


def parse_as_reports(body: bytes) -> pd.DataFrame:
    """Map a 2-Day Ancillary Service Reports ZIP to hourly fundamentals [MW]."""
    members = _members(body)
    if not members:
        raise ParseError("no CSV in the NP3-911-ER document")
    frames = []
    posted_dates = set()
    for name, csv in sorted(members.items()):
        m = _MEMBER.match(name.rsplit("/", 1)[-1])
        if m is None:
            raise ParseError(f"unknown member {name!r} in the NP3-911-ER document")
        kind, service, posted = m.groups()
        posted_dates.add(posted)
        raw = pd.read_csv(io.BytesIO(csv), dtype=str, skipinitialspace=True)
        raw.columns = [c.strip() for c in raw.columns]
        if raw.empty:
            raise ParseError(f"{name}: no rows")
        need = ["Delivery Date", "Hour Ending"]
        if kind == "Agg_AS_Offers":
            need += ["MW Offered", f"{service} Offer Price"]
        if [c for c in need if c not in raw] or (kind != "Agg_AS_Offers" and len(raw.columns) != 3):
            raise ParseError(
                f"{name}: changed header {list(raw.columns)}; expected {need} (+ a total column)"
            )
        end = hour_ending_elapsed(raw["Delivery Date"], raw["Hour Ending"])
        try:
            if kind == "Agg_AS_Offers":
                value = pd.to_numeric(raw["MW Offered"], errors="raise")
                area_to = _price_label(pd.to_numeric(raw[f"{service} Offer Price"], errors="raise"))
                variable = f"as_offer_{service.lower()}_mw"
            else:
                value = pd.to_numeric(raw[raw.columns[2]], errors="raise")
                area_to = pd.Series("", index=raw.index)
                variable = KINDS[kind] + service.lower()
        except (ValueError, TypeError) as exc:
            raise ParseError(f"{name}: non-numeric values: {exc}") from None
        frames.append(
            pd.DataFrame({"end": end, "area_to": area_to, "variable": variable, "value": value.astype(float)})
        )
    if len(posted_dates) != 1:
        raise ParseError(f"members posted on different dates: {sorted(posted_dates)}")
    (posted,) = posted_dates
    posted_day = pd.DatetimeIndex([pd.to_datetime(posted, format="%d-%b-%y") + pd.Timedelta(days=1)])
    published = pd.Timestamp(local_to_utc(posted_day, TZ)[0])  # end of the posting day (an upper bound)
    rows = pd.concat(frames, ignore_index=True)
    if rows.duplicated(["variable", "area_to", "end"]).any():
        raise ParseError("a service, hour and price point appear twice")
    out = fundamentals_frame(
        rows["end"] - pd.Timedelta(hours=1),
        rows["end"],
        market="ERCOT",
        area="ERCOT",
        area_to=rows["area_to"],
        variable=rows["variable"],
        value=rows["value"],
        unit="MW",
        source="ercot",
        published=published,
    )
    out["published_at_utc"] = out["published_at_utc"].astype("datetime64[ms, UTC]")
    return out.sort_values(KEY, ignore_index=True)
