"""ENTSO-E areas: EIC codes <-> the platform's short bidding-zone codes.

The codes are the EIC ``Y`` codes ENTSO-E uses in ``in_Domain`` / ``out_Domain`` / ``outBiddingZone_Domain``
(checked against entsoe-py 0.8.1's ``mappings.Area``). Short codes follow the platform convention shared by
every European source (``DE_LU``, ``NO1``, ``IT_NORD``, ...). One EIC code can name several things (``10YBE
----------2`` is Belgium's bidding zone, control area and market balance area); the short code is the
same for all of them. Areas that are not bidding zones (German control areas, countries) keep a
descriptive code (``DE_AMPRION``, ``DE``) and ``location_type`` / area kind is told by :data:`KINDS`.
"""

from __future__ import annotations

#: EIC code -> short code
EIC_TO_CODE: dict[str, str] = {
    # EPEX / CWE core
    "10Y1001A1001A82H": "DE_LU",
    "10Y1001A1001A63L": "DE_AT_LU",  # the joint zone until 2018-10-01
    "10YFR-RTE------C": "FR",
    "10YBE----------2": "BE",
    "10YNL----------L": "NL",
    "10YAT-APG------L": "AT",
    "10YCH-SWISSGRIDZ": "CH",
    "10YGB----------A": "GB",
    "10Y1001A1001A59C": "IE_SEM",
    # Poland, Central and Eastern Europe
    "10YPL-AREA-----S": "PL",
    "10YCZ-CEPS-----N": "CZ",
    "10YSK-SEPS-----K": "SK",
    "10YHU-MAVIR----U": "HU",
    "10YRO-TEL------P": "RO",
    "10YCA-BULGARIA-R": "BG",
    "10YSI-ELES-----O": "SI",
    "10YHR-HEP------M": "HR",
    "10YGR-HTSO-----Y": "GR",
    "10YCS-SERBIATSOV": "RS",
    # Baltics
    "10Y1001A1001A39I": "EE",
    "10YLV-1001A00074": "LV",
    "10YLT-1001A0008Q": "LT",
    # Nordics
    "10YNO-1--------2": "NO1",
    "10YNO-2--------T": "NO2",
    "10YNO-3--------J": "NO3",
    "10YNO-4--------9": "NO4",
    "10Y1001A1001A48H": "NO5",
    "10Y1001A1001A44P": "SE1",
    "10Y1001A1001A45N": "SE2",
    "10Y1001A1001A46L": "SE3",
    "10Y1001A1001A47J": "SE4",
    "10YFI-1--------U": "FI",
    "10YDK-1--------W": "DK1",
    "10YDK-2--------M": "DK2",
    # Iberia
    "10YES-REE------0": "ES",
    "10YPT-REN------W": "PT",
    # Italy
    "10Y1001A1001A73I": "IT_NORD",
    "10Y1001A1001A70O": "IT_CNOR",
    "10Y1001A1001A71M": "IT_CSUD",
    "10Y1001A1001A788": "IT_SUD",
    "10Y1001C--00096J": "IT_CALA",
    "10Y1001A1001A75E": "IT_SICI",
    "10Y1001A1001A74G": "IT_SARD",
    "10Y1001A1001A885": "IT_SACO_AC",
    "10Y1001A1001A893": "IT_SACO_DC",
    # countries and control areas (fundamentals only)
    "10Y1001A1001A83F": "DE",
    "10YIT-GRTN-----B": "IT",
    "10YDE-EON------1": "DE_TENNET",
    "10YDE-RWENET---I": "DE_AMPRION",
    "10YDE-VE-------2": "DE_50HZ",
    "10YDE-ENBW-----N": "DE_TRANSNET",
    "10Y1001A1001A65H": "DK",
    "10YNO-0--------C": "NO",
    "10YSE-1--------K": "SE",
}
CODE_TO_EIC: dict[str, str] = {code: eic for eic, code in EIC_TO_CODE.items()}

#: short codes that are not bidding zones
KINDS: dict[str, str] = {
    "DE": "country",
    "IT": "country",
    "DK": "country",
    "NO": "country",
    "SE": "country",
    "DE_TENNET": "control_area",
    "DE_AMPRION": "control_area",
    "DE_50HZ": "control_area",
    "DE_TRANSNET": "control_area",
}

#: the bidding zones whose day-ahead prices a pull fetches when the ingestor is given no zones: the EPEX
#: zones, Poland, Central and Eastern Europe, the Baltics, the Nordics, Iberia and Italy's zones
PRICE_ZONES: tuple[str, ...] = (
    "DE_LU", "FR", "BE", "NL", "AT", "CH",
    "PL", "CZ", "SK", "HU", "RO", "BG", "SI", "HR", "GR",
    "EE", "LV", "LT",
    "NO1", "NO2", "NO3", "NO4", "NO5", "SE1", "SE2", "SE3", "SE4", "FI", "DK1", "DK2",
    "ES", "PT",
    "IT_NORD", "IT_CNOR", "IT_CSUD", "IT_SUD", "IT_CALA", "IT_SICI", "IT_SARD",
)  # fmt: skip
#: default borders of the physical-flow and capacity datasets, ``FROM>TO`` (both directions are asked)
BORDERS: tuple[str, ...] = (
    "DE_LU>FR", "DE_LU>NL", "DE_LU>BE", "DE_LU>AT", "DE_LU>PL", "DE_LU>CZ", "DE_LU>DK1", "DE_LU>CH",
    "FR>BE", "FR>ES", "FR>CH", "NL>BE", "NO2>NL", "SE4>PL", "FI>EE", "ES>PT",
)  # fmt: skip

#: placeholder EIC of the "region" side of implicit-allocation net positions
REGION_PLACEHOLDER = "REGION_CODE-----"


def zone_code(eic: str) -> str:
    """Return the short code of an EIC area code (``KeyError`` for an area not in the table)."""
    return EIC_TO_CODE[eic]


def eic(code: str) -> str:
    """Return the EIC code of a short code (``KeyError`` for an unknown code)."""
    return CODE_TO_EIC[code]


def location_type(code: str) -> str:
    """Return ``bidding_zone`` or the kind of a non-bidding-zone area."""
    return KINDS.get(code, "bidding_zone")
