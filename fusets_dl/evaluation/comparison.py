"""The gap-filling benchmark: deep-learning fusion against MOGPR, Whittaker and interpolation.

Protocol (:func:`compare`)
--------------------------
1. The fusion model is trained with spatial blocks held out (or an existing
   model is used with its own held-out blocks); every score below is on
   pixels of blocks it never saw.
2. In each evaluated pixel (the held-out blocks, at most ``max_pixels`` of
   them, chosen by a seeded hash), ``n_gaps`` simulated cloudy spells of
   ``gap_days`` days are placed at random, one in each of ``n_gaps`` equal
   parts of the series, and every clear NDVI observation inside them is
   hidden. A spell hides S2 views: on a pairing cube a view paired to
   several S1 dates is hidden at each of them, also at those 1-3 days
   outside the spell (its date is ``time + NDVI_offset``).
3. Each method reconstructs the hidden dates from what is left (and, for
   the fusion and MOGPR, the S1 series): the fusion reconstruction
   (observations, S1 predictions, Whittaker), the S1 prediction alone,
   MOGPR (NDVI plus the RVI of each relative orbit as outputs), a Whittaker
   smoother and linear interpolation of the remaining clear NDVI.
   ``fusion_calibrated`` is the same reconstruction with its prediction
   weight, lambda and long-gap guard chosen on held-out spells of the
   validation/training blocks (:mod:`fusets_dl.reconstruction.calibrate`);
   a sequence model has no such setting, and no such row.
4. RMSE, MAE, R2 and bias on the hidden values that every method filled
   (interpolation cannot fill a gap at the start or end of a series), the
   share each method filled, and the wall time per pixel; for the methods
   with an uncertainty (the fusion rows, MOGPR, the sequence model) the
   shares of those values within 1 and 2 of their std (68.3 % and 95.4 % for
   a calibrated Gaussian), the mean std and the Gaussian NLL.

Modes (``CompareConfig.mode``): ``"blocks"`` (the default, above) holds
out space only; ``"season"`` also holds out time: the model is trained on
the dates before ``split_date`` only (its spatial blocks as usual) and the
spells are placed on or after ``split_date``, in the held-out blocks.

The methods are the entries of
:data:`~fusets_dl.evaluation.methods.COMPARISON_METHODS` (label, colour and
the function that fills the gaps); the flow below only runs them.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
import os
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._warn import once_per_call, warn_user
from ..alignment.pairing import UNPAIRED, UNPAIRED_TIME
from ..errors import ConfigError, InsufficientDataError, OutputError
from ..readers.cube import check_cube_values
from ..validate import check_cube, is_finite_positive, is_whole, parse_date
from .gaps import hide_gaps, hide_views, pick_pixels, s2_view_days, spell_starts
from .methods import (
    COMPARISON_METHODS,
    LABELS,
    SEQUENCE_NOT_CALIBRATED,
    Filled,
    GapInputs,
    label_of,
)
from .metrics import coverage_metrics, regression_metrics
from .splits import block_mask, model_blocks, season_split, split_blocks

__all__ = ["METHODS", "CompareConfig", "CompareResult", "compare", "hide_gaps", "spell_starts"]

log = logging.getLogger("fusets_dl")

#: The names of the registered comparison methods (the keys of
#: :data:`~fusets_dl.evaluation.methods.COMPARISON_METHODS` at import time).
METHODS: tuple[str, ...] = tuple(k for k, m in COMPARISON_METHODS.items() if m.default)

@dataclass
class CompareConfig:
    """Settings of the gap-filling comparison.

    Parameters
    ----------
    gap_days : float
        Length of each simulated cloudy spell, days.
    n_gaps : int
        Spells per pixel, one in each of ``n_gaps`` equal parts of the series.
    methods : tuple of str
        Any of the registered methods (:data:`METHODS` and any entry added to
        :data:`~fusets_dl.evaluation.methods.COMPARISON_METHODS`).
    max_pixels : int, optional
        Pixels evaluated (sampled from the held-out blocks); ``None``: all.
    min_clear : int
        Fewest clear observations a pixel must keep outside the spells.
    seed : int
        Seed of the spell positions and of the pixel sample.
    lam : float
        Whittaker parameter (1-day grid) of the fixed-setting fusion row
        (``fusion_fixed``); the ``fusion`` rows are ``reconstruct``'s default
        (the model's own calibration).
    whittaker_lam : float or "auto"
        Whittaker parameter of the Whittaker baseline. "auto" (default):
        chosen from :data:`~fusets_dl.evaluation.methods.WHITTAKER_LAMS` on
        spells hidden again in the views the comparison left visible
        (:func:`~fusets_dl.evaluation.methods.whittaker_lam`; ``lam`` when
        they hide too few values); before 2026-11-28 the baseline used
        ``lam``. ``info["whittaker_lam"]`` records it.
    mogpr : dict
        :class:`~fusets_dl.baselines.GPConfig` fields for MOGPR.
    period : (start, end), optional
        Place the spells within these dates only (for example the period a
        model was not trained on); default: the whole series (``"season"``
        mode: from ``split_date`` to the end).
    mode : {"blocks", "season"}
        ``"blocks"``: spatial blocks held out. ``"season"``: leave-season-out,
        the model trained on dates before ``split_date`` only and the spells
        on or after it (still in the held-out blocks).
    split_date : str, optional
        First held-out date of ``"season"`` mode (e.g. ``"2018-04-01"``).

    Raises
    ------
    ConfigError
        On an unknown method or mode (or ``methods`` given as one string),
        ``gap_days <= 0``, ``n_gaps < 1``, ``max_pixels < 1``, ``min_clear``
        below 0 or ``seed`` not a whole number, ``mogpr`` not a dict,
        ``"season"`` without ``split_date`` (or with a ``period`` starting
        before it), or ``split_date`` in ``"blocks"`` mode.
    """

    gap_days: float = 60.0
    n_gaps: int = 5
    methods: tuple[str, ...] = METHODS
    max_pixels: int | None = 400
    min_clear: int = 4
    seed: int = 0
    lam: float = 1000.0
    whittaker_lam: float | str = "auto"
    mogpr: dict[str, Any] = field(default_factory=dict)
    period: tuple[str, str] | None = None
    mode: str = "blocks"
    split_date: str | None = None

    def __post_init__(self) -> None:
        if self.period is not None:
            if isinstance(self.period, (str, bytes)) or not hasattr(self.period, "__len__") or len(self.period) != 2:
                raise ConfigError(f"CompareConfig.period: expected (start, end) dates such as ('2018-04-01', '2018-11-30'), found {self.period!r}")
            # ISO 8601 text, dates or timestamps (numbers and day/month-ambiguous text refused); zoned ones as naive UTC
            start, end = (parse_date(p, f"CompareConfig.period {k}") for k, p in zip(("start", "end"), self.period, strict=True))
            if not start < end:
                raise ConfigError(f"CompareConfig.period: expected start < end, found {self.period!r}")
            if any(pd.Timestamp(p).tz is not None for p in self.period):
                self.period = (str(start), str(end))  # zoned dates as naive UTC, the cube's convention
        if self.split_date is not None:
            split = parse_date(self.split_date, "CompareConfig.split_date")
            if pd.Timestamp(self.split_date).tz is not None:
                self.split_date = str(split)
        if self.mode not in ("blocks", "season"):
            raise ConfigError(f"CompareConfig.mode: expected 'blocks' or 'season', found {self.mode!r}")
        if (self.mode == "season") != (self.split_date is not None):
            raise ConfigError(
                f"CompareConfig: expected split_date with mode='season' only, found mode={self.mode!r}, split_date={self.split_date!r}"
            )
        if self.mode == "season" and self.period is not None and pd.Timestamp(self.period[0]) < pd.Timestamp(self.split_date):
            raise ConfigError(f"CompareConfig: expected period to start on or after split_date {self.split_date}, found {self.period}")
        if isinstance(self.methods, str):
            raise ConfigError(f"CompareConfig.methods: expected a tuple of method names, found the string {self.methods!r} "
                              f"(write ({self.methods!r},))")
        if not isinstance(self.methods, (list, tuple)) or not all(isinstance(m, str) for m in self.methods):
            raise ConfigError(f"CompareConfig.methods: expected a tuple of method names such as ('fusion', 'linear'), found "
                              f"{type(self.methods).__name__} {self.methods!r}")
        self.methods = tuple(self.methods)
        bad = [m for m in self.methods if m not in COMPARISON_METHODS]
        if bad:
            hints = {m: difflib.get_close_matches(str(m), list(COMPARISON_METHODS), n=1) for m in bad}
            hint = "".join(f"; {m!r}: did you mean {h[0]!r}?" for m, h in hints.items() if h)
            raise ConfigError(f"CompareConfig.methods: expected some of {list(COMPARISON_METHODS)}, found {bad}{hint}")
        if not self.methods:
            raise ConfigError(f"CompareConfig.methods: expected at least one of {list(COMPARISON_METHODS)}, found none")
        if not (is_finite_positive(self.gap_days) and is_whole(self.n_gaps) and self.n_gaps >= 1):
            raise ConfigError(f"CompareConfig: expected gap_days > 0 and a whole n_gaps >= 1, found {self.gap_days!r}, {self.n_gaps!r}")
        self.n_gaps = int(self.n_gaps)
        if self.max_pixels is not None and not (is_whole(self.max_pixels) and self.max_pixels >= 1):
            raise ConfigError(f"CompareConfig.max_pixels: expected a whole number >= 1 or None, found {self.max_pixels!r}")
        self.max_pixels = None if self.max_pixels is None else int(self.max_pixels)
        if not is_finite_positive(self.lam):
            raise ConfigError(f"CompareConfig.lam: expected a finite number > 0, found {self.lam!r}")
        if not (self.whittaker_lam == "auto" if isinstance(self.whittaker_lam, str) else is_finite_positive(self.whittaker_lam)):
            raise ConfigError(f"CompareConfig.whittaker_lam: expected 'auto' or a finite number > 0, found {self.whittaker_lam!r}")
        if not (is_whole(self.min_clear) and self.min_clear >= 0):
            raise ConfigError(f"CompareConfig.min_clear: expected a whole number >= 0, found {self.min_clear!r}")
        if not is_whole(self.seed):
            raise ConfigError(f"CompareConfig.seed: expected a whole number, found {self.seed!r}")
        self.min_clear, self.seed = int(self.min_clear), int(self.seed)
        if not isinstance(self.mogpr, Mapping):
            raise ConfigError(f"CompareConfig.mogpr: expected a dict of GPConfig fields, found {type(self.mogpr).__name__} {self.mogpr!r}")
        if self.mogpr:  # checked now, not after the fusion rows (and a training) have run
            from ..baselines import GPConfig

            try:
                GPConfig(**self.mogpr)
            except TypeError as exc:
                raise ConfigError(f"CompareConfig.mogpr: expected GPConfig fields {sorted(GPConfig.__dataclass_fields__)}, "
                                  f"found {sorted(self.mogpr)} ({exc})") from exc
            except ConfigError as exc:
                raise ConfigError(f"CompareConfig.mogpr: {exc}") from exc


@dataclass
class CompareResult:
    """Scores of every method on the hidden values, with what is needed for the figure.

    Parameters
    ----------
    rows : list of dict
        One per method: ``method``, ``rmse``, ``mae``, ``r2``, ``bias``, ``n``,
        ``filled``, ``n_std`` (the scored values with a finite std >= 0; a std of 0 counts as a miss unless exact),
        ``within_1std``, ``within_2std``, ``mean_std``, ``nll`` (NaN for a
        method without a std), ``seconds``, ``seconds_per_pixel``,
        ``timed_pixels``.
    info : dict
        The protocol's settings and counts (spells, pixels, hidden values,
        held-out blocks, training time, the configuration); ``period`` is the
        cube's first and last date, ``spell_span`` the dates the spells were
        placed within (``CompareConfig.period`` or the season after
        ``split_date``, clipped to the cube).
    examples : dict
        A few evaluated pixels' series, spells and every method's
        reconstruction, with the methods' ``labels``, for the figure.
    """

    rows: list[dict[str, Any]]
    info: dict[str, Any]
    examples: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_markdown(self) -> str:
        """The table as GitHub Markdown.

        Returns
        -------
        str
            One row per method and a footnote with the protocol's counts.
        """
        head = "| method | RMSE | MAE | R2 | bias | filled | within ±1 std | within ±2 std | s / pixel |\n|---|---|---|---|---|---|---|---|---|\n"
        body = "".join(
            f"| {self.examples.get('labels', LABELS).get(r['method'], r['method'])} | {r['rmse']:.4f} | {r['mae']:.4f} | {r['r2']:.3f} | {r['bias']:+.4f} | "
            f"{r['filled']:.1%} | {_share(r.get('within_1std'), r.get('n_std'), r.get('n'))} | {_share(r.get('within_2std'), r.get('n_std'), r.get('n'))} | "
            f"{r['seconds_per_pixel']:.2e} |\n"
            for r in self.rows
        )
        i = self.info
        foot = (
            f"\n{i['n_hidden_scored']} hidden clear observations scored (of {i['n_hidden']}) in {i['n_pixels']} pixels of "
            f"held-out blocks; {i['n_gaps']} spells of {i['gap_days']:g} days per pixel."
            + (f" Whittaker lambda {i['whittaker_lam']:g} ({'given' if i.get('whittaker_lam_choice') == 'given' else 'chosen on other spells of the visible views'})."
               if "whittaker_lam" in i else "") + "\n"
        )
        return head + body + foot

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV (via a temporary file and a rename: never half-written).

        Parameters
        ----------
        path : str or Path
            The file to write.

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        OutputError
            The file could not be written; a file already at ``path`` is left as it was.
        """
        return _write_atomic(Path(path), self._write_csv)

    def to_json(self, path: str | Path) -> Path:
        """Write the rows and the info as strict JSON (a NaN score as null), via a temporary file and a rename.

        Parameters
        ----------
        path : str or Path
            The file to write.

        Returns
        -------
        Path
            ``path``.

        Raises
        ------
        OutputError
            The file could not be written; a file already at ``path`` is left as it was.
        """
        return _write_atomic(Path(path), self._write_json)

    def _write_md(self, path: Path) -> None:
        path.write_text(self.to_markdown(), encoding="utf-8")

    def _write_csv(self, path: Path) -> None:
        keys = list(self.rows[0]) if self.rows else []
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)

    def _write_json(self, path: Path) -> None:
        path.write_text(json.dumps(_json_safe({"rows": self.rows, "info": self.info}), indent=2, default=str, allow_nan=False),
                        encoding="utf-8")

    def _write_png(self, path: Path) -> None:
        from .plots import plot_comparison

        plot_comparison(self).savefig(path, dpi=110, format="png")

    def save(self, folder: str | Path, *, figure: bool = True) -> dict[str, Path]:
        """Write ``compare.md``, ``compare.csv``, ``compare.json`` and ``compare.png`` into ``folder``.

        Every file is first written under a temporary name beside its final
        one; only when all of them are written are they renamed into place.
        A failure part-way (disk full, a figure that cannot be drawn) leaves
        the files of an earlier save as they were and no temporary file
        behind.

        Parameters
        ----------
        folder : str or Path
            Created when missing.
        figure : bool
            Also draw the figure (:func:`~fusets_dl.evaluation.plots.plot_comparison`).

        Returns
        -------
        dict
            ``md``, ``csv``, ``json`` (and ``png``) -> the written paths.

        Raises
        ------
        OutputError
            A file could not be written or renamed (the earlier files are kept).
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"CompareResult.save: expected a writable folder, found {str(folder)!r} ({exc})") from exc
        writers: dict[str, tuple[Path, Callable[[Path], None]]] = {
            "md": (folder / "compare.md", self._write_md),
            "csv": (folder / "compare.csv", self._write_csv),
            "json": (folder / "compare.json", self._write_json),
        }
        if figure:
            writers["png"] = (folder / "compare.png", self._write_png)
        tmps: dict[str, Path] = {}
        try:
            for key, (path, write) in writers.items():
                tmps[key] = _temp_beside(path)
                write(tmps[key])
            for key, (path, _) in writers.items():  # all written: put them in place
                os.replace(tmps[key], path)
        except OSError as exc:
            raise OutputError(f"CompareResult.save: could not write {key} into {str(folder)!r} ({exc}); "
                              "the files of an earlier save were left as they were") from exc
        finally:
            for tmp in tmps.values():
                tmp.unlink(missing_ok=True)
        return {key: path for key, (path, _) in writers.items()}


def _temp_beside(path: Path) -> Path:
    """A unique temporary name ``.<name>.<random>.tmp`` in the folder of ``path`` (the file is created by its writer, with the usual permissions)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def _write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """``write`` into a temporary file beside ``path``, then rename it to ``path``; on failure ``path`` is untouched."""
    tmp: Path | None = None
    try:
        tmp = _temp_beside(path)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"could not write {str(path)!r} ({exc}); a file already there was left as it was") from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def _json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float as None (strict JSON: no bare NaN for a method without a std)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating) and not np.isfinite(obj):
        return None
    return obj


