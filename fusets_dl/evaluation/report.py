"""Run reports people can read: ``report.md`` (figures as files) and a self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

__all__ = ["Report", "report_from_store"]

log = logging.getLogger("fusets_dl")

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #1b9e77; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; } pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
"""


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return "nan"
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, list | tuple | dict):
        return json.dumps(v, default=str)
    return str(v)


class Report:
    """An ordered list of headings, paragraphs, tables and figures, written as Markdown and HTML.

    Examples
    --------
    >>> r = Report("Run")
    >>> r.table("Metrics", [{"split": "test", "r2": 0.9}])
    >>> paths = r.write("outputs/report")  # doctest: +SKIP

    Parameters
    ----------
    title : str
        The report's title (first heading and HTML title).
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.items: list[tuple[str, Any]] = []
        self._names: set[str] = set()

    def heading(self, text: str) -> None:
        """Add a section heading.

        Parameters
        ----------
        text : str
            The heading.
        """
        self.items.append(("h2", text))

    def paragraph(self, text: str) -> None:
        """Add a paragraph of plain text.

        Parameters
        ----------
        text : str
            The paragraph (escaped in HTML).
        """
        self.items.append(("p", text))

    def table(self, title: str, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> None:
        """Add a table from a list of dicts (one row each) or a dict (two columns: key, value).

        Parameters
        ----------
        title : str
            Caption of the table.
        rows : list of dict or dict
            The rows; columns are the union of their keys, in first-seen order.
        """
        if isinstance(rows, Mapping):
            rows = [{"item": k, "value": v} for k, v in rows.items()]
        rows = [dict(r) for r in rows]
        cols: list[str] = []
        for r in rows:
            cols += [c for c in r if c not in cols]
        self.items.append(("table", (title, cols, rows)))

    def figure(self, title: str, fig: Figure, name: str) -> None:
        """Add a figure, rendered to PNG now.

        Parameters
        ----------
        title : str
            Caption of the figure.
        fig : matplotlib.figure.Figure
            The figure.
        name : str
            Its file stem under ``figures/``, unique within the report.

        Raises
        ------
        ValueError
            When ``name`` is already used.
        """
        if name in self._names:
            raise ValueError(f"Report.figure: duplicate figure name {name!r}")
        self._names.add(name)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        self.items.append(("figure", (title, name, buf.getvalue())))

    @property
    def figures(self) -> list[str]:
        """The file stems of the figures, in order."""
        return [it[1][1] for it in self.items if it[0] == "figure"]

    @property
    def tables(self) -> list[str]:
        """The titles of the tables, in order."""
        return [it[1][0] for it in self.items if it[0] == "table"]

    def write(self, folder: str | Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.html`` and ``figures/*.png`` (each via a temporary file and a rename).

        Parameters
        ----------
        folder : str or Path
            Created when missing.

        Returns
        -------
        dict
            ``md`` and ``html`` -> the written paths.
        """
        folder = Path(folder)
        (folder / "figures").mkdir(parents=True, exist_ok=True)
        md = [f"# {self.title}\n"]
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, val in self.items:
            if kind == "figure":
                _write_png(folder, val[1], val[2])
            m, h = _RENDER[kind](val)
            md += m
            body.append(h)
        page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>"
        out = {"md": folder / "report.md", "html": folder / "report.html"}
        for key, text in (("md", "".join(md)), ("html", page)):
            tmp = out[key].with_name(out[key].name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out[key])
        return out


def _write_png(folder: Path, name: str, png: bytes) -> None:
    """``figures/<name>.png`` via a temporary file and a rename."""
    path = folder / "figures" / f"{name}.png"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(png)
    tmp.replace(path)


def _render_heading(val: str) -> tuple[list[str], str]:
    return [f"\n## {val}\n"], f"<h2>{html.escape(val)}</h2>"


def _render_paragraph(val: str) -> tuple[list[str], str]:
    return [f"\n{val}\n"], f"<p>{html.escape(val)}</p>"


