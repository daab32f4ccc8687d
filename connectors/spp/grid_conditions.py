"""SPP "Current Grid Conditions" page -> canonical ``alerts`` rows. Pure (stdlib ``html.parser`` only).

The page (``www.spp.org/markets-operations/current-grid-conditions/``) is prose written by SPP staff, not a
feed; its wording changed over the recorded captures (2021-02-15, 2021-02-17, 2022-10-10, 2023-01-01, all
Wayback Machine captures). What is stable:

- an ``<h1>Current Grid Conditions</h1>``, then the status paragraphs, then the fixed glossary that starts
  "Descriptions of ... reliability events" (or the "Grid Notice" subscription text);
- a "last updated <Mon. D[, YYYY]>, at <h:mm a.m.>" or "as of <Mon. D, YYYY> at <h:mm a.m.>" stamp,
  in Central prevailing time;
- the reliability levels named in SPP's glossary: Normal Operations, Weather / Resource Advisory (2021:
  "Alert"), Conservative Operations (Advisory), Maximum Emergency Generation Notification, Energy
  Emergency Alert (EEA) Level 1-3, Restoration Event.

Mapping, one alert per status paragraph that names a level (paragraphs that name none, like appeals to
conserve, give no row):

- ``title``: the first level the paragraph names (``"EEA Level 2"``, ``"Conservative Operations
  Advisory"``...); ``message``: the paragraph's text; ``severity``: info for Normal Operations and the
  weather / resource advisories ("raise awareness and do not require general audiences to take action",
  SPP's glossary), warning for Conservative Operations, Maximum Emergency Generation and EEA 1, critical
  for EEA 2, EEA 3 and Restoration Event;
- ``raised_at_utc``: the first date and the first clock time written in the paragraph (after removing
  the page's own "last updated ..." stamp), else the page's update time. Dates without a year take the
  year of the page's update time (a December date on a January page is the previous year); when the
  page itself gives no year, the Wayback capture stamp in the page, else the fetch time, gives it;
- ``status``: the first such paragraph is the page's current condition (``"open"``); every later one is
  history (earlier declarations, timelines, notes) and is ``"resolved"``. The store's ``alerts`` table
  names its states ``open`` / ``acknowledged`` / ``resolved``; those words are used for SPP's "in effect" /
  "ended";
- ``alert_id``: a UUID hashed (``uuid5``) from source, title and ``raised_at_utc``, so the same
  declaration read from two captures is one alert whose later capture (``updated_at_utc`` = the page's
  update time) wins. Within one page, a paragraph repeating an alert already read (the current status
  again at the end of a timeline) adds nothing and is not repeated.

This extraction of facts from prose is heuristic: a paragraph describing several events (the 2023 note
lists a weather advisory, a conservative operations advisory and two EEA 1 periods) gives one alert
titled after the first, with the whole text in ``message``.
"""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser

import pandas as pd

from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/Chicago"
_BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "div", "td", "th", "tr", "br", "section", "ul"}
_SKIP = {"script", "style", "noscript", "svg"}
_MONTHS = {
    name: k + 1
    for k, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DATE = re.compile(
    r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+(\d{1,2})(?![\d:])(?:,\s*(\d{4}))?"
)
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?:\s*([ap])\.?\s?m\b\.?)?", re.IGNORECASE)
_UPDATED = re.compile(
    r"\(?\s*(?:last updated|as of)\s+(?P<stamp>[A-Z][a-z]+\.?\s+\d{1,2}(?:,\s*\d{4})?,?\s+at\s+"
    r"\d{1,2}:\d{2}\s*[ap]\.?\s?m\.?)[^)]*?(?:\)|(?=\s[A-Z]))",
    re.IGNORECASE,
)
_WAYBACK = re.compile(rb"web\.archive\.org/web/(\d{14})/")
#: (pattern, title, severity), checked in this order; the earliest match in a paragraph wins
_I = re.IGNORECASE
_LEVELS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"Energy Emergency Alert (?:\(EEA\) )?Level ([123])|EEA Level ([123])|EEA ?([123])\b", _I),
     "", ""),
    (re.compile(r"conservative operations(?: advisory)?", _I), "Conservative Operations Advisory", "warning"),
    (re.compile(r"weather (advisory|alert)", _I), "Weather", "info"),
    (re.compile(r"resource (advisory|alert)", _I), "Resource", "info"),
    (re.compile(r"maximum emergency generation", _I), "Maximum Emergency Generation Notification",
     "warning"),
    (re.compile(r"restoration event", _I), "Restoration Event", "critical"),
    (re.compile(r"normal operations", _I), "Normal Operations", "info"),
)  # fmt: skip
_EEA_SEVERITY = {"1": "warning", "2": "critical", "3": "critical"}
COLUMNS = (
    "alert_id", "category", "severity", "raised_at_utc", "table_name", "market", "location", "title",
    "message", "status", "run_id", "updated_at_utc",
)  # fmt: skip