def _share(v: float | None, n_std: int | None = None, n: int | None = None) -> str:
    """A share as a percentage (with its count where the std covers fewer values than the row), or a dash without a std."""
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.1%}" if n_std is None or n is None or n_std == n else f"{v:.1%} (of {n_std})"


@once_per_call
def compare(
    cube: xr.Dataset,
    *,
    config: CompareConfig | None = None,
    model: Any = None,
    features: Any = None,
    train_config: Any = None,
    models: dict[str, Any] | None = None,
) -> CompareResult:
    """Run the gap-filling comparison on a fusion cube (see the module docstring for the protocol).

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the clear ``NDVI`` (loaded into
        memory; the comparison is meant for scenes up to a few hundred
        thousand pixels, MOGPR bounds it).
    config : CompareConfig or dict, optional
        Spell length and count, methods, pixel budget (a dict: the
        :class:`CompareConfig` fields).
    model : FusionModel or SequenceModel, optional
        An already trained model; its held-out test blocks are evaluated
        (``"season"`` mode: every training scene it records, a sequence
        model's training cubes, must end before ``split_date``). Default: a
        model is trained here on the cube (``"season"`` mode: on its dates
        before ``split_date``) with ``features``, ``train_config``, and its
        own held-out blocks. A sequence model has no ``fusion_calibrated``
        row (left out, with a warning).
    features : FeatureSpec, optional
        Features of the model trained here (when ``model`` is not given).
    train_config : TrainConfig or dict, optional
        Settings of the model trained here (when ``model`` is not given),
        and of the ``sequence`` row's own model when the compared model is
        not a sequence model (as ``model="sequence"``, on the compared
        model's blocks and seed, one network).
    models : dict, optional
        More trained models to compare (name -> FusionModel), each
        reconstructing as ``fusion[name]`` rows; they must hold out the same
        test blocks as ``model`` (train them with the same ``seed`` and
        ``block_size``, or an explicit ``split``).

    Returns
    -------
    CompareResult
        ``rows`` (one per method: ``rmse``, ``mae``, ``r2``, ``bias``, ``n``,
        ``filled``, the std's ``within_1std``, ``within_2std``, ``mean_std``
        and ``nll``, ``seconds``, ``seconds_per_pixel``), ``info`` and the
        example series for the figure; ``save(folder)`` writes the tables and
        the figure.

    Raises
    ------
    ConfigError
        When ``period`` misses the cube's dates, the spells do not fit, an
        extra model holds out other blocks, the model has no block split
        (nothing held out to score), ``config`` or ``models`` are of the wrong
        type, or (``"season"`` mode) a given model was trained on dates on or
        after ``split_date`` or records none; ``methods`` holding only
        ``fusion_calibrated`` with a sequence model.
    InsufficientDataError
        When no held-out pixel keeps ``min_clear`` observations, or
        (``"season"`` mode) no date lies on one side of ``split_date``.

    Warns
    -----
    UserWarning
        A sequence model with ``fusion_calibrated`` asked for among the
        methods: the row is left out (a sequence model has no calibrated
        reconstruction; with the default methods a log line says so).
    """
    if isinstance(config, Mapping):
        try:
            config = CompareConfig(**config)
        except TypeError as exc:  # unknown field names (a wrong value type is a ConfigError of CompareConfig itself)
            unknown = sorted(set(config) - set(CompareConfig.__dataclass_fields__))
            raise ConfigError(f"compare: config: expected CompareConfig fields {list(CompareConfig.__dataclass_fields__)}, "
                              f"found {sorted(config)}" + (f" (unknown: {unknown})" if unknown else f" ({exc})")) from exc
    if config is not None and not isinstance(config, CompareConfig):
        raise ConfigError(f"compare: config: expected a CompareConfig (or a dict of its fields), found {type(config).__name__}")
    if models is not None and not isinstance(models, Mapping):
        raise ConfigError(f"compare: models: expected a dict name -> FusionModel, found {type(models).__name__}")
    cfg = config or CompareConfig()
    check_cube(cube, need_target=True)
    cube = check_cube_values(cube, "compare").compute()  # a loaded copy (NDVI that is not NDVI masked); the caller's cube stays lazy
    if cfg.mode == "season":
        cfg = _season_config(cube, cfg, model)
        train_cube = cube.isel(time=season_split(cube["time"].values, cfg.split_date))
    else:
        train_cube = cube
    model, training_seconds = _cmp_model(train_cube, model, features, train_config, cfg.methods, models)
    cfg = _sequence_methods(cfg, model)
    ndvi = cube["NDVI"].transpose("time", "y", "x").values.astype(np.float64)
    t_idx, days, span = _cmp_dates(cube, cfg)
    # a spell hides S2 views: on a pairing cube every S1 date that carries a hidden view (also 1-3 days outside the spell)
    offset = cube["NDVI_offset"].transpose("time", "y", "x").values if "NDVI_offset" in cube.data_vars else None
    iy, ix, hidden = _cmp_pixels(cube, ndvi, days, span, model, cfg, s2_view_days(days, offset))
    inputs = _cmp_inputs(_cmp_hide_views(cube, iy, ix, days, span, cfg), iy, ix, hidden, model, cfg, train_config)
    runs = _cmp_extra_models(inputs, models or {})
    runs.update(_cmp_methods(inputs, cfg.methods))
    truth = ndvi[:, iy, ix]
    rows, scored = _cmp_rows(truth, hidden, runs)
    info = _cmp_info(cube, cfg, model, t_idx, hidden, scored, training_seconds, span)
    info.update(inputs.notes)  # what the methods chose on their own (the Whittaker row's lambda)
    preds = {name: run[0] for name, run in runs.items()}
    examples = _examples(t_idx, truth, hidden, preds, cube.isel(inputs.pixels))
    examples["spells"] = _cmp_spells(t_idx, days, span, iy[examples["pixels"]], ix[examples["pixels"]], cfg)
    return CompareResult(rows=rows, info=info, examples=examples)