def _md_cell(text: str) -> str:
    """A Markdown table cell: ``|`` escaped, line breaks as spaces (a cell never splits a row)."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _render_table(val: tuple[str, list[str], list[dict[str, Any]]]) -> tuple[list[str], str]:
    title, cols, rows = val
    md = [f"\n**{_md_cell(title)}**\n\n| " + " | ".join(_md_cell(c) for c in cols) + " |\n|" + "---|" * len(cols) + "\n"]
    md += ["| " + " | ".join(_md_cell(_fmt(r.get(c, ""))) for c in cols) + " |\n" for r in rows]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows)
    return md, f"<h3>{html.escape(title)}</h3><table><tr>{head}</tr>{trs}</table>"


def _render_figure(val: tuple[str, str, bytes]) -> tuple[list[str], str]:
    title, name, png = val
    b64 = base64.b64encode(png).decode("ascii")
    md = [f"\n![{title}](figures/{name}.png)\n\n*{title}*\n"]
    return md, f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{b64}"><figcaption>{html.escape(title)}</figcaption></figure>'


#: Markdown lines and HTML of each kind of report item.
_RENDER: dict[str, Callable[[Any], tuple[list[str], str]]] = {
    "h2": _render_heading,
    "p": _render_paragraph,
    "table": _render_table,
    "figure": _render_figure,
}


def funnel_rows(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The data funnel (what survived each mask) from a cube's ``fusion_summary``.

    Parameters
    ----------
    summary : mapping
        The ``fusion_summary`` counts.

    Returns
    -------
    dict
        Readable label -> value, for the counts present.
    """
    from ..alignment.summary import CLEAR_MASK_KEY

    mask = summary.get(CLEAR_MASK_KEY)  # recorded by the CLI's align and demo; unknown otherwise
    keys = [
        ("s2_pixel_dates", "S2 pixel-dates"),
        ("s2_clear_pixel_dates", f"clear S2 pixel-dates ({mask})" if mask else "clear S2 pixel-dates"),
        ("s2_clear_on_s1_grid", "clear on the S1 grid"),
        ("s2_clear_after_outlier_filter", "after the outlier filter"),
        ("s1_valid_pixel_dates", "valid S1 pixel-dates"),
        ("paired_pixel_dates", "cube pixel-dates with NDVI"),
        ("s2_clear_fraction", "clear fraction of S2"),
        ("paired_fraction", "paired fraction of S1"),
    ]
    return {label: summary[k] for k, label in keys if k in summary}


def metrics_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Train / validation / test metrics of a model as table rows.

    Parameters
    ----------
    metrics : mapping
        ``train``, ``val``, ``test`` -> regression metrics (``FusionModel.metrics``).

    Returns
    -------
    list of dict
        One row per split present: ``blocks``, ``r2``, ``rmse``, ``mae``,
        ``bias``, ``n``. The training row says that the model saw those
        blocks (its numbers are fit, not skill); validation blocks chose the
        stopping epoch; only the test blocks were never used. A sequence
        model's metrics (``test_gaps``) get one row for its gap filling and
        one for its S1-only mode on the test blocks, each with the share of
        values within 1 and 2 std (``within_1std``, ``within_2std``): its
        ``test`` is the gap filling, not a per-date prediction.
    """
    if "test_gaps" in metrics or "test_s1_only" in metrics:
        return _sequence_rows(metrics)
    labels = {"train": "train (seen in training: fit, not skill)", "val": "validation (chose the stopping epoch)", "test": "test (never used)"}
    rows = []
    for split in ("train", "val", "test"):
        m = metrics.get(split)
        if m:
            rows.append({"blocks": labels[split], **{k: m[k] for k in ("r2", "rmse", "mae", "bias", "n") if k in m}})
    return rows


def _sequence_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A sequence model's test rows: gap filling (spells of clear views hidden) and its S1-only mode, with their coverage."""
    parts = (("test_gaps", "", "test, gap filling (never used): 60-day spells of clear views hidden, filled from S1 and the other views"),
             ("test_s1_only", "test_s1_only_", "test, S1 only (never used): every clear view hidden"))
    rows = []
    for key, prefix, label in parts:
        m = metrics.get(key)
        if not m:
            continue
        # the gap row's coverage is at the top level; the S1-only row's only under its own key (models of 2026-11-26 lack it)
        cov = metrics.get(f"{prefix}coverage", {}) if prefix else metrics
        row = {"blocks": label, **{k: m[k] for k in ("r2", "rmse", "mae", "bias", "n") if k in m}}
        row.update({f"within_{k}std": cov[f"coverage_{k}std"] for k in (1, 2) if f"coverage_{k}std" in cov})
        rows.append(row)
    return rows


