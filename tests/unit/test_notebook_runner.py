"""The local runner's shims, on notebooks that need no Spark: widgets, display, order, errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from aml.notebooks.report import write_report
from aml.notebooks.runner import run_notebook
from aml.notebooks.source import HEADER, SEPARATOR


def notebook(tmp_path: Path, *cells: str) -> Path:
    path = tmp_path / "01_test.py"
    path.write_text(HEADER + "\n" + f"\n\n{SEPARATOR}\n\n".join(cells) + "\n", encoding="utf-8")
    return path


WIDGETS = """dbutils.widgets.text("who", "nobody")
dbutils.widgets.dropdown("colour", "red", ["red", "blue"])"""


def test_widgets_take_given_values_over_defaults_and_output_keeps_its_order(tmp_path):
    path = notebook(
        tmp_path,
        "# MAGIC %md\n# MAGIC # Title\n# MAGIC some **bold** text",
        WIDGETS,
        """import pandas as pd
print("before", dbutils.widgets.get("who"))
display(pd.DataFrame({"colour": [dbutils.widgets.get("colour")]}))
print("after")""",
    )
    run = run_notebook(None, path, {"who": "alice"}, tmp_path / "images")
    assert run.ok and run.widgets == {"who": "alice", "colour": "red"}
    assert "<h1>Title</h1>" in run.cells[0].html and "<strong>bold</strong>" in run.cells[0].html
    outputs = run.cells[2].outputs
    assert "before alice" in outputs[0] and "<td>red</td>" in outputs[1] and "after" in outputs[2]


def test_figures_become_png_files_and_embedded_images(tmp_path):
    path = notebook(
        tmp_path,
        """import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [3, 1, 2])
display(fig)""",
    )
    run = run_notebook(None, path, {}, tmp_path / "images")
    (image,) = run.images
    assert image.read_bytes().startswith(b"\x89PNG")
    assert "data:image/png;base64," in run.cells[0].html
    report = write_report([run], tmp_path, {"user": "test"})
    assert run.cells[0].html in report.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ('import pandas as pd\ndisplay(pd.DataFrame({"name_enc": ["x"]}))', "EncryptedColumn"),
        ('dbutils.widgets.get("undefined")', "not defined"),
        ('dbutils.widgets.dropdown("c", "green", ["red"])', "not one of"),
        ("raise RuntimeError('boom')", "boom"),
    ],
)
def test_a_failing_cell_stops_the_notebook_and_is_reported(tmp_path, code, error):
    path = notebook(tmp_path, code, "print('never')")
    run = run_notebook(None, path, {}, tmp_path / "images")
    assert not run.ok and len(run.cells) == 1
    assert error in run.cells[0].error and "cell error" in run.cells[0].html


def test_cli_parses_notebooks_run_and_cases_set():
    from aml.cli import build_parser
    from aml.notebooks.cli import widget_pair

    args = build_parser().parse_args(
        ["notebooks", "run", "--only", "03", "--widget", "reason=case 42", "--widget", "a="]
    )
    assert args.only == ["03"] and dict(args.widget) == {"reason": "case 42", "a": ""}
    args = build_parser().parse_args(["cases", "set", "abc", "closed", "--reason", "SAR filed"])
    assert (args.alert_id, args.status, args.reason) == ("abc", "CLOSED", "SAR filed")
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=VALUE"):
        widget_pair("reason")
