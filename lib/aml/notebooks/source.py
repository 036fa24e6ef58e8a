"""The Databricks notebook source format: a ``.py`` file read as a list of cells.

Databricks exports a notebook as Python with a header line, ``# COMMAND ----------`` between
cells, ``# MAGIC`` before every line of a non-Python cell (``%md``, ``%sql``) and an optional
``# DBTITLE 1,<title>`` first line. Parsing it here (rather than importing the file) is what lets
the local runner execute ``%sql`` and ``%md`` cells, and the format test reject a file Databricks
would import as one big Python cell.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAGIC = "# MAGIC"
TITLE = "# DBTITLE "
PYTHON, MARKDOWN, SQL = "python", "md", "sql"
MAGICS = (MARKDOWN, SQL, PYTHON)


class NotebookFormatError(ValueError):
    """The file is not a Databricks source notebook this project can run."""


@dataclass(frozen=True)
class Cell:
    """One cell: its kind (``python``, ``md``, ``sql``), body without prefixes, and title."""

    index: int
    kind: str
    source: str
    title: str = ""


def _title(line: str, where: str) -> str:
    # "# DBTITLE 1,Decrypt the subject": the 1 says the title is shown
    _, _, rest = line[len(TITLE) :].partition(",")
    if not rest.strip():
        raise NotebookFormatError(f"{where}: DBTITLE without a title")
    return rest.strip()


def _magic_body(lines: list[str], where: str) -> tuple[str, str]:
    body = []
    for line in lines:
        if line == MAGIC:
            body.append("")
        elif line.startswith(MAGIC + " "):
            body.append(line[len(MAGIC) + 1 :])
        else:
            raise NotebookFormatError(f"{where}: a magic cell mixes '# MAGIC' and plain lines")
    first, _, rest = body[0].strip().partition(" ")
    if not first.startswith("%") or first[1:] not in MAGICS:
        raise NotebookFormatError(f"{where}: unknown magic {first!r}; expected %md or %sql")
    text = "\n".join(([rest] if rest else []) + body[1:]).strip("\n")
    return first[1:], text


def parse(text: str, name: str = "notebook") -> list[Cell]:
    """Splits a notebook's text into cells.

    Raises:
        NotebookFormatError: no header, an empty cell, a cell mixing magic and plain lines, an
            unknown magic, or a Python cell that does not compile.
    """
    lines = text.splitlines()
    if not lines or lines[0] != HEADER:
        raise NotebookFormatError(f"{name}: first line must be {HEADER!r}")
    chunks: list[list[str]] = [[]]
    for line in lines[1:]:
        if line.strip() == SEPARATOR.strip():
            if line != SEPARATOR:
                raise NotebookFormatError(f"{name}: malformed separator {line!r}")
            chunks.append([])
        else:
            chunks[-1].append(line)
    cells = []
    for index, chunk in enumerate(chunks):
        where = f"{name} cell {index + 1}"
        while chunk and not chunk[0].strip():
            chunk.pop(0)
        while chunk and not chunk[-1].strip():
            chunk.pop()
        if not chunk:
            raise NotebookFormatError(f"{where}: empty cell")
        title = _title(chunk.pop(0), where) if chunk[0].startswith(TITLE) else ""
        if chunk and chunk[0].startswith(MAGIC):
            kind, source = _magic_body(chunk, where)
        else:
            kind, source = PYTHON, "\n".join(chunk)
            if any(line.startswith(MAGIC) for line in chunk):
                raise NotebookFormatError(f"{where}: '# MAGIC' line inside a Python cell")
        if kind == PYTHON:
            try:
                ast.parse(source, filename=where)
            except SyntaxError as exc:
                raise NotebookFormatError(f"{where}: {exc}") from exc
        cells.append(Cell(index + 1, kind, source, title))
    return cells


def read(path: Path) -> list[Cell]:
    return parse(path.read_text(encoding="utf-8"), path.name)
