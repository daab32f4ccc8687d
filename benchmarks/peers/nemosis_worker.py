"""Peer timing: what NEMOSIS 3.8.1 does to one downloaded MMSDM archive zip, on the same bytes we parse.

Run inside a venv holding ``nemosis==3.8.1`` (``benchmarks/.work/venv-nemosis``, made with
``python3.11 -m venv`` + ``pip install nemosis==3.8.1``; never the project's ``.venv``)::

    python nemosis_worker.py PATH CASE REPEATS

``PATH`` is a recorded archive zip (``PUBLIC_DVD_<TABLE>_...zip`` or ``PUBLIC_ARCHIVE%23<TABLE>%23...``),
``CASE`` the NEMOSIS table name (``DISPATCHPRICE``, ``DISPATCHREGIONSUM``, ``TRADINGPRICE``,
``DISPATCH_UNIT_SCADA``, ...). The file is read once; each of the ``REPEATS`` timed runs then does what
``nemosis.dynamic_data_compiler`` does with a downloaded file (``data_fetch_methods._dynamic_data_fetch_loop``
and the compiler's finalisation, NEMOSIS 3.8.1):

1. unpack the zip to a CSV on disk (``downloader._download_and_unpack_*``: ``ZipFile.extractall``);
2. ``_determine_columns_and_read_csv`` with ``_read_mms_csv`` (count the lines, ``pd.read_csv`` skipping
   the first ``C`` line and the ``END OF REPORT`` line, the table's default columns, ``dtype=str``);
3. the table's date filter (``filters.filter_on_settlementdate`` over the whole month) and column
   selection;
4. ``concat`` of the month's tables, the table's finalisers, ``_infer_column_data_types``.

It prints one JSON line last: ``{"median_s": ..., "rows": ..., "pandas": ..., "nemosis": ...}``.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd
from nemosis import _infer_column_data_types, defaults, processing_info_maps
from nemosis import data_fetch_methods as dfm


def run_once(body: bytes, table: str, workdir: Path) -> int:
    """Do NEMOSIS's work on one downloaded archive zip; return the rows it hands back."""
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        name = zf.namelist()[0]
        zf.extractall(workdir)
    csv_path = str(workdir / name)
    table_type = defaults.table_types[table]
    read = dfm._get_read_function(fformat="csv", table_type=table_type, day=None)
    data = dfm._determine_columns_and_read_csv(table, csv_path, read, read_all_columns=False, dtypes="str")
    date_filter = processing_info_maps.filter[table]
    start = pd.Timestamp("1990-01-01")
    end = pd.Timestamp("2100-01-01")
    if date_filter is not None:
        data = date_filter(data, start, end)
    data = dfm._perform_column_selection(data, defaults.table_columns[table], csv_path)
    all_data = pd.concat([data], sort=False)
    for function in processing_info_maps.finalise[table] or []:
        all_data = function(all_data, start, table)
    all_data = _infer_column_data_types(all_data)
    return len(all_data)


def main(argv: list[str]) -> int:
    """Time NEMOSIS on ``PATH`` for ``CASE``, ``REPEATS`` times; print the JSON result line."""
    path, case, repeats = Path(argv[1]), argv[2], int(argv[3])
    body = path.read_bytes()
    times: list[float] = []
    rows = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            t0 = time.perf_counter()
            rows = run_once(body, case, Path(tmp))
            times.append(time.perf_counter() - t0)
    import nemosis

    version = getattr(nemosis, "__version__", "3.8.1")
    print(json.dumps({"median_s": statistics.median(times), "rows": rows, "pandas": pd.__version__,
                      "nemosis": version, "case": case, "file": path.name}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
