"""Figures (matplotlib, no display needed): built on :class:`matplotlib.figure.Figure`, never pyplot."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from .compare import CompareResult

__all__ = ["plot_comparison"]

_COLORS = {
    "fusion": "#1b9e77",
    "fusion_s1_only": "#66c2a5",
    "mogpr": "#d95f02",
    "whittaker": "#7570b3",
    "linear": "#777777",
}


_EXTRA = ("#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#b2df8a")


def _color(method: str) -> str:
    if method in _COLORS:
        return _COLORS[method]
    return _EXTRA[sum(map(ord, method)) % len(_EXTRA)]


def plot_comparison(result: CompareResult) -> Figure:
    """The gap-filling comparison: error bars per method, time per pixel, and example pixels.

    Top row: RMSE and MAE on the hidden observations, and the wall time per
    pixel (log scale). Below: up to three evaluated pixels with the clear
    observations kept (black), the hidden ones (red crosses), the
    simulated cloudy spells (shaded) and every method's reconstruction.
    """
    rows = result.rows
    ex = result.examples
    n_ex = len(ex.get("pixels", []))
    fig = Figure(figsize=(12, 3.2 * (1 + n_ex)), layout="constrained")
    grid = fig.add_gridspec(1 + n_ex, 3)
    names = [r["method"] for r in rows]
    labels = [ex.get("labels", {}).get(m, m) for m in names]
    colors = [_color(m) for m in names]
    ypos = np.arange(len(rows))
    for j, (key, title) in enumerate([("rmse", "RMSE on hidden NDVI"), ("mae", "MAE on hidden NDVI"), ("seconds_per_pixel", "wall time per pixel (s)")]):
        ax = fig.add_subplot(grid[0, j])
        vals = [r[key] for r in rows]
        ax.barh(ypos, vals, color=colors)
        ax.set_yticks(ypos, labels if j == 0 else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_title(title)
        if key == "seconds_per_pixel":
            ax.set_xscale("log")
        for y, v in zip(ypos, vals, strict=True):
            ax.annotate(f"{v:.3g}" if key == "seconds_per_pixel" else f"{v:.3f}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    info = result.info
    fig.suptitle(
        f"Gap filling on held-out blocks: {info['n_gaps']} spells of {info['gap_days']:g} days per pixel, "
        f"{info['n_hidden_scored']} hidden values in {info['n_pixels']} pixels"
    )
    t = ex.get("time")
    for k in range(n_ex):
        ax = fig.add_subplot(grid[1 + k, :])
        obs = ex["observed"][:, k]
        hid = ex["hidden"][:, k]
        for a, b in ex.get("spells", [[]] * n_ex)[k]:
            ax.axvspan(a, b, color="#f4cccc", alpha=0.6, lw=0)
        for m, series in ex["predictions"].items():
            ax.plot(t, series[:, k], color=_color(m), lw=1.3, label=ex["labels"].get(m, m))
        ax.plot(t[~hid & np.isfinite(obs)], obs[~hid & np.isfinite(obs)], "o", color="black", ms=3.5, label="clear NDVI kept")
        ax.plot(t[hid], obs[hid], "x", color="red", ms=6, mew=1.6, label="clear NDVI hidden")
        ax.set_ylabel("NDVI")
        ax.set_ylim(-0.1, 1.0)
        ax.set_title(f"evaluated pixel {ex['pixels'][k]}", fontsize=9, loc="left")
        if k == 0:
            ax.legend(ncol=4, fontsize=8, loc="upper left")
        ax2 = ax.twinx()
        ax2.plot(t, ex["vv"][:, k], color="#bbbbbb", lw=0.6, zorder=0)
        ax2.set_ylabel("VV (dB)", color="#999999")
    return fig
