"""IESO operational XML reports -> ``fundamentals`` rows. Pure.

Time conventions are those of :mod:`marketintel.connectors.ieso.mapping` (EST all year, hour ending 1..24,
five-minute ``Interval`` 1..12 inside an hour ending). Every row's ``market`` is ``"IESO"``; ``area`` is
``"ONTARIO"`` for province-wide quantities.

Flows (``area`` -> ``area_to``, positive = from ``area`` to ``area_to``):

* Intertie zones keep the publisher's names: ``MANITOBA``, ``NEW-YORK``, ``PQ.AT``... in the Intertie
  Schedule and Flow report, ``Manitoba``, ``New York``, ``Quebec``... in the Adequacy report. The sum over
  all interties is the area ``ALL_INTERTIES``.
* Imports run ``zone -> ONTARIO`` and exports ``ONTARIO -> zone``, both as positive MW. The Adequacy report
  writes export *schedules* as negative numbers (e.g. 2025-02-28 HE1 ``TotalExports/Schedules`` = -2875
  while the export bids are +4263), so they are negated.
* The Intertie Schedule and Flow report's actual ``Flow`` is positive out of Ontario: on 2017-06-30 HE12
  Michigan is scheduled to export 800 MW and its twelve flows average +813.9 MW, while Manitoba is
  scheduled to import 100 MW and its flows average -83.2 MW (pyiso reads the total ``Flow`` as net export
  too). It is therefore stored as ``ONTARIO -> zone`` unchanged.

Missing values: a few elements come with no number (pyiso notes ``Output`` elements without ``EnergyMW``
in GenOutputCapability, and ``FuelTotal`` without ``Output`` in GenOutputbyFuelHourly). The ``fundamentals``
value is not nullable and IESO published no value there, so such an element yields no row; any other text
that is not a number is a :class:`ParseError`.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pandas as pd

from marketintel.connectors.ieso.mapping import (
    _body,
    _est,
    _root,
    _text,
    created_at,
    finish_fundamentals,
    interval_starts,
    numbers,
)
from marketintel.ingest.canonical import fundamentals_frame, slug
from marketintel.ingest.sdk import ParseError

ONTARIO = "ONTARIO"
ALL = "ALL_INTERTIES"
_COLS = ["day", "hour", "interval", "area", "area_to", "variable", "value", "unit"]


def _frame(rows: list[tuple[object, ...]], what: str) -> pd.DataFrame:
    if not rows:
        raise ParseError(f"no data rows in the {what} report")
    raw = pd.DataFrame(rows, columns=_COLS)
    raw["value"] = numbers(raw["value"], f"{what} value")
    return raw


def _to_fundamentals(
    raw: pd.DataFrame, published: pd.Timestamp | pd.Series | None, what: str, five_min: bool = False
) -> pd.DataFrame:
    """Stamp ``raw`` rows and return them as sorted ``fundamentals`` rows.

    ``published`` None means the report says nothing of when it was posted: the rows are actuals, stamped
    with the end of their interval (the platform's convention for actuals).
    """
    raw = raw[raw["value"].notna()].reset_index(drop=True)  # IESO published no number there (module doc)
    if raw.empty:
        raise ParseError(f"the {what} report holds no value")
    start, end = interval_starts(raw["day"], raw["hour"], raw["interval"] if five_min else None)
    out = fundamentals_frame(
        start,
        end,
        market="IESO",
        area=raw["area"],
        area_to=raw["area_to"],
        variable=raw["variable"],
        value=raw["value"],
        unit=raw["unit"],
        source="ieso",
        published=end if published is None else published,
    )
    return finish_fundamentals(out, what)


def _hourly_items(container: ElementTree.Element) -> list[tuple[str, str, str]] | None:
    """Return (hour, value, unit) of each ``<Item><DeliveryHour/><EnergyMW|EnergyMWhr/></Item>`` child.

    None if ``container`` is not such a series. Items without a quantity (``RampStatus`` holds a Y/N flag)
    are not quantities and are skipped; an item whose quantity is empty keeps an empty value (no row).
    """
    out = []
    series = False
    for item in container:
        hour = item.findtext("DeliveryHour")
        if hour is None:
            continue
        series = True
        for tag, unit in (("EnergyMW", "MW"), ("EnergyMWhr", "MWh")):
            node = item.find(tag)
            if node is not None:
                out.append((hour, node.text or "", unit))
                break
    return out if series else None


# --------------------------------------------------------------------------------------------------------
# Adequacy
# --------------------------------------------------------------------------------------------------------
#: the publisher's series container -> the stem of our variable name
STEMS = {
    "Capacities": "capacity",
    "Outages": "outages",
    "Offers": "offered",
    "Schedules": "scheduled",
    "Forecasts": "generation",
    "ForecastEnergies": "energy",
    "OfferForecasts": "expected_offered",  # IESO's offer forecast, for resources that do not offer
    "Bids": "bid",
    "BidForecasts": "expected_bid",
    "Estimates": "estimate",
    "Curtailed": "curtailed",
    "ScheduledON": "scheduled_on",
    "ScheduledOFF": "scheduled_off",
}
#: Ontario-wide Adequacy series by their path below ``DocBody`` (all forecasts for the delivery hour)
ADEQUACY_SERIES = {
    "ForecastSupply/Capacities": "supply_capacity_forecast",
    "ForecastSupply/Energies": "supply_energy_forecast",
    "ForecastSupply/BottledCapacities": "bottled_capacity_forecast",
    "ForecastSupply/Regulations": "regulation_forecast",
    "ForecastSupply/TotalSupplies": "supply_total_forecast",
    "ForecastDemand/OntarioDemand/ForecastOntDemand": "load_forecast",
    "ForecastDemand/OntarioDemand/PeakDemand": "load_peak_forecast",
    "ForecastDemand/OntarioDemand/AverageDemand": "load_average_forecast",
    "ForecastDemand/OntarioDemand/WindEmbedded": "generation_wind_embedded_forecast",
    "ForecastDemand/OntarioDemand/SolarEmbedded": "generation_solar_embedded_forecast",
    "ForecastDemand/GenerationReserveHoldback/TotalORReserve": "operating_reserve_forecast",
    "ForecastDemand/GenerationReserveHoldback/Min10MinOR": "reserve_10min_minimum_forecast",
    "ForecastDemand/GenerationReserveHoldback/Min10MinSpinOR": "reserve_10min_spin_minimum_forecast",
    "ForecastDemand/GenerationReserveHoldback/LoadForecastUncertainties": "load_uncertainty_forecast",
    "ForecastDemand/GenerationReserveHoldback/ContingencyAllowances": "contingency_allowance_forecast",
    "ForecastDemand/TotalRequirements": "requirement_total_forecast",
    "ForecastDemand/ExcessCapacities": "excess_capacity_forecast",
    "ForecastDemand/ExcessEnergies": "excess_energy_forecast",
    "ForecastDemand/ExcessOfferedCapacities": "excess_offered_capacity_forecast",
    "ForecastDemand/UnscheduledResources": "unscheduled_resources_forecast",
    "ForecastDemand/UnscheduledImports": "unscheduled_imports_forecast",
}


def _adequacy_variable(path: tuple[str, ...], label: str) -> tuple[str, str, str, float]:
    """Return (variable, area, area_to, sign) of an Adequacy series at ``path`` (``label``: fuel or zone)."""
    key = "/".join(path)
    if key in ADEQUACY_SERIES:
        return ADEQUACY_SERIES[key], ONTARIO, "", 1.0
    stem = STEMS.get(path[-1], slug(path[-1]))
    parent = path[-2] if len(path) > 1 else ""
    if parent == "InternalResource":  # one fuel: Nuclear, Gas, Hydro, Wind, Solar, Biofuel, Other
        return f"{stem}_{slug(label)}_forecast", ONTARIO, "", 1.0
    if parent == "TotalInternalResources":
        return f"{stem}_total_forecast", ONTARIO, "", 1.0
    if parent in ("ZonalImport", "TotalImports"):
        return f"import_{stem}_forecast", label if parent == "ZonalImport" else ALL, ONTARIO, 1.0
    if parent in ("ZonalExport", "TotalExports"):
        sign = -1.0 if path[-1] == "Schedules" else 1.0  # export schedules are written negative
        return f"export_{stem}_forecast", ONTARIO, label if parent == "ZonalExport" else ALL, sign
    if parent == "DispatchableLoad":
        return f"dispatchable_load_{stem}_forecast", ONTARIO, "", 1.0
    if parent == "HourlyDemandResponse":
        return f"demand_response_{stem}_forecast", ONTARIO, "", 1.0
    return f"{slug('_'.join(path))}_forecast", ONTARIO, "", 1.0  # a series this map does not know yet


def _adequacy_rows(body: ElementTree.Element, day: str) -> tuple[list[tuple[object, ...]], list[float]]:
    """Return the rows of one delivery day's ``DocBody`` and the sign to apply to each value."""
    rows: list[tuple[object, ...]] = []
    signs: list[float] = []
    stack: list[tuple[ElementTree.Element, tuple[str, ...], str]] = [(body, (), "")]
    while stack:
        node, path, label = stack.pop()
        for child in node:
            if len(child) == 0:  # DeliveryDate, FuelType, ZoneName
                continue
            here = (*path, child.tag)
            items = _hourly_items(child)
            if items is None:
                name = child.findtext("FuelType") or child.findtext("ZoneName") or label
                stack.append((child, here, name.strip()))
                continue
            variable, area, area_to, sign = _adequacy_variable(here, label)
            for hour, value, unit in items:
                rows.append((day, hour, 1, area, area_to, variable, value, unit))
                signs.append(sign)
    return rows, signs


def parse_adequacy(body: bytes) -> pd.DataFrame:
    """Map the Adequacy report (Adequacy2) to hourly forecasts [MW; MWh for the ``*_energy_*`` series].

    The report forecasts, per delivery hour, Ontario demand (``load_forecast``, peak and average, embedded
    wind and solar), supply by fuel (``capacity_<fuel>_forecast``, ``outages_<fuel>_forecast``,
    ``offered_<fuel>_forecast``, ``scheduled_<fuel>_forecast``, wind/solar ``generation_<fuel>_forecast``),
    imports and exports per intertie zone, reserve requirements and the resulting excess capacity. The same
    schema (``Adequacy2_r2.xsd``, namespace ``http://www.ieso.ca/schema``) is used before and after the
    market renewal: the 2017 file has a default namespace, the 2025 file an ``ns0:`` prefix.

    A file may hold several (``DocHeader``, ``DocBody``) pairs, one per delivery day; each day's rows are
    published at its own header's ``CreatedAt`` (the forecast's issue time).
    """
    root = _root(body, "Adequacy2")
    parts: list[pd.DataFrame] = []
    created: pd.Timestamp | None = None
    for section in root:
        if section.tag in ("DocHeader", "IMODocHeader"):
            text = section.findtext("CreatedAt")
            created = _est([text.strip()])[0] if text and text.strip() else None
        elif section.tag in ("DocBody", "IMODocBody"):
            if created is None:
                raise ParseError("an Adequacy DocBody without a CreatedAt in its DocHeader")
            rows, signs = _adequacy_rows(section, _text(section, "DeliveryDate"))
            raw = _frame(rows, "Adequacy")
            raw["value"] = raw["value"] * pd.Series(signs, dtype="float64") + 0.0  # + 0.0: no -0.0
            parts.append(_to_fundamentals(raw, created, "Adequacy"))
    if not parts:
        raise ParseError("no DocBody in the Adequacy report")
    return finish_fundamentals(pd.concat(parts, ignore_index=True), "Adequacy")


# --------------------------------------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------------------------------------
#: GenOutputCapability series container -> variable stem (the fuel type follows: ``generation_nuclear``)
GENERATOR_STEMS = {
    "Outputs": "generation",
    "Capabilities": "capability",
    "Capacities": "available_capacity",
    "Forecasts": "forecast",
}


def parse_gen_output_capability(body: bytes) -> pd.DataFrame:
    """Map the Generators Output and Capability report to hourly rows per generator [MW].

    ``area`` is the generator's name as IESO writes it (``BRUCEA-G1``); ``variable`` is
    ``<quantity>_<fuel>`` with the report's ``FuelType`` in lower case: ``generation_nuclear`` (``Outputs``:
    metered output), ``capability_nuclear`` (``Capabilities``: what the unit could produce that hour),
    ``available_capacity_nuclear`` (``Capacities/AvailCapacity``), each as present in the file. The 2016
    report carries all three; the reduced 2025 copy only ``Outputs`` of HE1.

    These are actuals: ``published_at_utc`` is the report's ``CreatedAt`` when the header has one, and the end
    of the hour otherwise (the reduced 2025 copy has no ``CreatedAt``).
    """
    root = _root(body, "GenOutputCapability")
    published = created_at(root)
    body_node = _body(root)
    day = _text(body_node, "Date")
    rows: list[tuple[object, ...]] = []
    for gen in body_node.iter("Generator"):
        name, fuel = _text(gen, "GeneratorName"), slug(_text(gen, "FuelType"))
        for series in gen:
            if len(series) == 0:
                continue
            stem = GENERATOR_STEMS.get(series.tag, slug(series.tag))
            for item in series:
                hour = item.findtext("Hour")
                if hour is None:
                    raise ParseError(f"{name}: <{item.tag}> without <Hour>")
                value = item.findtext("EnergyMW") or ""
                rows.append((day, hour, 1, name, "", f"{stem}_{fuel}", value, "MW"))
    return _to_fundamentals(_frame(rows, "GenOutputCapability"), published, "GenOutputCapability")


def parse_gen_output_by_fuel(body: bytes) -> pd.DataFrame:
    """Map the yearly Generator Output by Fuel Type Hourly report to ``generation_<fuel>`` rows [MW].

    ``DailyData/Day`` + ``HourlyData/Hour`` (hour ending) + ``FuelTotal/Fuel`` with ``EnergyValue/Output``.
    ``OutputQuality`` (0 on most hours, -1 or -2 on a few: 66 of 1008 values in the recorded 2016 file) is
    IESO's data-quality flag; the table has no quality column, so the value is kept as published. The file
    for the running year is re-issued as the year goes on; ``published_at_utc`` is its ``CreatedAt``.
    """
    root = _root(body, "GenOutputbyFuelHourly")
    published = created_at(root)
    rows: list[tuple[object, ...]] = []
    for daily in _body(root).iter("DailyData"):
        day = _text(daily, "Day")
        for hourly in daily.findall("HourlyData"):
            hour = hourly.findtext("Hour") or ""
            for total in hourly.findall("FuelTotal"):
                fuel = slug(_text(total, "Fuel"))
                value = total.findtext("EnergyValue/Output") or ""
                rows.append((day, hour, 1, ONTARIO, "", f"generation_{fuel}", value, "MW"))
    return _to_fundamentals(_frame(rows, "GenOutputbyFuelHourly"), published, "GenOutputbyFuelHourly")


# --------------------------------------------------------------------------------------------------------
# Interties
# --------------------------------------------------------------------------------------------------------
def parse_intertie_flow(body: bytes) -> pd.DataFrame:
    """Map the Intertie Schedule and Flow report: hourly schedules and five-minute actual flows [MW].

    Per ``IntertieZone`` (and ``Totals`` as ``ALL_INTERTIES``): ``Schedules/Schedule`` (hourly, per hour
    ending) give ``import_scheduled`` (``zone -> ONTARIO``) and ``export_scheduled`` (``ONTARIO -> zone``);
    ``Actuals/Actual`` (hour ending + ``Interval`` 1..12, i.e. five-minute) give ``flow_actual`` as
    ``ONTARIO -> zone``, positive out of Ontario (module doc for the evidence).

    ``published_at_utc`` is the report's ``CreatedAt``. The running day's file lists every interval of the day
    and fills the ones not metered yet with 0 (pyiso's reading of the report), so actual flows of intervals
    ending after ``CreatedAt`` are not facts yet and yield no row; schedules are kept (they are set ahead).
    """
    root = _root(body, "IntertieScheduleFlow")
    published = created_at(root)
    if published is None:
        raise ParseError("missing <CreatedAt>")
    body_node = _body(root)
    day = _text(body_node, "Date")
    hourly: list[tuple[object, ...]] = []
    five: list[tuple[object, ...]] = []
    zones = [(z, _text(z, "IntertieZoneName")) for z in body_node.findall("IntertieZone")]
    zones += [(t, ALL) for t in body_node.findall("Totals")]
    for zone, name in zones:
        for sched in zone.iterfind("Schedules/Schedule"):
            hour = sched.findtext("Hour") or ""
            hourly.append(
                (day, hour, 1, name, ONTARIO, "import_scheduled", sched.findtext("Import") or "", "MW")
            )
            hourly.append(
                (day, hour, 1, ONTARIO, name, "export_scheduled", sched.findtext("Export") or "", "MW")
            )
        for actual in zone.iterfind("Actuals/Actual"):
            hour, interval = actual.findtext("Hour") or "", actual.findtext("Interval") or ""
            five.append(
                (day, hour, interval, ONTARIO, name, "flow_actual", actual.findtext("Flow") or "", "MW")
            )
    parts = [_to_fundamentals(_frame(hourly, "IntertieScheduleFlow"), published, "IntertieScheduleFlow")]
    if five:
        flows = _to_fundamentals(
            _frame(five, "IntertieScheduleFlow"), published, "IntertieScheduleFlow", True
        )
        parts.append(flows[flows["interval_end_utc"] <= published])  # later ones are placeholders
    return finish_fundamentals(pd.concat(parts, ignore_index=True), "IntertieScheduleFlow")


# --------------------------------------------------------------------------------------------------------
# Constrained totals
# --------------------------------------------------------------------------------------------------------
def parse_predispatch_totals(body: bytes) -> pd.DataFrame:
    """Map the Predispatch Constrained Totals report to hourly forecasts [MW].

    ``Energies/HourlyConstrainedEnergy`` per ``DeliveryHour`` (hour ending) holds ``MQ`` elements
    (``MarketQuantity`` + ``EnergyMW``): ``Total Energy``, ``Total Load``, ``Total Loss``, ``Total Dispatch
    Load``, ``Total 10S``, ``Total 10N``, ``Total 30R``; each becomes ``<slug>_forecast``
    (``total_load_forecast``). Issued several times a day; ``published_at_utc`` is the ``CreatedAt``.
    """
    root = _root(body, "PredispConstTotals")
    published = created_at(root)
    if published is None:
        raise ParseError("missing <CreatedAt>")
    body_node = _body(root)
    day = _text(body_node, "DeliveryDate")
    rows: list[tuple[object, ...]] = []
    for hourly in body_node.iter("HourlyConstrainedEnergy"):
        hour = hourly.findtext("DeliveryHour") or ""
        for mq in hourly.findall("MQ"):
            variable = f"{slug(_text(mq, 'MarketQuantity'))}_forecast"
            rows.append((day, hour, 1, ONTARIO, "", variable, mq.findtext("EnergyMW") or "", "MW"))
    return _to_fundamentals(_frame(rows, "PredispConstTotals"), published, "PredispConstTotals")


def parse_realtime_totals(body: bytes) -> pd.DataFrame:
    """Map the Realtime Constrained Totals report (one delivery hour) to five-minute rows [MW].

    ``DocBody`` holds ``DeliveryDate``, ``DeliveryHour`` (hour ending) and twelve ``IntervalEnergy``
    (``Interval`` 1..12) with ``MQ`` elements: ``ONTARIO DEMAND`` -> ``ontario_demand``, ``Total Energy``
    -> ``total_energy``, ``Total Load``, ``Total Loss``, ``Total Dispatch Load``, ``Total 10S/10N/30R``. The
    interval's ``Flag`` (e.g. ``DSO-RD``) is a run label and is not mapped. ``published_at_utc`` is the
    ``CreatedAt``: the real-time dispatch for an interval runs ahead of it, so the recorded HE1 file was
    created at 00:52:36 EST, before its last interval ended.
    """
    root = _root(body, "RealtimeConstTotals")
    published = created_at(root)
    if published is None:
        raise ParseError("missing <CreatedAt>")
    body_node = _body(root)
    day, hour = _text(body_node, "DeliveryDate"), _text(body_node, "DeliveryHour")
    rows: list[tuple[object, ...]] = []
    for energy in body_node.iter("IntervalEnergy"):
        interval = energy.findtext("Interval") or ""
        for mq in energy.findall("MQ"):
            variable = slug(_text(mq, "MarketQuantity"))
            rows.append((day, hour, interval, ONTARIO, "", variable, mq.findtext("EnergyMW") or "", "MW"))
    return _to_fundamentals(_frame(rows, "RealtimeConstTotals"), published, "RealtimeConstTotals", True)