def _season_config(cube: xr.Dataset, cfg: CompareConfig, model: Any) -> CompareConfig:
    """Leave-season-out: check a given model's training dates; spells from ``split_date`` on (unless ``period`` says more)."""
    season_split(cube["time"].values, cfg.split_date)  # dates on both sides, or InsufficientDataError
    if model is not None:
        end = _training_period(model)[1]
        if end is None:
            raise ConfigError(
                f"compare: mode='season' expected a model that records its training dates (a per-date model's info 'scene' or "
                f"'sites', a sequence model's info 'cubes') to check that they end before {cfg.split_date}, found none "
                f"(info keys {sorted(map(str, getattr(model, 'info', None) or {}))})")
        last = pd.Timestamp(end)
        if last == last.normalize() and len(str(end).strip()) <= 10:  # a date only (how models record it): its whole day
            last = last + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
        if last >= pd.Timestamp(cfg.split_date):  # a model trained through 2021-06-29 22:10 passed split 2021-06-29T12:00
            raise ConfigError(
                f"compare: mode='season' expected a model trained on dates before {cfg.split_date}, found training dates ending {end}"
            )
    if cfg.period is not None:
        return cfg
    return replace(cfg, period=(str(cfg.split_date), str(pd.Timestamp(cube["time"].values[-1]))))


