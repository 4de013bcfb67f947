"""A region's outputs under the output root: their paths, atomic writes, and summaries read back from the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError

__all__ = ["class_summary", "output_path", "region_stats", "write_json_atomic"]


def output_path(root: Path, name: str, suffix: str) -> Path:
    """The output ``<root>/<name><suffix>``, confined to ``root``.

    Parameters
    ----------
    root : Path
        The output root.
    name : str
        The region name.
    suffix : str
        What follows the name (``".zarr"``, ``".metrics.json"``, ...).

    Returns
    -------
    Path
        The resolved path.

    Raises
    ------
    ConfigError
        The path escapes the output root.
    """
    p = (root / f"{name}{suffix}").resolve()
    if root.resolve() not in p.parents:
        raise ConfigError(f"output path {str(p)!r} escapes the output root {str(root)!r}")
    return p


def write_json_atomic(path: Path, value: Any, **dumps_kw: Any) -> None:
    """Write ``value`` as JSON under a temporary name, then rename it to ``path`` (never half-written).

    Parameters
    ----------
    path : Path
        The file to write.
    value : object
        What to serialise.
    **dumps_kw
        Passed to :func:`json.dumps`.
    """
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, **dumps_kw))
    tmp.replace(path)


def region_stats(store: Path, keep: list[int] | None = None) -> dict[str, Any]:
    """Shares of observed, predicted and missing values and the mean number of seasons of a written store.

    Counted chunk by chunk (the store's chunks, a few at a time), so memory
    does not grow with the region: a ten-times-Demak ``source`` array alone
    is some 0.4 GB, and reading it whole used to double that.

    Parameters
    ----------
    store : Path
        A region's Zarr store (with ``source`` and ``n_seasons``).
    keep : list of int, optional
        The classes phenology ran on (``classes.keep``): the mean number of
        seasons is over their pixels only (the others hold no season by
        construction, not because none was found).

    Returns
    -------
    dict
        ``observed``, ``predicted``, ``missing`` (shares of the ``source``
        flags) and ``mean_seasons``, rounded; with ``observed_fraction`` in
        the store, ``unobserved_seasons``: the share of the seasons found
        that hold no observation from SOS to EOS (predicted wholly: water
        never counted clear, or a season under cloud throughout).
    """
    import dask

    with xr.open_zarr(store, decode_coords="all") as ds:
        src = ds["source"].data
        n = ds["n_seasons"].data.astype(np.float64)  # float64: exact for counts; a declared fill value reads as NaN
        if keep and "class" in ds:
            import dask.array as da

            n = da.where(da.isin(ds["class"].data, list(keep)), n, np.nan)
        frac = ds["observed_fraction"].data if "observed_fraction" in ds else None
        blind = () if frac is None else ((frac == 0).sum(), np.isfinite(frac).sum())
        observed, predicted, missing, seasons, counted, *unseen = dask.compute(
            (src == 0).sum(), (src == 1).sum(), (src == 3).sum(), np.nansum(n), np.isfinite(n).sum(), *blind)
    size = max(src.size, 1)
    out = {
        "observed": round(float(observed) / size, 3),
        "predicted": round(float(predicted) / size, 3),
        "missing": round(float(missing) / size, 3),
        "mean_seasons": round(float(seasons) / max(int(counted), 1), 2),
    }
    if unseen:
        out["unobserved_seasons"] = round(float(unseen[0]) / max(int(unseen[1]), 1), 3)
    return out


def class_summary(store: Path, keep: list[int] | None) -> list[dict[str, Any]]:
    """Median SOS/POS/EOS per class and season, read back from the written store.

    Parameters
    ----------
    store : Path
        A region's Zarr store with a ``class`` map and phenology.
    keep : list of int, optional
        The classes phenology was computed on (all when ``None``).

    Returns
    -------
    list of dict
        JSON rows ``class``, ``season`` (with ``by_year``: ``year``, the year of
        peak, between them), ``n_pixels``, ``n_with_season``, ``sos``/``pos``/``eos``
        (dates) and ``los_days``; seasons no pixel has are left out.
    """
    from ..phenometrics import phenology_by_class

    with xr.open_zarr(store) as ds:
        summary = phenology_by_class(ds, ds["class"], keep=keep)
    rows = []
    years = summary["year"].values if "year" in summary.dims else [None]  # a by_year phenology: a row per year of peak too
    for c in summary["class"].values:
        for year in years:
            for s in summary["season"].values:
                at = {"class": c, "season": s} if year is None else {"class": c, "season": s, "year": year}
                v = summary.sel(at)
                if int(v["n_with_season"]) == 0:
                    continue
                rows.append({"class": int(c), **({} if year is None else {"year": int(year)}), "season": int(s),
                             "n_pixels": int(v["n_pixels"]), "n_with_season": int(v["n_with_season"]),
                             **{k: str(v[k].values)[:10] for k in ("sos", "pos", "eos")}, "los_days": round(float(v["los"]), 1)})
    return rows
