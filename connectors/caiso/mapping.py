"""CAISO OASIS reports -> canonical rows. Pure.

OASIS ``SingleZip`` answers are ZIP files holding one CSV (``resultformat=6``) or one XML report. Both carry
the interval's start and end in GMT (``INTERVALSTARTTIME_GMT`` / ``INTERVAL_START_GMT``), used directly.

Publication time: an OASIS file says when it was *generated* (the XML ``MessageHeader/TimeDate``, the
CSV member's name ``..._YYYYMMDD_HH_MM_SS_v1.csv``), not when each forecast was issued. That time is used as
``published_at_utc``: an upper bound, so a point-in-time read never sees a value before it was certainly
known.

Damaged recordings: a complete OASIS XML document that fails to parse only because of broken markup
*between* its ``REPORT_DATA`` elements (pyiso's reduced ``ene_slrs.xml`` lacks ``</REPORT_ITEM>``) is read
from its intact elements, with a logged warning; a cut-off document or a damaged element is refused
(see :func:`_recover_report`).
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from xml.etree import ElementTree

import pandas as pd

from marketintel.ingest.canonical import fundamentals_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/Los_Angeles"
log = logging.getLogger(__name__)
_GENERATED = re.compile(r"_(\d{8})_(\d{2})_(\d{2})_(\d{2})_v\d+\.(csv|xml)$")
AREA_FIELDS = ("TAC_AREA_NAME", "TRADING_HUB", "RESOURCE_NAME", "NODE")


def unzip(body: bytes) -> tuple[str, bytes]:
    """Return (member name, bytes) of the one report inside an OASIS ZIP."""
    if not body:
        raise ParseError("empty body")
    head = body.lstrip()[:400]
    if head.startswith(b"<?xml") and b"OASISReport" in head:
        return "report.xml", body  # a bare OASIS XML report (error reports come this way too)
    if head[:1] == b"<":
        raise ParseError("an HTML page instead of an OASIS ZIP (portal error or maintenance page)")
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            names = zf.namelist()
            if len(names) != 1:
                raise ParseError(f"expected one report in the ZIP, found {names}")
            return names[0], zf.read(names[0])
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ParseError(f"truncated or corrupt ZIP: {exc}") from None


def _generated_from_name(member: str) -> pd.Timestamp | None:
    m = _GENERATED.search(member)
    if not m:
        return None
    wall = pd.DatetimeIndex([pd.to_datetime("".join(m.groups()[:4]), format="%Y%m%d%H%M%S")])
    return pd.Timestamp(local_to_utc(wall, TZ, [True])[0])


_ELEMENT = re.compile(rb"<REPORT_DATA>.*?</REPORT_DATA>", re.DOTALL)


def _recover_report(data: bytes, error: ElementTree.ParseError) -> ElementTree.Element:
    """Rebuild a malformed but complete OASIS XML report from its intact parts, or raise ParseError.

    pyiso's reduced ``ene_slrs.xml`` lost the ``</REPORT_ITEM>`` closing tag, so the document does not
    parse, yet every ``REPORT_DATA`` element in it is whole. Recovery is honest only when nothing can be
    missing: the document must end with ``</OASISReport>`` (not cut off), every opened ``<REPORT_DATA>``
    must be closed and parse on its own, and the ``MessageHeader`` must parse. The recovered report is
    rebuilt from those parts and the damage is logged as a warning naming the XML error and the element
    count; anything less is refused as malformed.
    """
    reason = f"malformed XML: {error}"
    if not data.rstrip().endswith(b"</OASISReport>"):
        raise ParseError(f"{reason}; the document is cut off (no closing </OASISReport>)")
    elements = _ELEMENT.findall(data)
    if not elements or len(elements) != data.count(b"<REPORT_DATA>"):
        raise ParseError(f"{reason}; a REPORT_DATA element is itself damaged, rows would be lost")
    header = re.search(rb"<MessageHeader>.*?</MessageHeader>", data, re.DOTALL)
    root = ElementTree.Element("OASISReport")
    try:
        if header is not None:
            root.append(ElementTree.fromstring(header.group(0)))
        for element in elements:
            root.append(ElementTree.fromstring(element))
    except ElementTree.ParseError as exc:
        raise ParseError(f"{reason}; an element does not parse on its own: {exc}") from None
    log.warning(
        "caiso: %s; recovered all %d intact REPORT_DATA elements (document complete)", reason, len(elements)
    )
    return root


def _records(member: str, data: bytes) -> tuple[pd.DataFrame, pd.Timestamp]:
    """Return the report's records with normalised column names, and when it was generated."""
    if member.lower().endswith(".csv"):
        raw = pd.read_csv(io.BytesIO(data))
        raw = raw.rename(
            columns={"INTERVALSTARTTIME_GMT": "start", "INTERVALENDTIME_GMT": "end", "XML_DATA_ITEM": "item"}
        )
        raw = raw.rename(columns={"MW": "value"})
        generated = _generated_from_name(member)
        if generated is None:
            raise ParseError(f"no generation time in the CSV name {member!r}")
        return raw, generated
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        root = _recover_report(data, exc)
    ns = {"o": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {}
    prefix = "o:" if ns else ""
    error = root.find(f".//{prefix}ERROR", ns)
    if error is not None:
        raise ParseError(f"OASIS error report: {ElementTree.tostring(error, 'unicode')[:200]}")
    stamp = root.findtext(f"{prefix}MessageHeader/{prefix}TimeDate", namespaces=ns)
    rows = []
    for item in root.iterfind(f".//{prefix}REPORT_DATA", ns):
        rows.append({child.tag.split("}")[-1]: child.text for child in item})
    if not rows or stamp is None:
        raise ParseError("no REPORT_DATA or no MessageHeader/TimeDate in the OASIS XML")
    raw = pd.DataFrame(rows).rename(
        columns={
            "INTERVAL_START_GMT": "start",
            "INTERVAL_END_GMT": "end",
            "DATA_ITEM": "item",
            "VALUE": "value",
        }
    )
    return raw, pd.Timestamp(stamp).tz_convert("UTC")


def parse_fundamentals(body: bytes) -> pd.DataFrame:
    """Map an OASIS load or renewable forecast / schedule report to fundamentals rows."""
    member, data = unzip(body)
    raw, generated = _records(member, data)
    missing = [c for c in ("start", "end", "item", "value") if c not in raw]
    if missing:
        raise ParseError(f"changed layout: missing {missing}; found {sorted(raw.columns)}")
    area_field = next((f for f in AREA_FIELDS if f in raw), None)
    area = raw[area_field].astype(str) if area_field else pd.Series("CAISO", index=raw.index)
    variable = raw["item"].astype(str).str.lower()
    if "RENEWABLE_TYPE" in raw:
        variable = variable + "_" + raw["RENEWABLE_TYPE"].astype(str).str.lower()
    out = fundamentals_frame(
        pd.to_datetime(raw["start"], format="ISO8601", utc=True).astype("datetime64[ms, UTC]"),
        pd.to_datetime(raw["end"], format="ISO8601", utc=True).astype("datetime64[ms, UTC]"),
        market="CAISO",
        area=area,
        variable=variable,
        value=pd.to_numeric(raw["value"], errors="raise").astype(float),
        unit="MW",
        source="caiso",
        published=generated,
    )
    return out.sort_values(["area", "variable", "interval_start_utc"], ignore_index=True)


_LMP_TYPES = {"LMP": "price", "MCE": "energy", "MCC": "congestion", "MCL": "loss"}


def parse_prc_lmp(body: bytes, market: str) -> pd.DataFrame:
    """Map an OASIS ``PRC_LMP`` CSV (documented layout; no recording exists) to price rows.

    One row per node, interval and ``LMP_TYPE`` (LMP, MCE energy, MCC congestion, MCL loss, MGHG), the
    value in ``MW`` (OASIS's name for the value column, here in USD/MWh).
    """
    member, data = unzip(body)
    raw = pd.read_csv(io.BytesIO(data))
    need = ["INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "NODE", "LMP_TYPE", "MW"]
    missing = [c for c in need if c not in raw]
    if missing:
        raise ParseError(f"changed layout: missing {missing}; found {sorted(raw.columns)}")
    raw = raw[raw["LMP_TYPE"].isin(list(_LMP_TYPES))]
    wide = raw.pivot_table(
        index=["NODE", "INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT"],
        columns="LMP_TYPE",
        values="MW",
        aggfunc="first",
    ).reset_index()
    if "LMP" not in wide:
        raise ParseError("no LMP rows in the report")
    generated = _generated_from_name(member)
    start = pd.to_datetime(wide["INTERVALSTARTTIME_GMT"], format="ISO8601", utc=True).astype(
        "datetime64[ms, UTC]"
    )
    out = pd.DataFrame(
        {
            "interval_start_utc": start,
            "interval_end_utc": pd.to_datetime(
                wide["INTERVALENDTIME_GMT"], format="ISO8601", utc=True
            ).astype("datetime64[ms, UTC]"),
            "market": market,
            "location": wide["NODE"].astype(str),
            "location_type": wide["NODE"].astype(str).map(lambda n: "hub" if n.startswith("TH_") else "node"),
            "currency": "USD",
            "unit": "USD/MWh",
            "source": "caiso",
            "published_at_utc": generated if generated is not None else start,
        }
    )
    for lmp_type, col in _LMP_TYPES.items():
        out[col] = wide[lmp_type].astype(float) if lmp_type in wide else float("nan")
    return out.sort_values(["location", "interval_start_utc"], ignore_index=True)
