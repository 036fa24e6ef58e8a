"""Each notebook is a valid Databricks source notebook, and the parser rejects what is not.

Databricks imports a ``.py`` file as a notebook only with its header line; a cell separator or
``# MAGIC`` prefix spelled differently silently turns cells into comments of one big Python cell.
These checks read the raw text line by line, then parse it with the runner's own parser.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from aml.config import Config
from aml.gold import rulepack
from aml.notebooks import report, tuning
from aml.notebooks.source import (
    HEADER,
    MAGIC,
    SEPARATOR,
    NotebookFormatError,
    parse,
    read,
)

NOTEBOOKS = report.discover()
EXPECTED = (
    "01_overview",
    "02_standard_queries",
    "03_alert_triage",
    "04_detection_quality",
    "05_pipeline_health",
)


def test_the_five_numbered_notebooks_are_found_in_order():
    assert tuple(p.stem for p in NOTEBOOKS) == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_header_separators_and_magic_prefixes(path: Path):
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER
    separators = [i for i, line in enumerate(lines) if "COMMAND" in line]
    assert separators, "a notebook has more than one cell"
    for i in separators:
        assert lines[i] == SEPARATOR
        assert lines[i - 1] == "" and lines[i + 1] == "", f"line {i + 1}: blank line around"
    for number, line in enumerate(lines, start=1):
        if "MAGIC" in line:
            assert line == MAGIC or line.startswith(MAGIC + " "), f"line {number}: {line!r}"
        assert line.rstrip() == line, f"line {number}: trailing whitespace"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_parses_into_markdown_sql_and_python_cells(path: Path):
    cells = read(path)
    kinds = {cell.kind for cell in cells}
    assert cells[0].kind == "md" and cells[0].source.startswith("# ")
    assert "python" in kinds
    widgets = "\n".join(c.source for c in cells if c.kind == "python")
    assert 'dbutils.widgets.text("env"' in widgets and 'dbutils.widgets.text("lake"' in widgets
    assert "views.open_lake(spark" in widgets


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_the_package_and_never_shows_encrypted_columns(path: Path):
    text = path.read_text(encoding="utf-8")
    assert "from aml.notebooks import" in text
    assert "_enc" not in text
    python = "\n".join(c.source for c in read(path) if c.kind == "python")
    # thin: no function or class definitions, the logic is in lib/aml/notebooks
    assert not re.search(r"^\s*(def|class) ", python, re.MULTILINE)


def test_notebooks_use_sql_cells_over_the_registered_views():
    sql = [c for p in NOTEBOOKS for c in read(p) if c.kind == "sql"]
    assert len(sql) >= 5
    assert all("FROM" in c.source.upper() for c in sql)


def test_the_decrypt_cell_is_titled_and_only_in_the_triage_notebook():
    titled = {
        (p.stem, c.title) for p in NOTEBOOKS for c in read(p) if "subject_details" in c.source
    }
    assert titled == {("03_alert_triage", "Decrypt the subject's details (investigators only)")}


def widget_defaults(path: Path) -> dict[str, str]:
    """``name -> default`` of every ``dbutils.widgets.text/dropdown`` call of the notebook."""
    defaults = {}
    for cell in read(path):
        if cell.kind != "python":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and ast.unparse(node.func.value) == "dbutils.widgets"
                and node.func.attr in ("text", "dropdown")
            ):
                name, default = (ast.literal_eval(arg) for arg in node.args[:2])
                defaults[name] = default
    return defaults


def test_detection_quality_widgets_default_to_a_sweep_and_a_backtest_of_the_default_pack(
    base_config: Config,
):
    (path,) = [p for p in NOTEBOOKS if p.stem == "04_detection_quality"]
    defaults = widget_defaults(path)
    assert set(defaults) == {"env", "lake", "data", "candidate", "rule_id", "param", "thresholds"}
    assert defaults["data"] == "" and defaults["candidate"] == "v1"
    assert rulepack.load(base_config, defaults["candidate"]).version == "1"
    pack = rulepack.load(base_config)  # the default pack (v2), which the sweep runs on
    assert pack.is_scored
    rule = tuning._sweepable(pack, defaults["rule_id"], defaults["param"])
    values = tuning.parse_values(defaults["thresholds"])
    assert 2 <= len(values) <= 5  # each value is a full evaluation of the pack
    assert rule.param(defaults["param"]) in values  # the current value is one of the points
    cells = {c.title: c.source for c in read(path) if c.title}
    assert "tuning.backtest(spark" in cells["Backtest: overall and recall by typology"]
    assert "plots.threshold_curve(" in cells["Precision and recall over the alert threshold"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("print(1)\n", "first line"),
        (f"{HEADER}\nprint(1)\n\n# COMMAND -----\n\nprint(2)\n", None),
        (f"{HEADER}\n# MAGIC %md\nplain line\n", "mixes"),
        (f"{HEADER}\n# MAGIC %scala\n# MAGIC val x = 1\n", "unknown magic"),
        (f"{HEADER}\nprint(1)\n\n{SEPARATOR}\n\n\n", "empty cell"),
        (f"{HEADER}\ndef broken(:\n", "cell 1"),
        (f"{HEADER}\nx = 1\n# MAGIC %sql\n", "inside a Python cell"),
    ],
)
def test_parser_rejects_malformed_notebooks(text: str, message: str | None):
    if message is None:  # a misspelt separator is a comment: one cell, which Databricks shows
        assert len(parse(text)) == 1
        return
    with pytest.raises(NotebookFormatError, match=message):
        parse(text)


def test_parser_reads_titles_magic_bodies_and_empty_magic_lines():
    text = "\n".join(
        [
            HEADER,
            "# MAGIC %md",
            "# MAGIC # Title",
            MAGIC,
            "# MAGIC text",
            "",
            SEPARATOR,
            "",
            "# DBTITLE 1,Counts",
            "# MAGIC %sql",
            "# MAGIC SELECT 1",
            "",
            SEPARATOR,
            "",
            "x = 1",
        ]
    )
    cells = parse(text)
    assert [(c.kind, c.title) for c in cells] == [("md", ""), ("sql", "Counts"), ("python", "")]
    assert cells[0].source == "# Title\n\ntext"
    assert cells[1].source == "SELECT 1"