def _training_period(model: Any) -> list[str | None]:
    """The first and last training date a model records, over all of its training scenes.

    A per-date model records its scene (``info["scene"]``) and, trained on
    several, each site's (``info["sites"]``); a sequence model records each
    training cube (``info["cubes"]``).

    Parameters
    ----------
    model : FusionModel or SequenceModel
        The model (its ``info``).

    Returns
    -------
    list
        ``[first, last]`` as recorded (``YYYY-MM-DD``); None for a bound no
        scene records (a model saved without them, or a split without a model).
    """
    info = getattr(model, "info", None) or {}
    cubes = info.get("cubes") if isinstance(info.get("cubes"), list) else []
    sites = info.get("sites") if isinstance(info.get("sites"), Mapping) else {}
    scenes = [sc for sc in (info.get("scene"), *sites.values(), *cubes) if isinstance(sc, Mapping)]
    starts = [sc["start"] for sc in scenes if sc.get("start")]
    ends = [sc["end"] for sc in scenes if sc.get("end")]
    return [min(starts, key=pd.Timestamp) if starts else None, max(ends, key=pd.Timestamp) if ends else None]


#: Rows that do not apply to a sequence model, and why (left out of its comparison).
_NOT_FOR_SEQUENCE: dict[str, str] = {
    "fusion_calibrated": SEQUENCE_NOT_CALIBRATED,
    "fusion_fixed": ("a sequence model has no fixed setting: it fills the gaps with its own mean and std (observations kept, "
                     "no smoother unless smooth=True), so weights=None and lam change nothing and the row would repeat 'fusion'"),
}


