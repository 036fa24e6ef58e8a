"""The notebooks' plots: small pandas aggregates in, matplotlib figures out.

Spark does the aggregation (a row per day, rule or run reaches the driver); these functions only
draw, so they are the same on Databricks (``display(fig)``) and in the local runner (PNG files).
An empty aggregate still gives a figure that says so, never an error in the middle of a report.
The Agg backend is forced: notebooks run headless on clusters and in CI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SEVERITY_COLOURS = {"LOW": "#9ecae1", "MEDIUM": "#fdae6b", "HIGH": "#e6550d", "CRITICAL": "#a50f15"}


def _figure(title: str, size: tuple[float, float] = (8, 3.6)) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=size, dpi=90)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def _empty(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} recorded", ha="center", va="center", transform=ax.transAxes)


def alerts_by_day(df: pd.DataFrame) -> Figure:
    """Stacked bars of alerts per day by effective severity (``alert_date, severity, alerts``)."""
    fig, ax = _figure("Alerts by day and effective severity")
    if df.empty:
        _empty(ax, "alerts")
        return fig
    table = df.pivot_table(
        index="alert_date", columns="severity", values="alerts", aggfunc="sum", fill_value=0
    )
    bottom = None
    for severity in [s for s in SEVERITY_COLOURS if s in table.columns]:
        values = table[severity]
        ax.bar(
            table.index.astype(str), values, bottom=bottom, label=severity,
            color=SEVERITY_COLOURS[severity],
        )  # fmt: skip
        bottom = values if bottom is None else bottom + values
    ax.set_ylabel("alerts")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    fig.tight_layout()
    return fig


def bars(df: pd.DataFrame, x: str, y: str, title: str, horizontal: bool = False) -> Figure:
    """One bar per row of ``df`` (alerts by rule, by severity, recall by typology...)."""
    fig, ax = _figure(title)
    if df.empty:
        _empty(ax, y)
        return fig
    labels, values = df[x].astype(str), df[y].astype(float)
    colours = [SEVERITY_COLOURS.get(label, "#3182bd") for label in labels]
    if horizontal:
        ax.barh(labels, values, color=colours)
        ax.set_xlabel(y)
    else:
        ax.bar(labels, values, color=colours)
        ax.set_ylabel(y)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def volume_and_precision(df: pd.DataFrame) -> Figure:
    """Alerts per rule (bars) with alert precision (points, right axis)."""
    fig, ax = _figure("Alert volume and precision by rule")
    if df.empty:
        _empty(ax, "alerts")
        return fig
    ax.bar(df["rule_id"], df["alerts"], color="#6baed6", label="alerts")
    ax.set_ylabel("alerts")
    right = ax.twinx()
    right.plot(df["rule_id"], df["alert_precision"], "o", color="#a50f15", label="precision")
    right.set_ylim(0, 1.05)
    right.set_ylabel("alert precision")
    fig.tight_layout()
    return fig


def sweep(df: pd.DataFrame, rule_id: str, param: str, current: float | None = None) -> Figure:
    """The what-if curve: alerts against instance recall, one point per threshold."""
    fig, ax = _figure(f"{rule_id}: alerts against instance recall as {param} varies")
    if df.empty:
        _empty(ax, "thresholds")
        return fig
    ax.plot(df["alerts"], df["instance_recall"], "-o", color="#3182bd")
    for row in df.itertuples():
        marker = " (current)" if current is not None and float(row.threshold) == current else ""
        ax.annotate(
            f"{row.threshold:,.0f}{marker}", (row.alerts, row.instance_recall),
            textcoords="offset points", xytext=(4, 4), fontsize=8,
        )  # fmt: skip
    ax.set_xlabel("alerts")
    ax.set_ylabel("instance recall")
    ax.set_ylim(-0.05, 1.05)
    fig.tight_layout()
    return fig


def _threshold_label(low: float, high: float) -> str:
    return f"{low:,.0f}" if low == high else f"{low:,.0f}-{high:,.0f}"


def threshold_curve(
    df: pd.DataFrame, title: str = "Precision against recall by alert threshold"
) -> Figure:
    """A scored pack's precision/recall curve over its alert threshold (the backtest's
    ``threshold_curve``): alert precision against instance recall, one point per threshold,
    labelled with it (consecutive thresholds that raise the same alerts share a point and a
    label, ``88-100``); the current threshold (``is_current``) is marked. Thresholds that
    raise no alert (no precision) are left off."""
    fig, ax = _figure(title, size=(8, 4.2))
    points = df.dropna(subset=["precision", "instance_recall"]) if not df.empty else df
    if points.empty:
        _empty(ax, "thresholds")
        return fig
    points = points.sort_values("threshold")
    recall, precision = points["instance_recall"].astype(float), points["precision"].astype(float)
    ax.plot(recall, precision, "-o", color="#3182bd", markersize=4)
    groups: list[list] = []  # runs of consecutive thresholds on the same point
    for row in points.itertuples():
        xy = (float(row.instance_recall), float(row.precision))
        if groups and groups[-1][0] == xy:
            groups[-1][1].append(row)
        else:
            groups.append([xy, [row]])
    for xy, rows in groups:
        label = _threshold_label(rows[0].threshold, rows[-1].threshold)
        current = next((row.threshold for row in rows if bool(row.is_current)), None)
        ax.annotate(
            label + (" (current)" if current is not None else ""), xy,
            textcoords="offset points", xytext=(4, 4),
            fontsize=9 if current is not None else 7,
            fontweight="bold" if current is not None else "normal",
        )  # fmt: skip
        if current is not None:
            ax.plot(
                *xy, "*", markersize=16, color="#a50f15",
                label=f"current threshold ({current:,.0f})",
            )  # fmt: skip
    ax.set_xlabel("instance recall (own rules)")
    ax.set_ylabel("alert precision")
    ax.set_xlim(-0.05, 1.12)  # room for the labels of points at full recall
    ax.set_ylim(-0.05, 1.1)
    if points["is_current"].astype(bool).any():
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def over_time(
    df: pd.DataFrame, time_col: str, value_col: str, group_col: str, title: str
) -> Figure:
    """Points over time, one series per group (job durations, validation results, progress)."""
    fig, ax = _figure(title)
    if df.empty:
        _empty(ax, value_col.replace("_", " "))
        return fig
    for name, part in df.sort_values(time_col).groupby(group_col):
        ax.plot(part[time_col], part[value_col].astype(float), "-o", markersize=3, label=name)
    ax.set_ylabel(value_col.replace("_", " "))
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
