"""NEMweb directory listings -> :func:`marketintel.ingest.canonical.listing_frame`. Pure.

``https://nemweb.com.au/Reports/Current/<folder>/`` is an IIS directory listing: one ``<pre>`` with, per
entry, ``Tuesday, August 31, 2021 12:50 PM   3071 <A HREF="/Reports/CURRENT/.../PUBLIC_DISPATCHSCADA_
202108311255_0000000348260618.zip">name</A><br>`` (sub-folders show ``&lt;dir&gt;`` instead of a size and
are skipped). The listed time is the file's write time on the server, AEST wall clock (the recorded
Dispatch_SCADA listing shows ``12:50 PM`` for the file of the interval ending 12:55, and the raw file's own
``C`` header says 12:50:16), read as ``published_at_utc``. Hrefs are relative (``/Reports/...``) or absolute
(a browser's saved copy); both are resolved against ``https://nemweb.com.au/``.

The 12-digit stamp of a 5-minute report's name (``PUBLIC_DISPATCHIS_202111081435_...``) is the end of the
dispatch interval it covers, so ``covers_start_utc`` is that stamp minus 5 minutes (AEST -> UTC); for other
names (daily reports) it is left empty.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import pandas as pd

from marketintel.ingest.canonical import listing_frame
from marketintel.ingest.sdk import ParseError

BASE = "https://nemweb.com.au/"
_ENTRY = re.compile(
    r"(?P<when>[A-Za-z]+day, [A-Za-z]+ \d{1,2}, \d{4}\s+\d{1,2}:\d{2} [AP]M)\s+(?P<size>\d+|&lt;dir&gt;)\s+"
    r"<a href=\"(?P<href>[^\"]+)\">(?P<name>[^<]+)</a>",
    re.IGNORECASE,
)
_FIVE_MINUTE = re.compile(r"^PUBLIC_(?:DISPATCHIS|DISPATCHSCADA|TRADINGIS|P5MIN)_(\d{12})_", re.IGNORECASE)


def parse_listing(body: bytes) -> pd.DataFrame:
    """Return the files of a NEMweb directory listing, oldest first.

    Raises
    ------
    ParseError
        When the body is not an IIS directory listing.
    """
    if not body.strip():
        raise ParseError("empty body")
    text = body.decode("utf-8", errors="replace")
    if "[To Parent Directory]" not in text and "nemweb" not in text.lower()[:2000]:
        raise ParseError("not a NEMweb directory listing (no '[To Parent Directory]' link)")
    entries = [m for m in _ENTRY.finditer(text) if not m.group("size").startswith("&")]
    if not entries:
        return listing_frame([], [], [], pd.Series([], dtype="datetime64[ms, UTC]"))
    names = [html.unescape(m.group("name")).strip() for m in entries]
    urls = [urljoin(BASE, html.unescape(m.group("href"))) for m in entries]
    try:
        wall = pd.to_datetime(
            pd.Series([re.sub(r"\s+", " ", m.group("when")) for m in entries]),
            format="%A, %B %d, %Y %I:%M %p",
        )
    except ValueError as exc:
        raise ParseError(f"unreadable listing time: {exc}") from None
    published = (wall - pd.Timedelta(hours=10)).dt.tz_localize("UTC")
    covers = []
    for name in names:
        m = _FIVE_MINUTE.match(name)
        covers.append(
            pd.Timestamp(m.group(1)) - pd.Timedelta(minutes=5) - pd.Timedelta(hours=10) if m else pd.NaT
        )
    size = [int(m.group("size")) for m in entries]
    frame = listing_frame(names, names, urls, published, pd.Series(covers).dt.tz_localize("UTC"), size)
    if frame.duplicated(["document_id"]).any():
        raise ParseError("a file is listed twice")
    return frame