def _sequence_methods(cfg: CompareConfig, model: Any) -> CompareConfig:
    """A sequence model's comparison: the rows of :data:`_NOT_FOR_SEQUENCE` left out, with a warning that says why when they
    were asked for (a log line with the default methods)."""
    if getattr(model, "kind", None) != "sequence":
        return cfg
    dropped = [m for m in cfg.methods if m in _NOT_FOR_SEQUENCE]
    if not dropped:
        return cfg
    rest = tuple(m for m in cfg.methods if m not in _NOT_FOR_SEQUENCE)
    why = "; ".join(f"'{m}': {_NOT_FOR_SEQUENCE[m]}" for m in dropped)
    if not rest:
        raise ConfigError(f"compare: methods: expected a method that scores a sequence model, found only {dropped}: {why}")
    if tuple(cfg.methods) == tuple(METHODS):  # the default list: the rows were not asked for, a log line says why
        log.info("compare: left out for a sequence model: %s", why)
    else:
        warn_user(f"compare: left out for a sequence model: {why}")
    return replace(cfg, methods=rest)


# A method's run: its reconstruction (time, pixel), seconds, the pixels its time covers, and its std (or None).
_Run = tuple[np.ndarray, float, int, np.ndarray | None]


@dataclass(frozen=True)
class _SplitOnly:
    """The block split of a comparison without a fusion model: only baselines (and the sequence model) are scored.

    It stands where the compared model would, with what the protocol reads
    of one: its ``blocks`` (the held-out test blocks the pixels are drawn
    from), ``info["scene"]`` (the scene the split was drawn on) and
    ``config["seed"]``.
    """

    blocks: dict[str, Any]
    info: dict[str, Any]
    config: dict[str, Any]