def report_from_store(store: str | Path, folder: str | Path | None = None, *, metrics: Mapping[str, Any] | None = None, n_pixels: int = 2) -> dict[str, Path]:
    """Write the report of a Zarr output (reconstruction and phenology) of a run.

    Parameters
    ----------
    store : path
        A store written by ``fusets-dl demo`` or ``fusets-dl run``.
    folder : path, optional
        Where to write (default: ``<store>.report`` beside it).
    metrics : dict, optional
        The region's metrics JSON (funnel, model metrics, timings), when known.
    n_pixels : int
        Example pixels drawn.

    Returns
    -------
    dict
        ``md`` and ``html`` -> the written paths.
    """
    import dask

    from .plots import plot_maps

    store = Path(store)
    ds = xr.open_zarr(store, decode_coords="all")
    folder = Path(folder) if folder is not None else store.with_name(store.name + ".report")
    rep = Report(f"fusets_dl report: {store.name}")
    rep.paragraph(f"Store {store} with variables {', '.join(sorted(map(str, ds.data_vars)))} on "
                  f"{ds.sizes.get('time', 0)} dates x {ds.sizes.get('y', 0)} x {ds.sizes.get('x', 0)} pixels.")
    if metrics:
        _report_metrics(rep, metrics)
    # lazy: the tables, maps and pixels below read the store chunk by chunk (memory does not grow with the scene)
    rec = ds[[v for v in ("NDVI", "NDVI_std", "source") if v in ds]] if "NDVI" in ds else None
    phen_vars = [v for v in ("sos", "pos", "eos", "n_seasons") if v in ds]
    phen = ds[phen_vars] if phen_vars else None
    if rec is not None and "source" in rec:
        rep.heading("Reconstruction")
        flags = (("observed", 0), ("predicted", 1), ("interpolated", 2), ("missing", 3))
        shares = dask.compute(*[(rec["source"] == v).mean() for _, v in flags])
        rep.table("Source of the values", {k: float(share) for (k, _), share in zip(flags, shares, strict=True)})
    rep.heading("Maps")
    rep.figure("Phenology, season count, uncertainty and observed fraction", plot_maps(phen, rec), "maps")
    if rec is not None:
        _report_pixels(rep, rec, phen, n_pixels)
    rep.heading("Provenance")
    rep.table("Store attributes", {k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float) and len(str(v)) < 500})
    out = rep.write(folder)
    log.info("report written to %s", out["html"])
    return out


def _report_metrics(rep: Report, metrics: Mapping[str, Any]) -> None:
    """The funnel, held-out metrics and stage timings of a region's metrics JSON."""
    if metrics.get("funnel"):
        rep.heading("Data funnel")
        rep.table("What survived each mask", funnel_rows(metrics["funnel"]))
    if metrics.get("model_metrics"):
        rep.heading("Model")
        loaded = metrics.get("model_loaded_from")  # a model trained elsewhere: its numbers are of its own training data
        seq = "test_gaps" in metrics["model_metrics"] or "test_s1_only" in metrics["model_metrics"]
        title = (f"The loaded model's held-out metrics on its own training data ({loaded}), not on this region"
                 if loaded else "Held-out metrics of the sequence model (spatial blocks)" if seq
                 else "Held-out metrics (spatial blocks), with the training fit for comparison")
        rep.table(title, metrics_rows(metrics["model_metrics"]))
    if metrics.get("timings_s"):
        rep.table("Stage timings (s)", {k: round(float(v), 2) for k, v in metrics["timings_s"].items()})


def _report_pixels(rep: Report, rec: xr.Dataset, phen: xr.Dataset | None, n_pixels: int) -> None:
    """Figures of a few seasonal pixels: observed values, reconstruction ±1 std, seasons."""
    from .plots import example_pixels, plot_pixel

    rep.heading("Example pixels")
    obs = rec["NDVI"].where(rec["source"] == 0) if "source" in rec else rec["NDVI"]
    pseudo = xr.Dataset({"NDVI": obs})
    for i, (yy, xx) in enumerate(example_pixels(rec, None, n_pixels)):
        rep.figure(f"Pixel y={yy}, x={xx}: observed values (dots), reconstruction ±1 std, seasons",
                   plot_pixel(pseudo, yy, xx, reconstruction=rec, phenology=phen), f"pixel_{i + 1}")
