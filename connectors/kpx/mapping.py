"""KPX web pages -> canonical rows. Pure: bytes in, frame out.

KPX (Korea Power Exchange, ``new.kpx.or.kr``) publishes the Korean mainland system's real-time supply and
demand as HTML pages whose figures sit in a table and in JavaScript arrays for Highcharts. The pages were
read from the recordings (``realtime.html``, 2025-01-05 23:10 KST; ``historical.html``, 2023-09-01);
Electricity Maps' KPX parser was consulted for the page names, not copied.

Time
----
Korea Standard Time, ``Asia/Seoul`` (UTC+09:00, no daylight saving time since 1988). The page says its
figures are "5분주기 순시자료": instantaneous readings taken every 5 minutes. A reading stamped ``t`` is
stored over the five minutes *ending* at ``t``, ``[t - 5 min, t)`` [MW], and published at ``t`` (the
figure exists once it is read; the real-time page's own stamp equals its last reading, so it is posted
within that minute). The same reading seen again in a later page (or in the historical page) is the same
fact, with the same ``published_at_utc``.

Real-time page (``powerinfoSubmain.es?mid=a10606030000``)
    * A table stamped by ``<p class="info_top">2025.01.05(일) 23:10``: 공급능력 (supply capacity,
      ``supply_capacity``), 현재수요(전력시장) (current market demand: the same figure as the chart's last
      point, so taken from the chart), 공급예비력 (supply reserve, ``supply_reserve``), 공급예비율 (reserve
      margin %, derivable: reserve / demand, not stored).
    * The demand chart: ``var x`` 현재수요(전력시장) and ``var v`` 현재수요(총수요) for today, stamped by
      ``var t_time`` (``YYYYMMDDHHMMSS``); ``var y`` and ``var w``, the same for the same weekday a week
      earlier, stamped by ``var y_time``. Market demand -> ``load``; total demand (KPX's real-time
      estimate including behind-the-meter and PPA solar, published since 2024-11-23) ->
      ``load_total_estimated``.
    * Generation by source: ``var ictArr = [{...}, ...]``, one object per 5-minute reading (see
      :data:`GENERATION_FIELDS`), its stamp in ``regDate`` (``YYYY-MM-DD HH:MM``, cross-checked with
      ``once``). Slots later than the last reading are placeholders with ``regDate`` ``"0"`` and every
      value ``"0"`` (9 in the recording: 23:15..23:55); they are not readings and are skipped (a
      placeholder holding a non-zero value raises :class:`ParseError`).

Historical page (``powerSource.es?mid=a10606030000&device=chart``, the form posted for one day)
    The same ``ictArr`` for the requested day (2023-09-01: 288 readings 00:00..23:55). Before 2024-11-23
    wind is inside 신재생 (``newRenewable``) and there is no ``windPower``, ``ppa`` or ``btm``.

Mapping: ``fundamentals``, market ``KPX``, area ``KR`` (the mainland system; Jeju has its own page, not
read here), [MW]. ``generation_pumped_storage`` (양수) is negative while pumping. The pages carry no price:
the system marginal price (SMP) is on another page (``smpInland.es``) and is not read by this connector.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from bs4 import BeautifulSoup

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "Asia/Seoul"
SOURCE = "kpx"
MARKET = "KPX"
AREA = "KR"
STEP = pd.Timedelta(minutes=5)

#: ``ictArr`` field -> variable [MW]
GENERATION_FIELDS = {
    "nuclearPower": "generation_nuclear",  # 원자력
    "coal": "generation_coal",  # 유연탄 (bituminous, imported)
    "localCoal": "generation_domestic_coal",  # 국내탄 (domestic anthracite)
    "gas": "generation_gas",  # 가스
    "oil": "generation_oil",  # 유류
    "waterPower": "generation_hydro",  # 수력
    "raisingWater": "generation_pumped_storage",  # 양수 (negative: pumping)
    "windPower": "generation_wind",  # 풍력 (since 2024-11-23)
    "newRenewable": "generation_other_renewables",  # 신재생 (wind included before 2024-11-23)
    "sunlight": "generation_solar",  # 태양광(전력시장): market-metered solar
    "ppa": "generation_solar_ppa_estimated",  # 태양광(PPA,추정)
    "btm": "generation_solar_btm_estimated",  # 태양광(BTM,추정)
}
#: ``ictArr`` fields that are not readings: stamps, a row number, a sum of two mapped fields
NOT_READINGS = ("regDate", "once", "seq", "newRenewablePlusWindPower")
#: demand chart arrays: values -> (stamps, variable)
DEMAND_ARRAYS = {
    "x": ("t_time", "load"),
    "v": ("t_time", "load_total_estimated"),
    "y": ("y_time", "load"),
    "w": ("y_time", "load_total_estimated"),
}
SUMMARY_CELLS = {"avil": "supply_capacity", "supPow": "supply_reserve"}

_ICT = re.compile(r"var\s+ictArr\s*=\s*(\[.*?\])\s*;", re.S)
_STAMP = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})\([^)]*\)\s*(\d{1,2}):(\d{2})")
_FUND_ORDER = ["market", "area", "area_to", "variable", "interval_start_utc", "published_at_utc"]


def _text(body: bytes) -> str:
    if not body.strip():
        raise ParseError("empty body")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("not UTF-8: not a KPX page") from None


def _utc(wall: list[pd.Timestamp] | pd.DatetimeIndex) -> pd.DatetimeIndex:
    return local_to_utc(pd.DatetimeIndex(wall), TZ).as_unit("ms")


def _number(text: str, where: str) -> float:
    cleaned = text.replace(",", "").replace("MW", "").strip()
    try:
        return float(cleaned)
    except ValueError:
        raise ParseError(f"non-numeric {where}: {text!r}") from None


def _readings(stamps: pd.DatetimeIndex, variable: str, values: np.ndarray) -> pd.DataFrame:
    """Rows of readings at ``stamps`` (UTC), each over the five minutes ending at its stamp."""
    return fundamentals_frame(
        (stamps - STEP).as_unit("ms"), stamps, market=MARKET, area=AREA, variable=variable, value=values,
        unit="MW", source=SOURCE, published=stamps,
    )  # fmt: skip


def parse_generation(text: str) -> pd.DataFrame:
    """Map the page's ``ictArr`` (generation by source) to ``fundamentals`` rows [MW]."""
    m = _ICT.search(text)
    if m is None:
        raise ParseError("no 'var ictArr = [...]' in the page (changed page, or an error page)")
    try:
        records = json.loads(m.group(1))
    except json.JSONDecodeError as exc:
        raise ParseError(f"ictArr is not a JSON array: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ParseError("ictArr is not an array of objects")
    readings = []
    for k, rec in enumerate(records):
        unknown = sorted(set(rec) - set(GENERATION_FIELDS) - set(NOT_READINGS))
        if unknown:
            raise ParseError(
                f"ictArr[{k}] has unknown field(s) {unknown}; known: {sorted(GENERATION_FIELDS)}"
            )
        reg = str(rec.get("regDate", "")).strip()
        if reg == "0":  # a slot after the last reading
            if any(_number(str(rec[f]), f"ictArr[{k}].{f}") != 0 for f in GENERATION_FIELDS if f in rec):
                raise ParseError(f"ictArr[{k}] has no regDate but non-zero values: {rec}")
            continue
        try:
            stamp = pd.Timestamp(pd.to_datetime(reg, format="%Y-%m-%d %H:%M"))
        except ValueError:
            raise ParseError(f"ictArr[{k}] has an unreadable regDate {reg!r}") from None
        once = str(rec.get("once", "")).strip()
        if once and once != f"{stamp:%Y%m%d%H%M%S}":
            raise ParseError(f"ictArr[{k}]: regDate {reg!r} and once {once!r} disagree")
        values = {
            v: _number(str(rec[f]), f"ictArr[{k}].{f}") for f, v in GENERATION_FIELDS.items() if f in rec
        }
        readings.append((stamp, values))
    if not readings:
        raise ParseError("ictArr holds no reading (every slot is a placeholder)")
    stamps = [s for s, _ in readings]
    if len(set(stamps)) != len(stamps):
        raise ParseError("ictArr lists the same regDate twice")
    table = pd.DataFrame([v for _, v in readings])
    utc = _utc(stamps)
    frames = [_readings(utc, var, table[var].to_numpy(dtype=float)) for var in table.columns]
    return pd.concat(frames, ignore_index=True)


def _js_array(text: str, name: str) -> list[str]:
    m = re.search(rf"var\s+{name}\s*=\s*\[([^\]]*)\]", text)
    if m is None:
        raise ParseError(f"no 'var {name} = [...]' in the demand chart script")
    return [s.strip() for s in m.group(1).split(",") if s.strip()]


def parse_demand_chart(text: str) -> pd.DataFrame:
    """Map the demand chart's arrays (today and a week earlier) to ``fundamentals`` rows [MW]."""
    frames = []
    stamps: dict[str, pd.DatetimeIndex] = {}
    for name in ("t_time", "y_time"):
        raw = _js_array(text, name)
        try:
            stamps[name] = _utc(pd.to_datetime(raw, format="%Y%m%d%H%M%S"))
        except ValueError as exc:
            raise ParseError(f"unreadable stamp in {name}: {exc}") from None
        if stamps[name].has_duplicates:
            raise ParseError(f"{name} lists the same stamp twice")
    for name, (stamp_name, variable) in DEMAND_ARRAYS.items():
        values = [_number(s, f"{name}[{k}]") for k, s in enumerate(_js_array(text, name))]
        if len(values) != len(stamps[stamp_name]):
            raise ParseError(
                f"{name} has {len(values)} values for {len(stamps[stamp_name])} stamps in {stamp_name}"
            )
        frames.append(_readings(stamps[stamp_name], variable, np.asarray(values, dtype=float)))
    return pd.concat(frames, ignore_index=True)


def parse_summary(soup: BeautifulSoup) -> pd.DataFrame:
    """Map the stamped table (supply capacity, supply reserve) to ``fundamentals`` rows [MW]."""
    stamp = None
    for p in soup.find_all("p", class_="info_top"):
        m = _STAMP.search(p.get_text(" ", strip=True))
        if m:
            y, mo, d, h, mi = (int(g) for g in m.groups())
            stamp = pd.Timestamp(year=y, month=mo, day=d, hour=h, minute=mi)
            break
    if stamp is None:
        raise ParseError("no stamp like '2025.01.05(일) 23:10' in a <p class=\"info_top\">")
    frames = []
    for cell_id, variable in SUMMARY_CELLS.items():
        cell = soup.find("td", id=cell_id)
        if cell is None:
            raise ParseError(f"no <td id={cell_id!r}> ({variable}) in the summary table")
        value = _number(cell.get_text(strip=True), f"td#{cell_id}")
        frames.append(_readings(_utc([stamp]), variable, np.asarray([value])))
    return pd.concat(frames, ignore_index=True)


def parse_realtime(body: bytes) -> pd.DataFrame:
    """Map the real-time supply and demand page: summary, demand chart, generation by source [MW]."""
    text = _text(body)
    soup = BeautifulSoup(text, "html.parser")
    out = pd.concat(
        [parse_summary(soup), parse_demand_chart(text), parse_generation(text)], ignore_index=True
    )
    if out.duplicated(["variable", "interval_start_utc"]).any():
        raise ParseError("the same reading is listed twice")
    return out.sort_values(_FUND_ORDER, ignore_index=True)


def parse_historical(body: bytes) -> pd.DataFrame:
    """Map the historical generation-by-source page of one day [MW]."""
    return parse_generation(_text(body)).sort_values(_FUND_ORDER, ignore_index=True)