def _cmp_model(
    cube: xr.Dataset, model: Any, features: Any, train_config: Any, methods: tuple[str, ...], extra: Mapping[str, Any] | None
) -> tuple[Any, float | None]:
    """The model to compare, trained here (and timed) when none is given; only its split when no method uses it."""
    if model is not None:
        return model, None
    from ..training import TrainConfig, train

    tc = TrainConfig.from_dict(dict(train_config)) if isinstance(train_config, Mapping) else train_config or TrainConfig()
    if not extra and tc.model != "sequence" and not any(COMPARISON_METHODS[m].uses_prediction for m in methods):
        # the baselines (and the sequence method, which trains its own model on these blocks) need no fusion model:
        # the same seeded split a model trained here would draw, without the training
        blocks = split_blocks(cube.sizes["y"], cube.sizes["x"], tc)
        scene = {"ny": int(cube.sizes["y"]), "nx": int(cube.sizes["x"])}  # no training period: nothing was trained
        log.info("compare: no method uses the fusion model (%s): the held-out blocks are drawn, no model is trained", list(methods))
        return _SplitOnly(blocks=blocks, info={"scene": scene}, config={"seed": tc.seed}), None
    t0 = time.perf_counter()
    model = train(cube, features, tc)
    return model, time.perf_counter() - t0


def _cmp_dates(cube: xr.Dataset, cfg: CompareConfig) -> tuple[pd.DatetimeIndex, np.ndarray, tuple[float, float] | None]:
    """The cube's dates, the same in days from the first, and the span of ``cfg.period`` in days."""
    t_idx = pd.DatetimeIndex(cube["time"].values)
    days = ((t_idx - t_idx[0]) / pd.Timedelta(days=1)).to_numpy(np.float64)
    if cfg.period is None:
        return t_idx, days, None
    a, b = (pd.Timestamp(v) for v in cfg.period)
    span = (max((a - t_idx[0]) / pd.Timedelta(days=1), 0.0), min((b - t_idx[0]) / pd.Timedelta(days=1), float(days[-1])))
    if span[1] <= span[0]:
        raise ConfigError(f"compare: period {cfg.period} does not overlap the cube's dates {t_idx[0].date()}..{t_idx[-1].date()}")
    return t_idx, days, span


