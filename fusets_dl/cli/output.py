"""What the commands print and write: plain-text tables and atomic netCDF files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OutputError, StoreExistsError

__all__ = ["check_output", "funnel_rows", "metrics_table", "table", "write_netcdf"]

#: Funnel-summary keys (from :func:`fusets_dl.alignment.summarise`) and their labels, in print order.
_FUNNEL_LABELS = (
    ("mode", "mode"),
    ("s1_dates", "S1 dates"),
    ("s2_dates", "S2 dates"),
    ("cube_dates", "cube dates"),
    ("pixels", "pixels (S1 grid)"),
    ("grid", "S2 -> S1 grid"),
    ("s2_pixel_dates", "S2 pixel-dates"),
    ("s2_clear_pixel_dates", "  clear (SCL)"),
    ("s2_clear_fraction", "  clear fraction"),
    ("s2_clear_on_s1_grid", "  clear on S1 grid"),
    ("outliers_removed", "  outliers removed"),
    ("s1_valid_pixel_dates", "S1 valid pixel-dates"),
    ("paired_pixel_dates", "cube pixel-dates with NDVI"),
    ("paired_fraction", "  fraction of cube"),
)


def table(rows: Sequence[tuple[str, Any]], title: str) -> str:
    """A two-column text table under an underlined title.

    Parameters
    ----------
    rows : sequence of (str, object)
        Label and value of each line.
    title : str
        The heading.

    Returns
    -------
    str
        The table, labels padded to the longest one.
    """
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * len(title)]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def funnel_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """The lines of an alignment's funnel summary, labelled, in print order.

    Parameters
    ----------
    summary : dict
        The summary of :func:`fusets_dl.alignment.summarise`.

    Returns
    -------
    list of (str, object)
        The keys present in ``summary``, with their labels.
    """
    return [(label, summary[k]) for k, label in _FUNNEL_LABELS if k in summary]


def metrics_table(metrics: dict[str, Any], title: str) -> str:
    """The held-out metrics of a trained model per split, and the test metrics per NDVI range.

    Parameters
    ----------
    metrics : dict
        ``FusionModel.metrics`` (``train``/``val``/``test`` and ``test_by_range``).
    title : str
        The heading.

    Returns
    -------
    str
        The table, ending with a newline.
    """
    lines = [title, "-" * len(title), f"{'split':<7} {'n':>8} {'R2':>7} {'RMSE':>7} {'MAE':>7} {'bias':>8}"]
    for name in ("train", "val", "test"):
        m = metrics.get(name)
        if m:
            lines.append(f"{name:<7} {m['n']:>8d} {m['r2']:>7.3f} {m['rmse']:>7.4f} {m['mae']:>7.4f} {m['bias']:>+8.4f}")
    if metrics.get("test_by_range"):
        lines.append("test RMSE / bias by observed NDVI range (R2 within a range is not a skill measure):")
        for r in metrics["test_by_range"]:
            lo, hi = r["range"]
            lines.append(f"  [{lo:+.1f}, {hi:+.1f}]  n {r['n']:>7d}  RMSE {r['rmse']:.4f}  bias {r['bias']:+.4f}")
    return "\n".join(lines) + "\n"


def check_output(path: Path, *, overwrite: bool) -> None:
    """Refuse an output path that cannot be written as a file, before any work.

    Parameters
    ----------
    path : Path
        The output file.
    overwrite : bool
        Whether an existing file may be replaced.

    Raises
    ------
    ConfigError
        ``path`` is a folder, or its parent is a file.
    StoreExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    if path.is_dir():
        raise ConfigError(f"output {str(path)!r}: expected a file path (e.g. {str(path / 'out.nc')!r}), found a folder")
    parent = next((q for q in path.parents if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"output {str(path)!r}: expected a folder above it, found a file {str(parent)!r}")
    if path.exists() and not overwrite:
        raise StoreExistsError(f"output {str(path)!r} exists: expected a new path, or pass --overwrite")


def write_netcdf(ds: Any, path: Path, *, overwrite: bool) -> None:
    """Write ``ds`` to netCDF atomically (a temporary name, then a rename).

    Parameters
    ----------
    ds : xarray.Dataset
        What to write.
    path : Path
        The output file (its folder is created).
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    StoreExistsError
        ``path`` exists and ``overwrite`` is false.
    ConfigError
        ``path`` is a folder.
    OutputError
        The file system refused the write (read-only, full, permissions):
        the OS error and the path; no temporary file is left and an
        existing file is untouched.
    """
    check_output(path, overwrite=overwrite)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from ..cf import prepare_output

        prepare_output(ds, netcdf=True).to_netcdf(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"output {str(path)!r}: writing failed ({exc}); expected a writable folder with free space") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
