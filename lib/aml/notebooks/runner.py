"""Runs the Databricks source notebooks locally, unchanged, and writes an HTML report.

Databricks gives a notebook the globals ``spark``, ``dbutils``, ``display`` and ``displayHTML``
and runs ``%sql`` and ``%md`` cells itself; this runner provides the same: small shims for
widgets (``text``, ``dropdown``, ``get``; values from ``--widget k=v`` over the defaults),
``display`` for Spark and pandas DataFrames and matplotlib figures, ``%sql`` through
``spark.sql`` and ``%md`` rendered. Cells run in order in one namespace per notebook; the first
failing cell stops its notebook (as "Run all" does) and the report marks it.

``display`` refuses any ``*_enc`` column: encrypted values have no business in a report, and a
notebook that tries is a bug a test should catch, not a leak to tidy up afterwards.
"""

from __future__ import annotations

import contextlib
import html
import io
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aml.notebooks import render
from aml.notebooks.source import MARKDOWN, PYTHON, SQL, Cell, read

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MAX_ROWS = 100


class WidgetError(KeyError):
    """A widget read before it was defined, or given a value outside its choices."""


class EncryptedColumnDisplayed(ValueError):
    """A notebook tried to display an encrypted (``*_enc``) column."""


class Widgets:
    """``dbutils.widgets``: values given to the runner win over the notebook's defaults."""

    def __init__(self, given: Mapping[str, str]) -> None:
        self._given = dict(given)
        self._defaults: dict[str, str] = {}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:  # noqa: N803
        self._defaults[name] = str(defaultValue)

    def dropdown(
        self,
        name: str,
        defaultValue: str,
        choices: Sequence[str],
        label: str | None = None,  # noqa: N803
    ) -> None:
        for value in (defaultValue, self._given.get(name, defaultValue)):
            if value not in choices:
                raise WidgetError(f"widget {name}: {value!r} is not one of {list(choices)}")
        self._defaults[name] = str(defaultValue)

    def get(self, name: str) -> str:
        if name not in self._defaults:
            raise WidgetError(f"widget {name!r} is not defined (define it before reading it)")
        return self._given.get(name, self._defaults[name])

    def getAll(self) -> dict[str, str]:  # noqa: N802 - the Databricks name
        return {name: self.get(name) for name in self._defaults}

    def removeAll(self) -> None:  # noqa: N802 - the Databricks name
        self._defaults.clear()


@dataclass
class DbUtils:
    widgets: Widgets


@dataclass
class CellRun:
    """One executed cell: its outputs (HTML fragments), error and the section the report got."""

    cell: Cell
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    html: str = ""


@dataclass
class NotebookRun:
    name: str
    cells: list[CellRun] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    widgets: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.error is None for c in self.cells)


class Display:
    """``display`` / ``displayHTML`` writing into the current cell's outputs."""

    def __init__(self, run: NotebookRun, images_dir: Path, max_rows: int = MAX_ROWS) -> None:
        self.run, self.images_dir, self.max_rows = run, images_dir, max_rows
        self.current: CellRun | None = None
        self.printed = io.StringIO()

    def flush_printed(self) -> None:
        """Moves what the cell printed so far into its outputs, keeping the order of both."""
        text, self.printed = self.printed.getvalue(), io.StringIO()
        if text and self.current is not None:
            self.current.outputs.append(render.preformatted(text))

    def _emit(self, fragment: str) -> None:
        assert self.current is not None, "display called outside a cell"
        self.flush_printed()
        self.current.outputs.append(fragment)

    def display(self, obj: Any, *args: Any, **kwargs: Any) -> None:
        import pandas as pd
        from matplotlib.figure import Figure
        from pyspark.sql import DataFrame

        if isinstance(obj, DataFrame):
            self._guard(obj.columns)
            rows = obj.limit(self.max_rows + 1).toPandas()
            total = len(rows)
            self._emit(render.table(rows.head(self.max_rows), total))
        elif isinstance(obj, pd.DataFrame):
            self._guard([str(c) for c in obj.columns])
            self._emit(render.table(obj.head(self.max_rows), len(obj)))
        elif isinstance(obj, Figure):
            self._figure(obj)
        else:
            self._emit(render.preformatted(str(obj)))

    def display_html(self, fragment: str) -> None:
        self._emit(str(fragment))

    @staticmethod
    def _guard(columns: Sequence[str]) -> None:
        encrypted = [c for c in columns if c.endswith("_enc")]
        if encrypted:
            raise EncryptedColumnDisplayed(f"refusing to display encrypted columns {encrypted}")

    def _figure(self, fig: Any) -> None:
        import matplotlib.pyplot as plt

        assert self.current is not None
        self.images_dir.mkdir(parents=True, exist_ok=True)
        path = self.images_dir / (
            f"{self.run.name}-cell{self.current.cell.index:02d}-{len(self.run.images) + 1}.png"
        )
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        path.write_bytes(buffer.getvalue())
        self.run.images.append(path)
        self._emit(render.image(buffer.getvalue(), path.name))


