"""Running notebooks: papermill on this interpreter's kernel, and HTML pages without code for the reader.

Shared by the backtest report and the Prefect flows: :func:`python_kernel` guarantees the kernel runs the
caller's own Python (so the notebook sees the same installed packages), :func:`execute` runs a notebook
with parameters and turns a kernel failure into one error carrying the notebook's traceback, and
:func:`export_html` writes a page with no code cells and no network scripts (plots embedded inline work
offline).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from marketintel.exceptions import MarketIntelError

#: Name of the kernelspec created when the installed ``python3`` one would run another interpreter.
FALLBACK_KERNEL: Final[str] = "marketintel-python"
#: nbconvert template: the lab one without any network script (require.js, MathJax, mermaid, widgets).
_HTML_TEMPLATE: Final[str] = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_HTML_TEMPLATE_NAME: Final[str] = "marketintel_report.html.j2"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class NotebookError(MarketIntelError, RuntimeError):
    """A notebook failed to execute or export; the message carries its error and where it was kept."""


@contextlib.contextmanager
def python_kernel() -> Iterator[str]:
    """Yield the name of a kernelspec that runs ``sys.executable`` (this interpreter, these packages).

    The kernelspec is written to a temporary directory put first on ``JUPYTER_PATH`` for the duration, so
    an installed ``python3`` spec pointing at another interpreter cannot be picked up by accident; the
    kernel logs only critical messages (ipykernel otherwise warns on every start that its local TCP
    transport is unencrypted).
    """
    with tempfile.TemporaryDirectory(prefix="mi-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / FALLBACK_KERNEL
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=CRITICAL"],
            "display_name": f"Python ({sys.executable})",
            "language": "python",
        }  # fmt: skip
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        before = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = os.pathsep.join([tmp, *([before] if before else [])])
        try:
            yield FALLBACK_KERNEL
        finally:
            if before is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = before


def execution_error(exc: Exception, ipynb: Path, what: str = "notebook") -> NotebookError:
    """Build a NotebookError with the notebook's error text."""
    ename = getattr(exc, "ename", None)
    if ename is not None:
        trace = _ANSI.sub("", "\n".join(getattr(exc, "traceback", []) or []))
        text = f"{ename}: {getattr(exc, 'evalue', '')}\n{trace}".rstrip()
        where = f"cell {getattr(exc, 'exec_count', '?')}"
    else:
        text = _ANSI.sub("", f"{type(exc).__name__}: {exc}")
        where = "the kernel"
    return NotebookError(f"the {what} failed in {where}:\n{text}\nexecuted notebook kept at {ipynb}")


def export_html(ipynb: Path, out_html: Path, *, title: str) -> Path:
    """Export an executed notebook to a self-contained HTML page without code.

    Parameters
    ----------
    ipynb : pathlib.Path
        The executed notebook.
    out_html : pathlib.Path
        Where to write the page.
    title : str
        The page's ``<title>``.

    Returns
    -------
    pathlib.Path
        ``out_html``.
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)  # type: ignore[no-untyped-call]
    nb.metadata["title"] = title
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab",
        extra_loaders=[DictLoader({_HTML_TEMPLATE_NAME: _HTML_TEMPLATE})],
        template_file=_HTML_TEMPLATE_NAME,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    out_html.write_text(body, encoding="utf-8")
    return out_html


def execute(notebook: Path, out_ipynb: Path, parameters: dict[str, Any], *, timeout_s: float = 600,
            cwd: Path | None = None, what: str = "notebook") -> Path:  # fmt: skip
    """Execute ``notebook`` with ``parameters`` (papermill) into ``out_ipynb`` on this interpreter.

    Raises
    ------
    NotebookError
        With the failing cell's error and traceback; the executed notebook is kept for debugging.
    """
    import papermill

    out_ipynb.parent.mkdir(parents=True, exist_ok=True)
    with python_kernel() as kernel_name:
        try:
            papermill.execute_notebook(
                str(notebook), str(out_ipynb), parameters=parameters, kernel_name=kernel_name,
                progress_bar=False, log_output=False, request_save_on_cell_execute=False,
                execution_timeout=timeout_s, cwd=str(cwd or out_ipynb.parent),
            )  # fmt: skip
        except Exception as exc:  # any kernel failure: papermill, nbclient, jupyter_client errors
            raise execution_error(exc, out_ipynb, what) from exc
    return out_ipynb


def notebook_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """Return papermill's view of a notebook's ``parameters`` cell: name -> {inferred_type_name, default}."""
    import papermill

    found: dict[str, dict[str, Any]] = papermill.inspect_notebook(str(notebook))
    return found
