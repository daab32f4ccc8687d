"""ERCOT document indexes -> :func:`marketintel.ingest.canonical.listing_frame`. Pure.

Two publishers' listings:

* MIS ``IceDocListJsonWS?reportTypeId=NNNNN``: ``ListDocsByRptTypeRes.DocumentList[].Document`` with
  ``DocID``, ``FriendlyName`` (``PVGRHRLYAVGACTNP4737_csv``; each document exists as ``_csv`` and
  ``_xml``), ``PublishDate`` with its UTC offset (``2025-03-13T12:55:08-05:00``) and ``ContentSize``
  [bytes]. A document is fetched from ``mirDownload?doclookupId=<DocID>``. gridstatus found that ERCOT
  may print a wrong offset on ``PublishDate`` around the fall-back hour (gridstatus/gridstatus pull
  request #468); the offset is used as published, which is right on every recorded listing (posting times
  agree with the ``ConstructedName`` stamps, e.g. ``...20250313.125509546...`` for 12:55:08-05:00).
* public API archive (``api.ercot.com/api/public-reports/archive/<emil id>``): ``archives[]`` with
  ``docId``, ``friendlyName``, ``postDatetime`` *without* an offset (``2024-11-05T03:16:10.000``, Central
  prevailing time: the same listing is asked for with ``postDatetimeFrom=2024-11-05T00:00:00`` local) and
  the download link in ``_links.endpoint.href``. A posting time inside the repeated fall-back hour is read
  as the later (CST) occurrence: a conservative choice, never earlier than the real posting.

Neither listing states the operating day a document covers, so ``covers_start_utc`` is left empty
(NaT); ``size_bytes`` is the MIS ``ContentSize`` and empty for the archive listing.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from marketintel.ingest.canonical import listing_frame
from marketintel.ingest.sdk import ParseError
from marketintel.timeutils import local_to_utc

TZ = "America/Chicago"
MIS_DOWNLOAD_URL = "https://www.ercot.com/misdownload/servlets/mirDownload"


def _json(body: bytes, what: str) -> Any:
    if not body.strip():
        raise ParseError("empty body")
    if body.lstrip()[:1] == b"<":
        raise ParseError(f"an HTML page instead of the {what}")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ParseError(f"not JSON ({what}): {exc}") from None


def parse_mis_listing(body: bytes) -> pd.DataFrame:
    """Return the documents of an MIS ``IceDocListJsonWS`` listing, oldest first."""
    doc = _json(body, "MIS document listing")
    try:
        docs = pd.DataFrame([entry["Document"] for entry in doc["ListDocsByRptTypeRes"]["DocumentList"]])
    except (KeyError, TypeError) as exc:
        raise ParseError(
            f"not an MIS document listing (ListDocsByRptTypeRes.DocumentList): {exc!r}"
        ) from None
    need = ["DocID", "FriendlyName", "PublishDate"]
    if docs.empty:
        return listing_frame([], [], [], pd.Series([], dtype="datetime64[ms, UTC]"))
    missing = [c for c in need if c not in docs]
    if missing:
        raise ParseError(f"MIS listing: changed format, missing {missing}; found {list(docs.columns)}")
    try:
        published = pd.to_datetime(docs["PublishDate"], format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise ParseError(f"MIS listing: unreadable PublishDate: {exc}") from None
    ids = docs["DocID"].astype(str)
    size = pd.to_numeric(docs["ContentSize"], errors="coerce") if "ContentSize" in docs else pd.NA
    url = MIS_DOWNLOAD_URL + "?doclookupId=" + ids
    return listing_frame(ids, docs["FriendlyName"].astype(str), url, published, size_bytes=size)


def parse_archive_listing(body: bytes) -> pd.DataFrame:
    """Return the documents of a public-API archive listing (``archives[]``), oldest first."""
    doc = _json(body, "public API archive listing")
    if not isinstance(doc, dict) or not isinstance(doc.get("archives"), list):
        found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ParseError(f"not a public API archive listing (no 'archives' list); found {found}")
    if not doc["archives"]:
        return listing_frame([], [], [], pd.Series([], dtype="datetime64[ms, UTC]"))
    try:
        docs = pd.DataFrame(
            {
                "id": [str(a["docId"]) for a in doc["archives"]],
                "name": [str(a["friendlyName"]) for a in doc["archives"]],
                "url": [str(a["_links"]["endpoint"]["href"]) for a in doc["archives"]],
                "posted": [str(a["postDatetime"]) for a in doc["archives"]],
            }
        )
    except (KeyError, TypeError) as exc:
        raise ParseError(f"public API archive listing: an archive lacks {exc}") from None
    try:
        wall = pd.DatetimeIndex(pd.to_datetime(docs["posted"], format="ISO8601"))
        if wall.tz is not None:
            raise ParseError("public API archive listing: postDatetime now has an offset; check the format")
        published = local_to_utc(wall, TZ, [False] * len(wall))  # the later reading in the repeated hour
    except ValueError as exc:
        raise ParseError(f"public API archive listing: unreadable postDatetime: {exc}") from None
    return listing_frame(docs["id"], docs["name"], docs["url"], pd.Series(published, index=docs.index))
