"""The commands of the stages, one each: align, summary, train, predict, reconstruct, phenology, segment.

Each takes the parsed arguments and returns the exit status; each imports
what it needs when it runs, so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import json
import re
import warnings
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InsufficientDataError, MissingVariableError
from .output import (
    check_model_out,
    check_output,
    funnel_rows,
    metrics_table,
    table,
    write_netcdf,
)

__all__ = [
    "check_args",
    "cmd_align",
    "cmd_phenology",
    "cmd_predict",
    "cmd_reconstruct",
    "cmd_segment",
    "cmd_summary",
    "cmd_train",
    "freq_problem",
    "input_paths",
    "parse_features",
    "season_shares",
    "segment_message",
]

#: The arguments that name input files or stores (an output may be none of them).
_INPUT_ARGS = ("cube", "model", "input", "s1", "s2", "segmenter")

#: Integer options and their least value: checked before any input is opened.
_MIN_INT = {"chunk": 1, "epochs": 1, "block_size": 1, "max_samples": 1, "cv": 0, "n_classes": 2, "max_seasons": 1, "workers": 1,
            "ensemble": 1}
#: The segmentation functions whose names start the messages that ``segment`` rewords (:func:`segment_message`).
_SEGMENT_CALLERS = ("kmeans_segment", "train_segmenter", "segment")
#: Integer options and their largest value (``--n-classes``: ``fusets_dl.segmentation.config.MAX_CLASSES``, a literal
#: here as that package loads torch; a test checks they agree).
_MAX_INT = {"n_classes": 32768}
#: pandas month, quarter and year frequencies (``1M``, ``MS``, ``2QE``, ``Y``, ``A-DEC``): calendar lengths, not days.
_CALENDAR_FREQ = re.compile(r"\d*\s*(?:B?M[ES]?|B?Q[ES]?|B?[YA][ES]?)(?:-[A-Za-z]{3})?")


def parse_features(text: str | None) -> Any:
    """The ``--features`` option: a FeatureSpec from JSON text (None: the default spec).

    Parameters
    ----------
    text : str or None
        A JSON object of FeatureSpec fields, e.g. ``'{"lags": 1, "windows": ["15D", 45]}'``
        (window lengths in days, or durations such as ``"15D"``).

    Returns
    -------
    FeatureSpec
        Validated.

    Raises
    ------
    ConfigError
        Text that is not JSON, JSON that is not an object, or invalid fields.
    """
    from ..features import FeatureSpec

    if text is None:
        return FeatureSpec()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--features: expected a JSON object such as '{{\"lags\": 1}}', found {text!r} (not JSON: {exc.msg} at char {exc.pos})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"--features: expected a JSON object such as '{{\"lags\": 1}}', found {type(raw).__name__} {text!r}")
    try:
        return FeatureSpec.from_dict(raw)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise ConfigError(f"--features: {exc}") from exc
        raise ConfigError(f"--features: invalid FeatureSpec {raw!r}: {exc}") from exc


def input_paths(args: argparse.Namespace) -> list[str]:
    """The input paths a command was given (cube, model, NDVI input, S1/S2 files, segmenter).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments of any command.

    Returns
    -------
    list of str
        Every path named by an input argument, lists flattened.
    """
    out: list[str] = []
    for name in _INPUT_ARGS:
        v = getattr(args, name, None)
        if v is None:
            continue
        out.extend(str(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
    return out


def check_args(args: argparse.Namespace) -> None:
    """Check a command's options before any input is opened or output created; every problem in one error.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments of any stage command.

    Raises
    ------
    ConfigError
        Counts below their least value (``--chunk 0``, ``--epochs 0``), a
        fraction outside [0, 1], a tolerance or frequency that is not a
        duration, a non-positive ``--lam``, an output path that is a folder,
        that is one of the inputs, that exists without ``--overwrite``, or
        that exists and is not a netCDF file written by fusets_dl.
    """
    from ..validate import as_timedelta

    bad = _int_problems(args)
    for name in ("min_clear_fraction", "fraction"):
        v = getattr(args, name, None)
        if v is not None and not 0 <= v <= 1:
            bad.append(f"--{name.replace('_', '-')}: expected a fraction in [0, 1] (0.8, not 80), found {v}")
    lam = getattr(args, "lam", None)
    if lam is not None and not lam > 0:
        bad.append(f"--lam: expected a number > 0, found {lam}")
    if getattr(args, "calibration_from", None) is not None and (lam is not None or getattr(args, "weights", "model") != "model"):
        bad.append("--calibration-from: the calibration sets the weights and lambda itself; expected no --lam and no --weights")
    tol = getattr(args, "tolerance", None)
    if tol is not None:
        try:
            as_timedelta(tol, "--tolerance")
        except ConfigError as exc:
            bad.append(str(exc))
    freq = getattr(args, "freq", None)
    if freq is not None and (problem := freq_problem(freq)):
        bad.append(problem)
    out = getattr(args, "output", None)
    if out is not None:
        try:
            # commands with --overwrite write netCDF (replaced only when ours); train's model checks its own files
            check_output(Path(out), overwrite=getattr(args, "overwrite", True), inputs=input_paths(args), netcdf=hasattr(args, "overwrite"))
        except (ConfigError, FileExistsError) as exc:
            bad.append(str(exc))
    kinds = {"output": ("fusets_dl.FusionModel", "fusets_dl.SequenceModel"), "save_segmenter": ("fusets_dl.Segmenter",)}
    for name, option in (("output", "-o"), ("save_segmenter", "--save-segmenter")):
        given = getattr(args, name, None)
        if given is not None and (name == "save_segmenter" or not hasattr(args, "overwrite")):  # train's model, a segmenter
            try:
                check_model_out(Path(given), option, kinds[name])
            except FileExistsError as exc:
                bad.append(str(exc))
    if bad:
        raise ConfigError("; ".join(bad) if len(bad) == 1 else f"{len(bad)} problems with the options:\n" + "\n".join(f"  - {b}" for b in bad))


def _int_problems(args: argparse.Namespace) -> list[str]:
    """The integer options outside their range (:data:`_MIN_INT`, :data:`_MAX_INT`), as messages naming the flags."""
    bad = []
    for name, least in _MIN_INT.items():
        v = getattr(args, name, None)
        if v is not None and v < least:
            bad.append(f"--{name.replace('_', '-')}: expected an integer >= {least}, found {v}")
    for name, most in _MAX_INT.items():
        v = getattr(args, name, None)
        if v is not None and v > most:
            bad.append(f"--{name.replace('_', '-')}: expected an integer <= {most}, found {v}")
    return bad


def freq_problem(freq: str) -> str | None:
    """What is wrong with a ``--freq`` value, or None: a whole number of days such as ``5D`` is expected.

    Month, quarter and year frequencies (``1M``, ``Q``, ``1YE``) are refused
    by their spelling, before pandas sees them, and pandas's warnings on
    other values are silenced: the user sees only this message.

    Parameters
    ----------
    freq : str
        The value given.

    Returns
    -------
    str or None
        The message naming ``--freq`` and the value found; None when it is
        a whole number of days.
    """
    from ..validate import freq_days

    expected = f"--freq: expected a whole number of days such as '5D' or '12D', found {freq!r}"
    if _CALENDAR_FREQ.fullmatch(freq.strip()):
        return f"{expected} (month, quarter and year frequencies are calendar lengths, not accepted)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a pandas FutureWarning would come before our message
        try:
            days = freq_days(freq, "--freq")
        except ConfigError:
            return f"{expected} (not a fixed-length pandas frequency)"
    if days < 1 or days != int(days):
        return expected
    return None


def cmd_align(args: argparse.Namespace) -> int:
    """``fusets-dl align``: build a fusion cube from S1 and S2 files and print its funnel.

    Parameters
    ----------
    args : argparse.Namespace
        ``s1``, ``s2``, ``output``, ``tolerance``, ``freq``, ``min_clear_fraction``,
        ``outlier_filter``, ``unpaired_views``, ``s1_units``, ``clear_classes``, ``reflectance_scale``,
        ``harmonize``, ``chunk``, ``overwrite``.

    Returns
    -------
    int
        0.
    """
    check_args(args)
    from ..alignment import align, summarise
    from ..readers import open_s1, open_s2

    s1 = open_s1(args.s1 if len(args.s1) > 1 else args.s1[0], chunks={"y": args.chunk, "x": args.chunk}, units=args.s1_units)
    harmonize = {"true": True, "false": False}.get(getattr(args, "harmonize", "auto"), getattr(args, "harmonize", "auto"))
    s2 = open_s2(args.s2 if len(args.s2) > 1 else args.s2[0], chunks={"y": args.chunk * 2, "x": args.chunk * 2}, harmonize=harmonize,
                 clear_classes=tuple(args.clear_classes), reflectance_scale=args.reflectance_scale)
    cube = align(s1, s2, tolerance=args.tolerance, freq=args.freq, outlier_filter=args.outlier_filter,
                 min_clear_fraction=args.min_clear_fraction, unpaired_views=getattr(args, "unpaired_views", False), compute_summary=True)
    out = Path(args.output)
    write_netcdf(cube, out, overwrite=args.overwrite)
    print(table(funnel_rows(summarise(cube)), f"Fusion cube written to {out}"))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """``fusets-dl summary``: print what survived each step of a fusion cube.

    Parameters
    ----------
    args : argparse.Namespace
        ``cube``.

    Returns
    -------
    int
        0.
    """
    check_args(args)
    from ..alignment import summarise
    from ..readers import open_cube

    cube = open_cube(args.cube, chunks={"y": 256, "x": 256})
    print(table(funnel_rows(summarise(cube)), f"Fusion cube {args.cube}"))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``fusets-dl train``: train a fusion model on a cube (optionally cross-validated) and save it.

    Parameters
    ----------
    args : argparse.Namespace
        ``cube``, ``output``, ``features`` (JSON), ``epochs``, ``block_size``,
        ``max_samples``, ``seed``, ``device``, ``cv``.

    Returns
    -------
    int
        0.
    """
    check_args(args)
    from ..readers import open_cube
    from ..training import TrainConfig, cross_validate, train

    spec = parse_features(args.features)  # options first: nothing is opened or trained on a bad one
    cfg = TrainConfig(max_epochs=args.epochs, block_size=args.block_size, max_samples=args.max_samples, seed=args.seed, device=args.device,
                      ensemble=args.ensemble)
    cube = open_cube(args.cube, chunks={"y": 256, "x": 256})
    if args.cv:
        cv = cross_validate(cube, spec, cfg, folds=args.cv)
        p = cv["pooled"]
        print(f"{args.cv}-fold spatial-block cross-validation: pooled R2 {p['r2']:.3f} RMSE {p['rmse']:.4f} MAE {p['mae']:.4f} "
              f"bias {p['bias']:+.4f} (n {p['n']}); fold R2 {cv['mean_r2']:.3f} +- {cv['std_r2']:.3f}")
    model = train(cube, spec, cfg)
    path = model.save(args.output)
    print(metrics_table(model.metrics, f"Held-out metrics (blocks of {args.block_size} x {args.block_size} pixels)"))
    print(f"model written to {path} (sha256 {model.sha256[:16]}...)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``fusets-dl predict``: NDVI predicted from S1 with a trained model.

    Parameters
    ----------
    args : argparse.Namespace
        ``cube``, ``model``, ``output``, ``chunk``, ``device``, ``overwrite``.

    Returns
    -------
    int
        0.
    """
    check_args(args)
    from ..inference import predict_ndvi
    from ..models import load_model
    from ..readers import open_cube

    cube = open_cube(args.cube, chunks={"y": args.chunk, "x": args.chunk})
    model = load_model(args.model)
    pred = predict_ndvi(cube, model, device=args.device)
    out = Path(args.output)
    write_netcdf(pred.to_dataset(), out, overwrite=args.overwrite)
    print(f"NDVI predictions written to {out}")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    """``fusets-dl reconstruct``: gap-filled NDVI with source flags and uncertainty.

    Parameters
    ----------
    args : argparse.Namespace
        ``cube``, ``model``, ``output``, ``freq``, ``no_smooth``, ``lam``, ``weights``,
        ``calibration_from``, ``chunk``, ``device``, ``overwrite``.

    Returns
    -------
    int
        0.
    """
    check_args(args)
    from ..models import load_model
    from ..readers import open_cube
    from ..reconstruction import reconstruct

    cube = open_cube(args.cube, chunks={"y": args.chunk, "x": args.chunk})
    model = load_model(args.model)
    weights: Any = {"model": "model", "auto": "auto", "fixed": None}[getattr(args, "weights", "model")]
    if getattr(args, "calibration_from", None) is not None:
        weights = read_calibration(Path(args.calibration_from))
    rec = reconstruct(cube, model, freq=args.freq, smooth=False if args.no_smooth else None, lam=args.lam, weights=weights,
                      device=args.device)
    write_netcdf(rec, Path(args.output), overwrite=args.overwrite)
    print(f"reconstructed NDVI written to {args.output}")
    return 0


def read_calibration(path: Path) -> Any:
    """The calibration of ``--calibration-from``: a JSON file (``Calibration.to_dict()``) or a calibrated reconstruction.

    A sequence model's reconstruction (attrs with ``model_kind``
    ``"sequence"``) or its decision as JSON gives that model's decision
    instead (its fill and std factor, :mod:`fusets_dl.reconstruction.sequence_decision`).

    Parameters
    ----------
    path : pathlib.Path
        ``.json``, or a netCDF/Zarr reconstruction whose attrs hold the
        ``calibration_*`` keys (a per-date model's) or ``sequence_fill``
        (a sequence model's).

    Returns
    -------
    Calibration or SequenceDecision
        Checked by :meth:`~fusets_dl.reconstruction.Calibration.from_dict`
        or :func:`~fusets_dl.reconstruction.sequence_decision.sequence_decision`.

    Raises
    ------
    ConfigError
        A missing or unreadable file, or one that holds no calibration.
    """
    import xarray as xr

    from ..reconstruction import Calibration
    from ..reconstruction.sequence_decision import is_sequence_decision, sequence_decision

    if not path.exists():
        raise ConfigError(f"--calibration-from: expected a calibration .json or a calibrated reconstruction, found no {path}")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
        else:
            with xr.open_dataset(path, engine="zarr" if path.is_dir() else None) as ds:
                data = dict(ds.attrs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--calibration-from: could not read {path}: {exc}") from exc
    if is_sequence_decision(data):  # a sequence model's reconstruction: its fill and std factor
        return sequence_decision(data, f"--calibration-from {path}")
    try:
        return Calibration.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"--calibration-from {path}: {exc} (a reconstruction made with --weights fixed, or with the "
                          "model's own calibration on a cube too small to calibrate, records none)") from exc


def cmd_phenology(args: argparse.Namespace) -> int:
    """``fusets-dl phenology``: multi-season phenometrics of an NDVI file.

    Parameters
    ----------
    args : argparse.Namespace
        ``input``, ``output``, ``variable``, ``max_seasons``, ``fraction``,
        ``min_amplitude``, ``noise_factor``, ``extrapolate``, ``by_year``,
        ``start``, ``end``, ``chunk``, ``overwrite``. An input with a
        reconstruction's ``source`` flags adds ``observed_fraction`` and
        ``longest_gap`` per season.

    Returns
    -------
    int
        0.

    Raises
    ------
    SourceError
        The input is missing, or is not a netCDF file or a Zarr store.
    MissingVariableError
        The input has no variable ``args.variable``.
    """
    check_args(args)
    from ..phenometrics import phenology
    from ..phenometrics.observed import reconstruction_source
    from ..readers.cube import open_store

    ds = open_store(args.input, chunks={"y": args.chunk, "x": args.chunk}, what="phenology input")
    if args.variable not in ds:
        raise MissingVariableError(f"{args.input}: expected a variable {args.variable!r}, found {sorted(map(str, ds.data_vars))}")
    period = (args.start or "1900-01-01", args.end or "2200-01-01") if args.start or args.end else None
    src = reconstruction_source(ds, ds[args.variable])  # a reconstruction's flags: how much of each season was seen
    observed = src.chunk({"time": -1}) if src is not None else None
    ph = phenology(ds[args.variable].chunk({"time": -1}), max_seasons=args.max_seasons, amplitude_fraction=args.fraction,
                   min_amplitude=args.min_amplitude, period=period, noise_factor=args.noise_factor,
                   extrapolate=args.extrapolate or False, by_year=args.by_year, year_start=getattr(args, "year_start", 1),
                   main_months=tuple(args.main_months) if getattr(args, "main_months", None) else None, observed=observed)
    ph = ph.compute()  # once: the file and the shares below (computing each from the lazy graph ran phenology twice)
    write_netcdf(ph, Path(args.output), overwrite=args.overwrite)
    print(f"phenology written to {args.output}: {season_shares(ph['n_seasons'])}")
    return 0


def season_shares(n_seasons: Any) -> str:
    """The shares of pixels with 0, 1, 2 and 3+ seasons, per year of peak for a ``by_year`` phenology.

    Parameters
    ----------
    n_seasons : xarray.DataArray
        ``n_seasons`` of a phenology: on ``(y, x)``, or ``(year, y, x)`` with ``by_year``.

    Returns
    -------
    str
        ``"pixels with 0/1/2/3+ seasons: a / b / c / d"``; with ``by_year``
        one such line of shares of pixels for each year (each pixel counted
        once a year, never pooled over pixel-years).
    """
    import numpy as np
    import pandas as pd

    def shares(n: np.ndarray) -> str:
        return " / ".join(f"{v:.1%}" for v in ((n == 0).mean(), (n == 1).mean(), (n == 2).mean(), (n >= 3).mean()))

    if "year" not in n_seasons.dims:
        return f"pixels with 0/1/2/3+ seasons: {shares(np.asarray(n_seasons.values))}"
    start = _year_start(n_seasons)
    if start == 1:
        lines = [f"  {int(y)}: {shares(np.asarray(n_seasons.sel(year=y).values))}" for y in n_seasons["year"].values]
        return "pixels with 0/1/2/3+ seasons peaking in each year:\n" + "\n".join(lines)
    month = pd.Timestamp(2001, start, 1).strftime("%b")
    end = pd.Timestamp(2001, start - 1, 1).strftime("%b")
    lines = [f"  {int(y)} ({month} {int(y)} - {end} {int(y) + 1}): {shares(np.asarray(n_seasons.sel(year=y).values))}"
             for y in n_seasons["year"].values]
    return "pixels with 0/1/2/3+ seasons peaking in each season year:\n" + "\n".join(lines)


def _year_start(n_seasons: Any) -> int:
    """The first month of a by-year phenology's season year, from its ``year`` coordinate's description (1 when it says none)."""
    import re

    m = re.search(r"from month (\d+)", str(n_seasons["year"].attrs.get("long_name", "")))
    return int(m.group(1)) if m else 1


def cmd_segment(args: argparse.Namespace) -> int:
    """``fusets-dl segment``: unsupervised land-cover classes (or the k-means baseline) of a cube.

    Parameters
    ----------
    args : argparse.Namespace
        ``cube``, ``output``, ``n_classes``, ``views``, ``epochs``, ``segmenter``,
        ``save_segmenter``, ``kmeans``, ``seed``, ``chunk``, ``device``, ``overwrite``.

    Returns
    -------
    int
        0.

    Raises
    ------
    InsufficientDataError
        Too few pixels for ``--n-classes`` (or no clear NDVI for the S2
        view), worded with the command's flags (:func:`segment_message`).
    """
    check_args(args)
    _check_segment_options(args)
    import numpy as np

    from ..readers import open_cube
    from ..segmentation import SegmentConfig, kmeans_segment, segment
    from ..segmentation.config import VIEWS

    cube = open_cube(args.cube, chunks={"y": args.chunk, "x": args.chunk})
    views = tuple(args.views or VIEWS)
    args.n_classes = SegmentConfig.n_classes if args.n_classes is None else args.n_classes
    args.epochs = SegmentConfig.epochs if args.epochs is None else args.epochs
    try:
        if args.kmeans:
            classes = kmeans_segment(cube, args.n_classes, views=views, seed=args.seed)
        else:
            classes = segment(cube, segmenter=_segmenter(args, cube, views))
    except InsufficientDataError as exc:
        raise InsufficientDataError(segment_message(str(exc), args)) from exc
    write_netcdf(classes.to_dataset(), Path(args.output), overwrite=args.overwrite)
    values = np.asarray(classes.values)
    counts = {int(c): int((values == c).sum()) for c in np.unique(values)}
    print(f"classes written to {args.output}: pixels per class {counts} (-1: too little S1)")
    return 0


def _check_segment_options(args: argparse.Namespace) -> None:
    """Refuse the training options ``segment`` would ignore: all of them with ``--segmenter``, ``--epochs`` with ``--kmeans``."""
    given = [f"--{n.replace('_', '-')}" for n in ("n_classes", "views", "epochs") if getattr(args, n, None) is not None]
    if args.segmenter and given:
        raise ConfigError(f"segment: {', '.join(given)} set how a segmenter is trained, but --segmenter {args.segmenter} is already "
                          "trained (its classes, views and epochs are in its .json): drop them, or train a new one without --segmenter")
    if args.kmeans and args.epochs is not None:
        raise ConfigError("segment: --epochs sets the training of the contrastive segmenter; --kmeans has no epochs: drop one of them")


def segment_message(text: str, args: argparse.Namespace) -> str:
    """A segmentation library message worded with the flags of ``segment``, not the Python options.

    Parameters
    ----------
    text : str
        The message of :func:`~fusets_dl.segmentation.kmeans_segment` or
        :func:`~fusets_dl.segmentation.train_segmenter` (which name
        ``max_pixels`` and ``views=('s1',)``, options the command line does not have).
    args : argparse.Namespace
        The parsed arguments of ``segment``.

    Returns
    -------
    str
        The message naming ``segment`` (``--kmeans``), ``--n-classes`` and ``--views``.
    """
    head, sep, rest = text.partition(": ")
    if head in _SEGMENT_CALLERS and sep:
        text = f"segment{' --kmeans' if args.kmeans else ''}: {rest}"
    text, n = re.subn(r"\s*\(about max_pixels=\d+ pixels; raise it if the cube has more\)", "", text)
    if n:
        text += f"; --n-classes {args.n_classes} needs that many: lower --n-classes or segment a larger cube"
    return text.replace("use views=('s1',)", "use --views s1")


def _segmenter(args: argparse.Namespace, cube: Any, views: tuple[str, ...]) -> Any:
    """The saved segmenter of ``--segmenter``, or one trained on the cube (saved with ``--save-segmenter``)."""
    from ..segmentation import SegmentConfig, load_segmenter, train_segmenter

    if args.segmenter:
        return load_segmenter(args.segmenter)
    seg = train_segmenter(cube, SegmentConfig(n_classes=args.n_classes, views=views, epochs=args.epochs, seed=args.seed, device=args.device))
    if args.save_segmenter:
        print(f"segmenter saved: {seg.save(args.save_segmenter)}")
    return seg