class _Blocks(HTMLParser):
    """Collect the text of block elements, each with the tag that opened it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self._tag = ""
        self._text: list[str] = []
        self._skip = 0

    def _flush(self) -> None:
        text = " ".join("".join(self._text).split())
        if text:
            self.blocks.append((self._tag, text))
        self._text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCKS:
            self._flush()
            self._tag = tag

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._text.append(data)


def _status_paragraphs(html: str) -> list[str]:
    parser = _Blocks()
    parser.feed(html)
    parser.close()
    blocks = parser.blocks
    try:
        at = next(
            k for k, (tag, text) in enumerate(blocks) if tag == "h1" and text == "Current Grid Conditions"
        )
    except StopIteration:
        raise ParseError("not SPP's grid conditions page: no <h1>Current Grid Conditions</h1>") from None
    out = []
    for _tag, text in blocks[at + 1 :]:
        if re.search(r"Descriptions of .{0,30}reliability events", text) or re.match(
            r"(Grid Notice|To subscribe|MARKETS & OPERATIONS)", text
        ):
            break
        out.append(text)
    return out


def _clock(match: re.Match[str]) -> tuple[int, int]:
    hour, minute, half = int(match.group(1)), int(match.group(2)), (match.group(3) or "").lower()
    if half == "a" and hour == 12:
        hour = 0
    elif half == "p" and hour < 12:
        hour += 12
    return hour, minute


def _wall(text: str, year_of: pd.Timestamp) -> pd.Timestamp | None:
    """Return the first date and clock time written in ``text`` as a naive Central wall time."""
    date, clock = _DATE.search(text), _TIME.search(text)
    if date is None:
        return None
    month, day = _MONTHS[date.group(1).lower()], int(date.group(2))
    year = int(date.group(3)) if date.group(3) else year_of.year - (month > year_of.month)
    hour, minute = _clock(clock) if clock else (0, 0)
    return pd.Timestamp(year=year, month=month, day=day, hour=hour, minute=minute)


def _utc(wall: pd.Timestamp) -> pd.Timestamp:
    try:  # a repeated autumn hour is read as the first (daylight) one: the page does not say
        return pd.Timestamp(local_to_utc(pd.DatetimeIndex([wall]), TZ, [True])[0])
    except ValueError as exc:
        raise ParseError(f"a Central time that does not exist: {exc}") from None


def _level(text: str) -> tuple[str, str] | None:
    found = []
    for pattern, name, level_severity in _LEVELS:
        m = pattern.search(text)
        if m is None:
            continue
        title, severity = name, level_severity
        if not name:  # EEA n
            n = next(g for g in m.groups() if g)
            title, severity = f"EEA Level {n}", _EEA_SEVERITY[n]
        elif name in ("Weather", "Resource"):
            title = f"{name} {m.group(1).title()}"
        found.append((m.start(), title, severity))
    return min(found)[1:] if found else None


def parse_grid_conditions(body: bytes, fetched_at_utc: pd.Timestamp) -> pd.DataFrame:
    """Map one capture of SPP's grid conditions page to ``alerts`` rows.

    Parameters
    ----------
    body : bytes
        The HTML page.
    fetched_at_utc : pd.Timestamp
        When it was fetched; gives the year when neither the page nor a Wayback stamp in it does.

    Raises
    ------
    ParseError
        On an empty body, a page without the grid conditions heading or without a "last updated" /
        "as of" stamp.
    """
    if not body.strip():
        raise ParseError("empty body")
    html = body.decode("utf-8", errors="replace")
    paragraphs = _status_paragraphs(html)
    section = " ".join(paragraphs)
    updated = _UPDATED.search(section)
    if updated is None:
        raise ParseError("no 'last updated' or 'as of' time on the grid conditions page")
    wayback = _WAYBACK.search(body)
    reference = (
        pd.Timestamp(pd.to_datetime(wayback.group(1).decode(), format="%Y%m%d%H%M%S"))
        if wayback
        else pd.Timestamp(fetched_at_utc).tz_convert(TZ).tz_localize(None)
    )
    page_wall = _wall(updated.group("stamp"), reference)
    assert page_wall is not None  # the stamp pattern holds a date
    page_time = _utc(page_wall)
    rows: list[dict[str, object]] = []
    seen: set[str] = set()
    for text in paragraphs:
        level = _level(text)
        if level is None:
            continue
        title, severity = level
        stripped = _UPDATED.sub(" ", text)
        wall = _wall(stripped, page_wall)
        raised = _utc(wall) if wall is not None and _TIME.search(stripped) else page_time
        alert_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"spp|{title}|{raised.isoformat()}"))
        if alert_id in seen:
            continue
        seen.add(alert_id)
        rows.append(
            {
                "alert_id": alert_id,
                "category": "grid_condition",
                "severity": severity,
                "raised_at_utc": raised,
                "table_name": "",
                "market": "SPP",
                "location": "",
                "title": title,
                "message": text,
                "status": "open" if not rows else "resolved",
                "run_id": "",
                "updated_at_utc": page_time,
            }
        )
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in ("raised_at_utc", "updated_at_utc"):
        out[col] = pd.to_datetime(out[col], utc=True).astype("datetime64[ms, UTC]")
    return out.sort_values(["raised_at_utc", "alert_id"], ignore_index=True)
