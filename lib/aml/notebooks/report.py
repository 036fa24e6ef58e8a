"""``aml notebooks run``: pick notebooks, run them with the local runner, write the report.

The report is ``<out>/report.html`` (one page, figures embedded) with every figure also saved as
``<out>/images/<notebook>-cellNN-K.png``, so CI can keep both and a test can check the pictures.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aml.config import PROJECT_ROOT
from aml.notebooks import render
from aml.notebooks.runner import NotebookRun, run_notebook

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
REPORT = "report.html"
TITLE = "AML notebooks"


def discover(folder: Path = NOTEBOOKS_DIR, only: Sequence[str] = ()) -> list[Path]:
    """The numbered notebooks (``NN_name.py``) in order; ``only`` keeps those whose file name
    starts with, or whose stem equals, one of its entries (``03`` or ``03_alert_triage``)."""
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if any(p.stem == o or p.name.startswith(o) for o in only)]
        if not paths:
            raise FileNotFoundError(f"no notebook in {folder} matches {list(only)}")
    return paths


def write_report(runs: Sequence[NotebookRun], out_dir: Path, context: Mapping[str, str]) -> Path:
    """Writes ``report.html`` for the runs; returns its path."""
    body = []
    for run in runs:
        status = "" if run.ok else " (FAILED)"
        widgets = ", ".join(f"{k}={v!r}" for k, v in sorted(run.widgets.items())) or "none"
        body.append(
            f"<h1 class='notebook' id='{run.name}'>{html.escape(run.name)}{status}</h1>"
            f"<p class='cell-title'>widgets: {html.escape(widgets)}</p>"
            + "".join(cell.html for cell in run.cells)
        )
    header = "<p class='cell-title'>" + "; ".join(
        f"{html.escape(k)}: {html.escape(v)}" for k, v in context.items()
    ) + "</p>"  # fmt: skip
    toc = [(run.name, run.name, run.ok) for run in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT
    path.write_text(render.page(TITLE, header, toc, "\n".join(body)), encoding="utf-8")
    return path


def run_all(
    spark: SparkSession,
    notebooks: Sequence[Path],
    out_dir: Path,
    widgets: Mapping[str, str],
) -> tuple[list[NotebookRun], Path]:
    """Runs each notebook with the same widget values and writes one report for all."""
    from aml.crypto.access import current_user

    images = out_dir / "images"
    for old in images.glob("*.png") if images.is_dir() else ():
        old.unlink()  # a rerun's report must not sit beside an older run's pictures
    runs = [run_notebook(spark, path, widgets, images) for path in notebooks]
    context = {
        "generated": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "user": current_user(),
        "notebooks": ", ".join(p.name for p in notebooks),
    }
    return runs, write_report(runs, out_dir, context)
