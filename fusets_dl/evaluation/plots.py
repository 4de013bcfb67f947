"""Figures (matplotlib, no display needed): built on :class:`matplotlib.figure.Figure`, never pyplot.

- :func:`plot_evaluation`: a trained model on held-out pixel-dates;
- :func:`plot_pixel`: one pixel's time series, observed, reconstructed, baselines, seasons;
- :func:`plot_maps`: phenology, season count, uncertainty and observed fraction maps;
- :func:`plot_comparison`: the gap-filling comparison.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure

from .methods import EXTRA_COLORS, color_of
from .metrics import NDVI_RANGES, metrics_by_range, regression_metrics

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.gridspec import GridSpec

    from .comparison import CompareResult

__all__ = ["plot_comparison", "plot_evaluation", "plot_maps", "plot_pixel"]


def plot_evaluation(observed: np.ndarray, predicted: np.ndarray, history: list[dict[str, float]] | None = None, *, title: str = "") -> Figure:
    """The evaluation figure of a model on held-out pixel-dates.

    Panels: predicted against observed (2-D histogram, log colour, 1:1 line,
    metrics), residual histogram, residuals against observed, R2 by NDVI
    range, the observed and predicted distributions and, when ``history`` is
    given, the training history (loss and validation loss, learning rate,
    seconds per epoch).

    Parameters
    ----------
    observed, predicted : numpy.ndarray
        Matching values (NaN pairs are dropped).
    history : list of dict, optional
        ``FusionModel.history``.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows of three panels.
    """
    o = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    ok = np.isfinite(o) & np.isfinite(p)
    o, p = o[ok], p[ok]
    fig = Figure(figsize=(13, 8), layout="constrained")
    axs = fig.subplots(2, 3)
    _eval_scatter(fig, axs[0, 0], o, p)
    _eval_residual_hist(axs[0, 1], p - o)
    _eval_residuals(fig, axs[0, 2], o, p - o)
    _eval_by_range(axs[1, 0], o, p)
    _eval_distributions(axs[1, 1], o, p)
    _eval_history(axs[1, 2], history)
    if title:
        fig.suptitle(title)
    return fig


_NDVI_EDGES = np.linspace(-0.2, 1.0, 121)


def _eval_scatter(fig: Figure, ax: Axes, o: np.ndarray, p: np.ndarray) -> None:
    """Predicted against observed: 2-D histogram, 1:1 line and the metrics."""
    m = regression_metrics(o, p)
    h = ax.hist2d(o, p, bins=[_NDVI_EDGES, _NDVI_EDGES], cmin=1, norm="log", cmap="viridis")
    fig.colorbar(h[3], ax=ax, label="pixel-dates")
    ax.plot([-0.2, 1], [-0.2, 1], color="red", lw=1, label="1:1")
    ax.set_xlabel("observed NDVI")
    ax.set_ylabel("predicted NDVI")
    ax.set_title("predicted vs observed")
    ax.text(0.02, 0.98, f"R2 {m['r2']:.3f}\nRMSE {m['rmse']:.4f}\nMAE {m['mae']:.4f}\nbias {m['bias']:+.4f}\nn {m['n']}",
            transform=ax.transAxes, va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    ax.legend(loc="lower right", fontsize=8)


def _eval_residual_hist(ax: Axes, res: np.ndarray) -> None:
    ax.hist(res, bins=80, color="#4c72b0")
    ax.axvline(0, color="red", lw=1)
    ax.set_xlabel("residual (predicted - observed)")
    ax.set_ylabel("pixel-dates")
    ax.set_title("residual histogram")


def _eval_residuals(fig: Figure, ax: Axes, o: np.ndarray, res: np.ndarray) -> None:
    hh = ax.hist2d(o, res, bins=[_NDVI_EDGES, np.linspace(-0.6, 0.6, 97)], cmin=1, norm="log", cmap="magma")
    fig.colorbar(hh[3], ax=ax, label="pixel-dates")
    ax.axhline(0, color="cyan", lw=1)
    ax.set_xlabel("observed NDVI")
    ax.set_ylabel("residual")
    ax.set_title("residuals vs observed")


def _eval_by_range(ax: Axes, o: np.ndarray, p: np.ndarray) -> None:
    """RMSE and bias per observed NDVI range, with the count.

    R2 inside a narrow range of the observed values is not a skill measure
    (the variance it divides by is that of the range, not of the data), so
    it is not shown here.
    """
    rows = metrics_by_range(o, p, NDVI_RANGES)
    labels = [f"{r['range'][0]:g} to {r['range'][1]:g}\nn {r['n']}" for r in rows]  # the count under each range
    rmse = np.array([r["rmse"] if r["n"] > 0 else np.nan for r in rows], dtype=float)
    bias = np.array([r["bias"] if r["n"] > 0 else np.nan for r in rows], dtype=float)
    pos = np.arange(len(rows))
    ax.bar(pos - 0.2, rmse, width=0.4, color="#4c72b0", label="RMSE")
    ax.bar(pos + 0.2, bias, width=0.4, color="#dd8452", label="bias (pred - obs)")
    top = float(np.nanmax(np.abs(np.r_[rmse, bias, 0.01])))
    ax.set_ylim(min(0.0, float(np.nanmin(np.r_[bias, 0.0]))) * 1.2, top * 1.3)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(pos, labels, fontsize=7)
    ax.set_xlabel("observed NDVI range")
    ax.set_ylabel("NDVI")
    ax.set_title("RMSE and bias by observed NDVI range")
    ax.legend(fontsize=7, loc="upper right")


def _eval_distributions(ax: Axes, o: np.ndarray, p: np.ndarray) -> None:
    bins = np.linspace(-0.2, 1.0, 61)
    ax.hist(o, bins=bins, histtype="step", lw=1.5, label="observed", color="black")
    ax.hist(p, bins=bins, histtype="step", lw=1.5, label="predicted", color="#dd8452")
    ax.set_xlabel("NDVI")
    ax.set_ylabel("pixel-dates")
    ax.set_title("distributions")
    ax.legend(fontsize=8)


def _eval_history(ax: Axes, history: list[dict[str, float]] | None) -> None:
    """Loss, validation loss and learning rate per epoch; the panel is off without a history."""
    history = [h for h in history or [] if not h.get("member")]  # an ensemble: its first member's
    if not history:
        ax.set_axis_off()
        return
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["loss"] for h in history], label="training loss")
    ax.plot(ep, [h["val_loss"] for h in history], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (Huber, standardised)")
    ax.set_title("training history")
    ax2 = ax.twinx()
    ax2.plot(ep, [h["lr"] for h in history], color="gray", ls="--", label="learning rate")
    ax2.set_yscale("log")
    ax2.set_ylabel("learning rate")
    secs = np.mean([h["seconds"] for h in history])
    ax.legend(loc="upper right", fontsize=8, title=f"{secs:.2f} s / epoch", title_fontsize=8)


def _doy(values: np.ndarray) -> np.ndarray:
    t = pd.DatetimeIndex(np.asarray(values).ravel())
    return np.where(t.isna(), np.nan, t.day_of_year.to_numpy(dtype=np.float64, na_value=np.nan)).reshape(np.shape(values))


def plot_pixel(
    cube: xr.Dataset,
    y: int,
    x: int,
    *,
    reconstruction: xr.Dataset | None = None,
    phenology: xr.Dataset | None = None,
    baselines: dict[str, xr.DataArray] | None = None,
    title: str = "",
) -> Figure:
    """One pixel's time series.

    Clear S2 NDVI (dots) and the cloudy S2 dates (grey ticks at the bottom,
    from ``NDVI_cloudy`` when the cube has it), S1 VV and VH on a second axis,
    the reconstruction with its ±1 std band, any baselines (name -> DataArray
    on ``time, y, x``, e.g. MOGPR), and the seasons (SOS/POS/EOS lines).

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube (``NDVI``, optionally ``NDVI_cloudy``, ``VV``, ``VH``).
    y, x : int
        Integer positions of the pixel.
    reconstruction : xarray.Dataset, optional
        With ``NDVI`` (and ``NDVI_std``) on ``time, y, x``.
    phenology : xarray.Dataset, optional
        With ``sos``, ``pos``, ``eos`` on ``season, y, x``.
    baselines : dict, optional
        Name -> DataArray on ``time, y, x``.
    title : str
        Axes title (default: the pixel's position).

    Returns
    -------
    matplotlib.figure.Figure
        One axes for NDVI and a twin for the backscatter, with a shared legend.
    """
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax = fig.add_subplot()
    t = cube["time"].values
    obs = cube["NDVI"].isel(y=y, x=x).values if "NDVI" in cube else np.full(t.size, np.nan)
    if reconstruction is not None:
        _pixel_reconstruction(ax, reconstruction, y, x)
    for i, (name, da) in enumerate((baselines or {}).items()):
        ax.plot(da["time"].values, da.isel(y=y, x=x).values, lw=1.1, color=EXTRA_COLORS[i % len(EXTRA_COLORS)], label=name)
    ok = np.isfinite(obs)
    ax.plot(t[ok], obs[ok], "o", color="black", ms=4, label="clear S2 NDVI")
    if "NDVI_cloudy" in cube:
        cl = np.isfinite(cube["NDVI_cloudy"].isel(y=y, x=x).values) & ~ok
        ax.plot(t[cl], np.full(cl.sum(), -0.05), "|", color="gray", ms=10, label="cloudy S2 date")
    if phenology is not None:
        _pixel_seasons(ax, phenology, y, x)
    ax.set_ylim(-0.1, 1.0)
    ax.set_ylabel("NDVI")
    ax.set_xlabel("date")
    ax2 = ax.twinx()
    for v, col in (("VV", "#8da0cb"), ("VH", "#e78ac3")):
        if v in cube:
            ax2.plot(t, cube[v].isel(y=y, x=x).values, color=col, lw=0.7, alpha=0.8, label=f"S1 {v}")
    ax2.set_ylabel("backscatter (dB)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, ncol=6, fontsize=8, loc="outside lower center")
    ax.set_title(title or f"pixel y={y}, x={x}")
    return fig


def _pixel_reconstruction(ax: Axes, reconstruction: xr.Dataset, y: int, x: int) -> None:
    """The reconstruction line and its ±1 std band."""
    rt = reconstruction["time"].values
    rv = reconstruction["NDVI"].isel(y=y, x=x).values
    ax.plot(rt, rv, color="#1b9e77", lw=1.6, label="reconstruction")
    if "NDVI_std" in reconstruction:
        sd = reconstruction["NDVI_std"].isel(y=y, x=x).values
        ax.fill_between(rt, rv - sd, rv + sd, color="#1b9e77", alpha=0.2, lw=0, label="reconstruction ±1 std")


def _pixel_seasons(ax: Axes, phenology: xr.Dataset, y: int, x: int) -> None:
    """SOS, POS and EOS of every season as vertical lines, each labelled once."""
    styles = {"sos": ("#2ca02c", "--"), "pos": ("#d62728", ":"), "eos": ("#9467bd", "--")}
    labelled: set[str] = set()
    for s in range(phenology.sizes.get("season", 0)):
        for var, (col, ls) in styles.items():
            # a by_year phenology holds a value per year of peak: every year's seasons on the one time axis
            for v in np.atleast_1d(phenology[var].isel(season=s, y=y, x=x).values):
                if not pd.isna(v):
                    ax.axvline(v, color=col, ls=ls, lw=1, label=None if var in labelled else var.upper())
                    labelled.add(var)


def plot_maps(phenology: xr.Dataset | None = None, reconstruction: xr.Dataset | None = None, cube: xr.Dataset | None = None, *, max_seasons: int = 2) -> Figure:
    """Maps: SOS, POS and EOS day of year per season, number of seasons, mean uncertainty, observed fraction.

    Any of the inputs may be missing; its maps are left out.

    Parameters
    ----------
    phenology : xarray.Dataset, optional
        With ``sos``, ``pos``, ``eos`` (``season, y, x``) and ``n_seasons``;
        a ``by_year`` phenology (``year`` too) is mapped for the year with
        the most seasons found, named in the titles.
    reconstruction : xarray.Dataset, optional
        With ``NDVI_std`` (and ``source``, used when ``cube`` is missing).
    cube : xarray.Dataset, optional
        Fusion cube with the clear ``NDVI``.
    max_seasons : int
        Seasons mapped at most.

    Returns
    -------
    matplotlib.figure.Figure
        Up to three maps per row, each with its colour bar.
    """
    panels: list[tuple[str, xr.DataArray, str, str]] = []
    of_year = ""
    if phenology is not None and "year" in phenology.dims:  # by_year: the year with the most seasons found
        if "n_seasons" in phenology:
            found = np.asarray(phenology["n_seasons"].where(phenology["n_seasons"] > 0).sum([d for d in phenology["n_seasons"].dims if d != "year"]))
            k = int(np.argmax(found)) if found.size else 0
        else:
            k = 0
        of_year = f", {phenology['year'].values[k]}"
        phenology = phenology.isel(year=k)
    if phenology is not None:
        ns = min(int(phenology.sizes.get("season", 0)), max_seasons)
        for s in range(ns):
            for var in ("sos", "pos", "eos"):
                da = phenology[var].isel(season=s).transpose("y", "x")
                panels.append((f"{var.upper()} day of year, season {s + 1}{of_year}", da.copy(data=_doy(da.values)), "twilight", "day of year"))
        if "n_seasons" in phenology:
            panels.append((f"number of seasons{of_year}", phenology["n_seasons"].transpose("y", "x"), "count", "seasons"))
    if reconstruction is not None and "NDVI_std" in reconstruction:
        panels.append(("mean reconstruction std", reconstruction["NDVI_std"].mean("time").transpose("y", "x"), "magma", "NDVI"))
    if cube is not None and "NDVI" in cube:
        panels.append(("fraction of dates observed (clear S2)", cube["NDVI"].notnull().mean("time").transpose("y", "x"), "cividis", "fraction"))
    elif reconstruction is not None and "source" in reconstruction:
        panels.append(("fraction of dates observed (clear S2)", (reconstruction["source"] == 0).mean("time").transpose("y", "x"), "cividis", "fraction"))
    n = max(len(panels), 1)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.6 * cols, 4.0 * rows), layout="constrained")
    for i, (title, da, cmap, unit) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        _map_panel(fig, ax, da, cmap, unit)
        ax.set_title(title, fontsize=9)
    return fig


def _map_axes(da: xr.DataArray) -> tuple[list[float] | None, str, str]:
    """``imshow`` extent from the ``x``/``y`` coordinates, and the axis labels (km for metres, else the coordinates' units)."""
    if "x" not in da.coords or "y" not in da.coords or da.sizes.get("x", 0) < 2 or da.sizes.get("y", 0) < 2:
        return None, "pixel", "pixel"
    x = np.asarray(da["x"].values, dtype=np.float64)
    y = np.asarray(da["y"].values, dtype=np.float64)
    dx, dy = x[1] - x[0], y[1] - y[0]
    units = str(da["x"].attrs.get("units", ""))
    geographic = units.startswith("degree") or da["x"].attrs.get("standard_name") == "longitude"
    scale, unit = (1.0, "degrees") if geographic else (1e-3, "km")
    extent = [(x[0] - dx / 2) * scale, (x[-1] + dx / 2) * scale, (y[-1] + dy / 2) * scale, (y[0] - dy / 2) * scale]
    crs = ""
    try:
        epsg = da.rio.crs.to_epsg() if da.rio.crs is not None else None
        crs = f", EPSG:{epsg}" if epsg else ""
    except Exception:  # no CRS readable: label without it
        crs = ""
    names = ("longitude", "latitude") if geographic else ("x", "y")
    return extent, f"{names[0]} ({unit}{crs})", f"{names[1]} ({unit})"


def _map_panel(fig: Figure, ax: Axes, da: xr.DataArray, cmap: str, unit: str) -> None:
    """One map with map coordinates on the axes; counts get a discrete colour bar with integer ticks."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    arr = np.asarray(da.values, dtype=np.float64)
    extent, xlabel, ylabel = _map_axes(da)
    kw: dict[str, Any] = {"interpolation": "nearest", "extent": extent, "origin": "upper"}
    if cmap == "count":
        top = int(np.nanmax(arr)) if np.isfinite(arr).any() else 0
        levels = np.arange(-0.5, max(top, 1) + 1.0)
        base = _colormap_colors("viridis", len(levels) - 1)
        im = ax.imshow(arr, cmap=ListedColormap(base), norm=BoundaryNorm(levels, len(levels) - 1), **kw)
        fig.colorbar(im, ax=ax, label=unit, shrink=0.85, ticks=np.arange(0, max(top, 1) + 1))
    else:
        im = ax.imshow(arr, cmap=cmap, **kw)
        fig.colorbar(im, ax=ax, label=unit, shrink=0.85)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def _colormap_colors(name: str, n: int) -> np.ndarray:
    """``(n, 4)`` RGBA: ``n`` evenly spaced colours of the Matplotlib colormap ``name``."""
    from matplotlib import colormaps

    return colormaps[name](np.linspace(0.0, 1.0, max(n, 1)))


def example_pixels(reconstruction: xr.Dataset | None, cube: xr.Dataset | None, n: int = 2) -> list[tuple[int, int]]:
    """Pixels worth showing: the ones with the largest NDVI range (seasonal crops), spread over the scene.

    Parameters
    ----------
    reconstruction : xarray.Dataset, optional
        Its ``NDVI`` is used when given.
    cube : xarray.Dataset, optional
        Its ``NDVI`` is used otherwise.
    n : int
        Pixels returned at most.

    Returns
    -------
    list of (int, int)
        ``(y, x)`` positions, largest range first, each more than a quarter of
        the scene (Manhattan distance) from the others.
    """
    src = reconstruction["NDVI"] if reconstruction is not None else cube["NDVI"]  # type: ignore[index]
    rng = (src.max("time") - src.min("time")).transpose("y", "x").values
    rng = np.where(np.isfinite(rng), rng, -np.inf)
    order = np.argsort(-rng, axis=None)
    picks: list[tuple[int, int]] = []
    ny, nx = rng.shape
    for flat in order:
        yy, xx = divmod(int(flat), nx)
        if all(abs(yy - a) + abs(xx - b) > max(ny, nx) // 4 for a, b in picks):
            picks.append((yy, xx))
        if len(picks) == n:
            break
    return picks

def plot_comparison(result: CompareResult) -> Figure:
    """The gap-filling comparison: error bars per method, time per pixel, and example pixels.

    Top row: RMSE and MAE on the hidden observations, and the wall time per
    pixel (log scale). Below: up to three evaluated pixels with the clear
    observations kept (black), the hidden ones (red crosses), the
    simulated cloudy spells (shaded) and every method's reconstruction.
    Colours come from the method registry
    (:func:`~fusets_dl.evaluation.methods.color_of`).

    Parameters
    ----------
    result : CompareResult
        Output of :func:`~fusets_dl.evaluation.comparison.compare`.

    Returns
    -------
    matplotlib.figure.Figure
        One row of bar charts and one row per example pixel.
    """
    ex = result.examples
    n_ex = len(ex.get("pixels", []))
    fig = Figure(figsize=(12, 3.2 * (1 + n_ex)), layout="constrained")
    grid = fig.add_gridspec(1 + n_ex, 3)
    _comparison_bars(fig, grid, result.rows, ex.get("labels", {}))
    info = result.info
    fig.suptitle(
        f"Gap filling on held-out blocks: {info['n_gaps']} spells of {info['gap_days']:g} days per pixel, "
        f"{info['n_hidden_scored']} hidden values in {info['n_pixels']} pixels"
    )
    for k in range(n_ex):
        _comparison_pixel(fig.add_subplot(grid[1 + k, :]), ex, k)
    return fig


def _comparison_bars(fig: Figure, grid: GridSpec, rows: list[dict[str, Any]], labels: dict[str, str]) -> None:
    """RMSE, MAE and time per pixel of each method, as horizontal bars."""
    names = [r["method"] for r in rows]
    colors = [color_of(m) for m in names]
    ypos = np.arange(len(rows))
    for j, (key, title) in enumerate([("rmse", "RMSE on hidden NDVI"), ("mae", "MAE on hidden NDVI"), ("seconds_per_pixel", "wall time per pixel (s)")]):
        ax = fig.add_subplot(grid[0, j])
        vals = [r[key] for r in rows]
        ax.barh(ypos, vals, color=colors)
        ax.set_yticks(ypos, [labels.get(m, m) for m in names] if j == 0 else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_title(title)
        if key == "seconds_per_pixel":
            ax.set_xscale("log")
        for y, v in zip(ypos, vals, strict=True):
            ax.annotate(f"{v:.3g}" if key == "seconds_per_pixel" else f"{v:.3f}", (v, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)


def _comparison_pixel(ax: Axes, ex: dict[str, Any], k: int) -> None:
    """Example pixel ``k``: spells, every method's series, kept and hidden observations, VV."""
    t = ex.get("time")
    obs = ex["observed"][:, k]
    hid = ex["hidden"][:, k]
    for a, b in ex.get("spells", [[]] * len(ex["pixels"]))[k]:
        ax.axvspan(a, b, color="#f4cccc", alpha=0.6, lw=0)
    for m, series in ex["predictions"].items():
        ax.plot(t, series[:, k], color=color_of(m), lw=1.3, label=ex["labels"].get(m, m))
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