def _cmp_pixels(
    cube: xr.Dataset, ndvi: np.ndarray, days: np.ndarray, span: tuple[float, float] | None, model: Any, cfg: CompareConfig,
    view_days: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The evaluated pixels of the model's held-out blocks and their hidden observations (by S2 view date, when given)."""
    blocks = model_blocks(cube, model)  # a model trained on several sites: this site's own split
    if not blocks:
        blocks = {k: v for k, v in (getattr(model, "blocks", None) or {}).items() if k != "sites"}
        if "block_size" not in blocks or "grid" not in blocks:
            raise ConfigError(
                f"compare: expected a model with a spatial-block split (blocks with 'block_size', 'grid' and 'test') to score "
                f"its held-out pixels, found blocks {sorted(blocks)}; train the model here (model=None), or use "
                "score_sites() for a model trained elsewhere")
        warnings.warn(
            f"compare: the model's block split (grid {blocks.get('grid')} of {blocks.get('block_size')} px) was drawn for another "
            f"cube, not this {ndvi.shape[1]} x {ndvi.shape[2]} one (nor any of its training sites by attrs['site']): its "
            "'held-out' pixels here are an arbitrary subset; score a model trained on this cube, or score_sites() for a model "
            "trained elsewhere", UserWarning, stacklevel=3)
    test = block_mask(ndvi.shape[1], ndvi.shape[2], blocks, "test")
    iy, ix, hidden = pick_pixels(
        test, ndvi, days, gap_days=cfg.gap_days, n_gaps=cfg.n_gaps, seed=cfg.seed, min_clear=cfg.min_clear,
        max_pixels=cfg.max_pixels, span=span, view_days=view_days,
    )
    if iy.size == 0:
        if not test.any():  # the split's test blocks lie outside this cube (a model of a larger cube)
            raise InsufficientDataError(
                f"compare: the model's test blocks (grid {blocks.get('grid')} of {blocks.get('block_size')} px) hold no pixel of "
                f"this {ndvi.shape[1]} x {ndvi.shape[2]} cube: nothing held out to score; train the model here (model=None), "
                "or use score_sites() for a model trained elsewhere")
        clear = np.isfinite(ndvi[:, test]).sum(axis=0)  # clear dates of each held-out pixel
        if clear.size == 0 or int(clear.max()) <= cfg.min_clear:  # no spell setting can leave min_clear views and hide one
            raise InsufficientDataError(
                f"compare: the {int(test.sum())} held-out pixels hold at most {int(clear.max()) if clear.size else 0} clear "
                f"observations each (expected more than min_clear={cfg.min_clear} to hide some and keep {cfg.min_clear}): there is "
                "nothing to score here; a cube with more clear views, other test blocks (another seed), or a lower min_clear")
        raise InsufficientDataError(
            f"compare: no held-out pixel keeps {cfg.min_clear} clear observations with {cfg.n_gaps} spells of "
            f"{cfg.gap_days:g} days hidden ({int(test.sum())} held-out pixels, at most {int(clear.max())} clear observations "
            "each); use shorter or fewer spells"
        )
    return iy, ix, hidden


def _cmp_hide_views(
    cube: xr.Dataset, iy: np.ndarray, ix: np.ndarray, days: np.ndarray, span: tuple[float, float] | None, cfg: CompareConfig,
) -> xr.Dataset:
    """The cube with its unpaired views (``align(unpaired_views=True)``) inside the evaluated pixels' spells set to NaN.

    Otherwise a view a few days from a hidden paired one would stay visible to
    every method that reads them (the reconstruction, linear interpolation,
    the Whittaker smoother, MOGPR). A cube without them is returned as it is.
    """
    if UNPAIRED not in cube.data_vars:
        return cube
    views = cube[UNPAIRED].transpose(UNPAIRED_TIME, "y", "x")
    t0 = pd.Timestamp(cube["time"].values[0])
    view_days = ((pd.DatetimeIndex(views[UNPAIRED_TIME].values) - t0) / pd.Timedelta(days=1)).to_numpy(np.float64)
    vals = np.asarray(views.values)
    hidden = hide_views(vals[:, iy, ix], view_days, days, iy, ix, gap_days=cfg.gap_days, n_gaps=cfg.n_gaps, seed=cfg.seed, span=span)
    full = np.zeros(vals.shape, dtype=bool)
    full[:, iy, ix] = hidden
    log.info("compare: %d unpaired views hidden with the spells", int(hidden.sum()))
    return cube.assign({UNPAIRED: views.where(~xr.DataArray(full, dims=views.dims))})


def _cmp_inputs(
    cube: xr.Dataset, iy: np.ndarray, ix: np.ndarray, hidden: np.ndarray, model: Any, cfg: CompareConfig, train_config: Any = None,
) -> GapInputs:
    """The cube with the hidden values set to NaN, and the indexer of the evaluated pixels (with the caller's training settings)."""
    full_hidden = np.zeros((cube.sizes["time"], cube.sizes["y"], cube.sizes["x"]), dtype=bool)
    full_hidden[:, iy, ix] = hidden
    cube_h = cube.copy()
    cube_h["NDVI"] = cube["NDVI"].where(~xr.DataArray(full_hidden, dims=("time", "y", "x")))
    pix = {"y": xr.DataArray(iy, dims="pixel"), "x": xr.DataArray(ix, dims="pixel")}
    log.info("compare: %d pixels, %d hidden clear observations, methods %s", iy.size, int(hidden.sum()), cfg.methods)
    return GapInputs(cube=cube_h, pixels=pix, model=model, config=cfg, train_config=train_config)


def _cmp_extra_models(inputs: GapInputs, models: dict[str, Any]) -> dict[str, _Run]:
    """The ``fusion[name]`` rows: each extra model's reconstruction (timed over the scene)."""
    from ..reconstruction import reconstruct

    model, cube_h = inputs.model, inputs.cube
    main = model_blocks(cube_h, model) or model.blocks  # this site's split, for models trained on several
    runs: dict[str, _Run] = {}
    for name, extra in models.items():
        own = model_blocks(cube_h, extra) or extra.blocks
        if own.get("test") != main.get("test") or own.get("block_size") != main.get("block_size"):
            raise ConfigError(
                f"compare: model {name!r} holds out blocks {own.get('test')} of size {own.get('block_size')} on this cube, "
                f"expected the same as the main model: {main.get('test')} of size {main.get('block_size')}"
            )
        t0 = time.perf_counter()
        rec = reconstruct(cube_h, extra)[["NDVI", "NDVI_std"]].compute().isel(inputs.pixels)
        pred, std = (rec[v].transpose("time", "pixel").values for v in ("NDVI", "NDVI_std"))
        runs[f"fusion[{name}]"] = (pred, time.perf_counter() - t0, cube_h.sizes["y"] * cube_h.sizes["x"], std)
    return runs


def _cmp_methods(inputs: GapInputs, methods: tuple[str, ...]) -> dict[str, _Run]:
    """Run each registered method; the model's prediction is computed once for those that use it."""
    chosen = {name: COMPARISON_METHODS[name] for name in methods}
    t_pred = 0.0
    if any(m.uses_prediction for m in chosen.values()):
        from ..inference import predict_ndvi

        t0 = time.perf_counter()
        inputs = replace(inputs, prediction=predict_ndvi(inputs.cube, inputs.model).compute())
        t_pred = time.perf_counter() - t0
    n_scene = inputs.cube.sizes["y"] * inputs.cube.sizes["x"]
    n_pixels = int(inputs.pixels["y"].size)
    runs: dict[str, _Run] = {}
    for name, method in chosen.items():
        t0 = time.perf_counter()
        out = method.fill(inputs)
        pred, std = (np.asarray(out.values), np.asarray(out.std)) if isinstance(out, Filled) else (out, None)
        if std is not None and std.shape != pred.shape:
            raise ConfigError(f"compare: method {name!r} returned values of shape {pred.shape} and a std of shape {std.shape}, expected the same")
        secs = time.perf_counter() - t0 + (t_pred if method.uses_prediction else 0.0)  # with the prediction it used
        runs[name] = (pred, secs, n_scene if method.scene_wide else n_pixels, std)
        log.info("compare: %s done in %.1f s", name, secs)
    return runs


def _cmp_rows(truth: np.ndarray, hidden: np.ndarray, runs: dict[str, _Run]) -> tuple[list[dict[str, Any]], np.ndarray]:
    """One row of scores per method on the hidden values every method filled, and that mask."""
    scored = hidden.copy()
    for pred, _secs, _n, _std in runs.values():
        scored &= np.isfinite(pred)
    if hidden.any() and not scored.any():
        empty = [name for name, run in runs.items() if not np.isfinite(run[0][hidden]).any()]
        raise InsufficientDataError(
            f"compare: no hidden value was filled by every method ({int(hidden.sum())} hidden); "
            f"{empty or 'no method'} filled none of them: check its options")
    rows = []
    for method, (pred, secs, timed, std) in runs.items():
        m = regression_metrics(truth[scored], pred[scored])
        cov = coverage_metrics(truth[scored], pred[scored], np.full(pred[scored].shape, np.nan) if std is None else std[scored])
        rows.append(
            {
                "method": method,
                **{k: m[k] for k in ("rmse", "mae", "r2", "bias", "n")},
                "filled": float(np.isfinite(pred[hidden]).mean()),
                **{k: cov[k] for k in ("n_std", "within_1std", "within_2std", "mean_std", "nll")},
                "seconds": secs,
                "seconds_per_pixel": secs / timed,
                "timed_pixels": timed,
            }
        )
    return rows, scored


def _cmp_info(
    cube: xr.Dataset, cfg: CompareConfig, model: Any, t_idx: pd.DatetimeIndex, hidden: np.ndarray, scored: np.ndarray,
    training_seconds: float | None, span: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The protocol's settings and counts, for the result's ``info``."""
    blocks = model_blocks(cube, model) or model.blocks  # the split the pixels were drawn from (a site's own, for several)
    return {
        "gap_days": cfg.gap_days,
        "n_gaps": cfg.n_gaps,
        "n_pixels": int(hidden.shape[1]),
        "n_hidden": int(hidden.sum()),
        "n_hidden_scored": int(scored.sum()),
        "scene": [cube.sizes["y"], cube.sizes["x"], cube.sizes["time"]],
        "period": [str(t_idx[0].date()), str(t_idx[-1].date())],
        # where the spells were placed: cfg.period (or the season after split_date) clipped to the cube, else the cube
        "spell_span": [str(t_idx[0].date()), str(t_idx[-1].date())] if span is None else
                      [str((t_idx[0] + pd.Timedelta(days=d)).round("s").date()) for d in span],
        "test_blocks": blocks.get("test", []),
        "block_size": blocks.get("block_size"),
        "training_seconds": training_seconds,
        "mode": cfg.mode,
        "split_date": cfg.split_date,
        "train_period": _training_period(model),
        "config": asdict(cfg),
    }


def _cmp_spells(
    t_idx: pd.DatetimeIndex, days: np.ndarray, span: tuple[float, float] | None, iy: np.ndarray, ix: np.ndarray, cfg: CompareConfig
) -> list[list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """The spells of the example pixels as (start, end) dates, for the figure."""
    starts = spell_starts(days, iy, ix, gap_days=cfg.gap_days, n_gaps=cfg.n_gaps, seed=cfg.seed, span=span)
    return [
        [(t_idx[0] + pd.Timedelta(days=float(s)), t_idx[0] + pd.Timedelta(days=float(s) + cfg.gap_days)) for s in starts[:, k]]
        for k in range(starts.shape[1])
    ]


def _examples(t_idx: pd.DatetimeIndex, truth: np.ndarray, hidden: np.ndarray, preds: dict[str, np.ndarray], sub: xr.Dataset, n: int = 3) -> dict[str, Any]:
    """A few pixels with the most hidden observations, for the figure."""
    order = np.argsort(-hidden.sum(0), kind="stable")[:n]
    labels = dict(LABELS)
    labels.update({k: label_of(k) for k in preds})
    vv = sub["VV"].transpose("time", "pixel").values
    return {
        "time": t_idx.values,
        "pixels": order.tolist(),
        "observed": truth[:, order],
        "hidden": hidden[:, order],
        "vv": vv[:, order],
        "predictions": {k: v[:, order] for k, v in preds.items()},
        "labels": labels,
    }