class _Printed(io.TextIOBase):
    """``sys.stdout`` during a cell: text goes to the display's buffer, in order with tables."""

    def __init__(self, shown: Display) -> None:
        self.shown = shown

    def write(self, text: str) -> int:
        return self.shown.printed.write(text)


def _sql_statements(source: str) -> list[str]:
    """Statements of a ``%sql`` cell: ``;`` at a line's end separates them."""
    statements, current = [], []
    for line in source.splitlines():
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    statements.append("\n".join(current))
    return [s for s in statements if s.strip()]


def _execute(spark: SparkSession, cell: Cell, namespace: dict[str, Any], shown: Display) -> None:
    if cell.kind == MARKDOWN:
        shown.display_html(render.markdown(cell.source))
    elif cell.kind == SQL:
        result = None
        for statement in _sql_statements(cell.source):
            result = spark.sql(statement)
        if result is not None and result.columns:
            shown.display(result)
    elif cell.kind == PYTHON:
        code = compile(cell.source, f"<{shown.run.name} cell {cell.index}>", "exec")
        try:
            with contextlib.redirect_stdout(_Printed(shown)):
                exec(code, namespace)
        finally:
            shown.flush_printed()


def _section(run: NotebookRun, cell_run: CellRun) -> str:
    cell = cell_run.cell
    label = f"[{cell.index}] %{cell.kind}" + (f": {cell.title}" if cell.title else "")
    source = ""
    if cell.kind != MARKDOWN:
        source = f"<details><summary>source</summary>{render.preformatted(cell.source)}</details>"
    error = render.preformatted(cell_run.error, "traceback") if cell_run.error else ""
    css = "cell error" if cell_run.error else "cell"
    return (
        f"<section class='{css}' id='{run.name}-{cell.index}' data-notebook='{run.name}' "
        f"data-cell='{cell.index}' data-title='{html.escape(cell.title)}'>"
        f"<div class='cell-title'>{html.escape(label)} ({cell_run.seconds:.1f}s)</div>"
        f"{source}{''.join(cell_run.outputs)}{error}</section>"
    )


def run_notebook(
    spark: SparkSession, path: Path, widgets: Mapping[str, str], images_dir: Path
) -> NotebookRun:
    """Runs one notebook's cells in order; stops at the first failing cell."""
    import matplotlib.pyplot as plt

    run = NotebookRun(path.stem)
    dbutils = DbUtils(Widgets(widgets))
    shown = Display(run, images_dir)
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "spark": spark,
        "dbutils": dbutils,
        "display": shown.display,
        "displayHTML": shown.display_html,
    }
    for cell in read(path):
        cell_run = CellRun(cell)
        shown.current = cell_run
        started = time.monotonic()
        try:
            _execute(spark, cell, namespace, shown)
        except Exception:  # noqa: BLE001 - the report shows it; the notebook stops here
            cell_run.error = traceback.format_exc(limit=-8)
        finally:
            plt.close("all")
        cell_run.seconds = time.monotonic() - started
        cell_run.html = _section(run, cell_run)
        run.cells.append(cell_run)
        if cell_run.error:
            break
    run.widgets = dbutils.widgets.getAll()
    return run
