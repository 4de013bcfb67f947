"""The argument parser of ``fusets-dl``: one small ``_add_<command>`` function per subcommand.

Building the parser imports nothing heavy (no torch, Dask array, matplotlib
or rioxarray), so that ``fusets-dl --help`` and ``fusets-dl <command> --help``
answer at once; the choices that live in heavy modules are spelled out here
and checked against the real ones by the tests.
"""

from __future__ import annotations

import argparse

from ..evaluation.methods import COMPARISON_METHODS
from ..models.registry import NETWORKS
from .demo import DEMO_EPOCHS, DEMO_MAX_SAMPLES, DEMO_OUT, cmd_demo
from .stages import (
    cmd_align,
    cmd_phenology,
    cmd_predict,
    cmd_reconstruct,
    cmd_segment,
    cmd_summary,
    cmd_train,
)
from .tools import cmd_compare, cmd_report, cmd_run, cmd_synth

__all__ = ["COMMANDS", "COMPARE_METHODS", "FUSION_STRATEGIES", "S1_UNITS", "S2_CLEAR_CLASSES", "SEGMENT_DEFAULTS", "SEGMENT_VIEWS", "build_parser"]

#: The methods of ``compare --methods``: the comparison-method registry (torch-free module).
COMPARE_METHODS: tuple[str, ...] = tuple(k for k, m in COMPARISON_METHODS.items() if m.default)
#: The choices of ``compare --fusion``: the network registry (torch-free module).
FUSION_STRATEGIES: tuple[str, ...] = tuple(NETWORKS)
#: The choices of ``segment --views`` (``fusets_dl.segmentation.config.VIEWS``; a literal, as importing the
#: segmentation package loads torch; a test checks they agree).
SEGMENT_VIEWS = ("s1", "s2")
#: The defaults of ``segment --n-classes`` and ``--epochs`` (``SegmentConfig``'s; a test checks they agree).
SEGMENT_DEFAULTS = {"n_classes": 8, "epochs": 60}
#: The choices of ``align --s1-units`` (``fusets_dl.readers.radar.Units``; a literal, as the readers
#: load rioxarray; a test checks they agree).
S1_UNITS = ("auto", "dB", "linear", "compressed", "amplitude")
#: The default of ``align --clear-classes`` (``fusets_dl.readers.encoding.DEFAULT_CLEAR_CLASSES``).
S2_CLEAR_CLASSES = (4, 5)
#: The subcommands in the order ``--help`` lists them: the demo, then the workflow
#: (inputs, cube, model, outputs), then the batch run, its report and the benchmark.
COMMANDS = ("demo", "synth", "align", "summary", "train", "predict", "reconstruct", "phenology", "segment",
            "run", "report", "compare")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it says nothing (a flag's False, None)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or isinstance(action.default, bool) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _global_flags(p: argparse.ArgumentParser, *, sub: bool) -> None:
    """-v / -q / --no-progress, on the main parser and (again) after each subcommand.

    On a subcommand their default is SUPPRESS, so a flag given before the
    subcommand is not reset by the subcommand's parser.
    """
    d: dict[str, object] = {"default": argparse.SUPPRESS} if sub else {}
    g = p.add_argument_group("global options")
    g.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level (and show tracebacks)", **d)
    g.add_argument("-q", "--quiet", action="store_true", help="log warnings only; no progress bars", **d)
    g.add_argument("--no-progress", action="store_true", help="no progress bars (they are drawn only on a terminal anyway)", **d)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fusets-dl``.

    Returns
    -------
    argparse.ArgumentParser
        With one subcommand per stage and tool, listed in :data:`COMMANDS`
        order; each sets ``func``, the command to call with the parsed
        arguments. ``-v``, ``-q`` and ``--no-progress`` are accepted before
        or after the subcommand.
    """
    from .._version import __version__

    p = argparse.ArgumentParser(prog="fusets-dl", formatter_class=_Formatter,
                                description="Sentinel-1/2 fusion for gap-free NDVI and phenology. "
                                            "Start with `fusets-dl demo`; `fusets-dl <command> --help` for each command.")
    p.add_argument("--version", action="version", version=f"fusets_dl {__version__}")
    _global_flags(p, sub=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="<command>", title="commands")
    adders = {"demo": _add_demo, "synth": _add_synth, "align": _add_align, "summary": _add_summary, "train": _add_train,
              "predict": _add_predict, "reconstruct": _add_reconstruct, "phenology": _add_phenology,
              "segment": _add_segment, "run": _add_run, "report": _add_report, "compare": _add_compare}
    for name in COMMANDS:
        sp = adders[name](sub)
        _global_flags(sp, sub=True)
    return p


_Sub = argparse._SubParsersAction  # the type of ``add_subparsers()``


def _parser(sub: _Sub, name: str, text: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".", formatter_class=_Formatter)


def _scale(text: str) -> str | float:
    """``--reflectance-scale``: "auto" or a positive number."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive number, found {text!r}")
    return value


def _positive_int(text: str) -> int:
    """An integer >= 1 (``compare --synthetic``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, found {text!r}")
    return value


def _add_demo(sub: _Sub) -> argparse.ArgumentParser:
    d = _parser(sub, "demo", "run the whole flow on the bundled sample scene and write a report (under a minute on 2 cores)")
    d.add_argument("--data", default=None, help="folder with s1.nc, s2.nc, truth.nc (default: data/sample)")
    d.add_argument("--out", default=None,
                   help=f"output folder (default: {DEMO_OUT}); a rerun there replaces the demo's own earlier outputs, "
                        "in another folder only with --overwrite")
    d.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier demo in --out")
    d.add_argument("--tolerance", default="3D", help="S1/S2 pairing tolerance (a bare number is days)")
    d.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help="maximum training epochs (early stopping may end sooner)")
    d.add_argument("--max-samples", type=int, default=DEMO_MAX_SAMPLES,
                   help="pixel-dates sampled for training, validation and test (0: all)")
    d.add_argument("--no-train", action="store_true", help="stop after alignment")
    d.set_defaults(func=cmd_demo)
    return d


def _add_synth(sub: _Sub) -> argparse.ArgumentParser:
    g = _parser(sub, "synth", "write a synthetic scene (s1.nc, s2.nc, truth.nc) to try the other commands on")
    g.add_argument("-o", "--output", required=True, help="output folder")
    g.add_argument("--ny", type=int, default=64, help="rows")
    g.add_argument("--nx", type=int, default=64, help="columns")
    g.add_argument("--start", default="2021-01-01", help="first date")
    g.add_argument("--end", default="2022-12-31", help="last date")
    g.add_argument("--seed", type=int, default=0, help="random seed")
    g.add_argument("--cloud-cover", type=float, default=0.5, help="mean cloudy fraction of the S2 dates (0-1)")
    g.add_argument("--s1-revisit-days", type=_positive_int, default=6,
                   help="days between S1 acquisitions (12: one satellite, 2022 on; default 6)")
    g.add_argument("--rainy-months", type=_positive_int, nargs="+", default=None, metavar="MONTH",
                   help="months (1-12) with more clouds (default 11 12 1 2 3 4: a tropical wet season)")
    g.add_argument("--rice-third-season", type=float, default=None,
                   help="share of rice fields with a third crop a year (0-1, default 0.4)")
    g.add_argument("--overwrite", action="store_true", help="replace the s1.nc, s2.nc, truth.nc of an earlier synth in the folder")
    g.set_defaults(func=cmd_synth)
    return g


def _add_align(sub: _Sub) -> argparse.ArgumentParser:
    a = _parser(sub, "align", "build a fusion cube from S1 and S2 files")
    a.add_argument("--s1", nargs="+", required=True, help="S1 file(s), folder or Zarr store")
    a.add_argument("--s2", nargs="+", required=True, help="S2 file(s) (several resolutions are merged)")
    a.add_argument("-o", "--output", required=True, help="output netCDF path")
    a.add_argument("--tolerance", default="3D", help="S1/S2 pairing tolerance (a bare number is days)")
    a.add_argument("--freq", default=None, help="composite onto regular periods, e.g. 12D (default: pair dates)")
    a.add_argument("--min-clear-fraction", type=float, default=1.0,
                   help="an S1 pixel's NDVI needs at least this clear fraction of the S2 pixels under it")
    a.add_argument("--outlier-filter", action="store_true", help="drop clear NDVI dips (undetected clouds, shadows)")
    a.add_argument("--unpaired-views", action="store_true",
                   help="also keep the clear S2 views no S1 date took (NDVI_unpaired, at their own dates) for the reconstruction: "
                        "with one Sentinel-1 satellite (12 days, 2022 on) about half of a 5-day S2 series")
    r = a.add_argument_group("reader options")
    r.add_argument("--s1-units", choices=S1_UNITS, default="auto",
                   help="S1 backscatter encoding: auto (from dtype and values), dB, linear power, "
                        "or compressed (openEO uint16, dB = 20 log10(DN) - 83)")
    r.add_argument("--clear-classes", type=int, nargs="+", default=list(S2_CLEAR_CLASSES), metavar="CLASS",
                   help="S2 SCL classes counted as clear (4 vegetation, 5 bare soil, 6 water, 7 unclassified, ...)")
    r.add_argument("--reflectance-scale", type=_scale, default="auto",
                   help="factor from stored S2 values to reflectance: auto (CF scale_factor, else DN x 1e-4) or a number")
    r.add_argument("--harmonize", choices=("auto", "true", "false", "all"), default="auto",
                   help="remove the S2 processing-baseline 04.00 offset (-1000 DN from 2022-01-25): "
                        "auto (from metadata, else by date for DN input), true, false, or all (every date: Collection-1 reprocessed data)")
    a.add_argument("--chunk", type=int, default=256, help="chunk size in pixels on the S1 grid")
    a.add_argument("--overwrite", action="store_true", help="replace an existing output")
    a.set_defaults(func=cmd_align)
    return a


def _add_summary(sub: _Sub) -> argparse.ArgumentParser:
    s = _parser(sub, "summary", "print what survived each step of a fusion cube")
    s.add_argument("cube", help="fusion cube (netCDF or Zarr)")
    s.set_defaults(func=cmd_summary)
    return s


def _add_train(sub: _Sub) -> argparse.ArgumentParser:
    t = _parser(sub, "train", "train a fusion model on a cube (netCDF or Zarr with VV, VH, NDVI)")
    t.add_argument("cube", help="fusion cube written by `align`")
    t.add_argument("-o", "--output", required=True, help="model path stem (writes .safetensors and .json)")
    t.add_argument("--features", default=None, help="FeatureSpec as JSON, e.g. '{\"lags\": 1}' (default: FeatureSpec())")
    t.add_argument("--epochs", type=int, default=60, help="maximum epochs (early stopping may end sooner)")
    t.add_argument("--block-size", type=int, default=8, help="side in pixels of the spatial blocks held out for validation and test")
    t.add_argument("--max-samples", type=int, default=1_000_000, help="pixel-dates sampled at most (default 1,000,000; TrainConfig.max_samples, the Python default, is 400,000)")
    t.add_argument("--seed", type=int, default=0, help="random seed (sampling, split, weights)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    t.add_argument("--cv", type=int, default=0, help="also run K-fold spatial-block cross-validation (0: none)")
    t.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="train K networks and predict their mean (a little better on other places and seasons, K times the "
                        "training and prediction; default: 1)")
    t.set_defaults(func=cmd_train)
    return t


def _add_predict(sub: _Sub) -> argparse.ArgumentParser:
    pr = _parser(sub, "predict", "predict NDVI from S1 with a trained model")
    pr.add_argument("cube", help="fusion cube (netCDF or Zarr)")
    pr.add_argument("model", help="model path (.safetensors, .json or the stem)")
    pr.add_argument("-o", "--output", required=True, help="output netCDF path")
    pr.add_argument("--chunk", type=int, default=256, help="chunk size in pixels")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing output")
    pr.set_defaults(func=cmd_predict)
    return pr


def _add_reconstruct(sub: _Sub) -> argparse.ArgumentParser:
    rc = _parser(sub, "reconstruct", "gap-filled NDVI with source flags and uncertainty")
    rc.add_argument("cube", help="fusion cube (netCDF or Zarr)")
    rc.add_argument("model", help="model path (.safetensors, .json or the stem)")
    rc.add_argument("-o", "--output", required=True, help="output netCDF path")
    rc.add_argument("--freq", default=None, help="regular output grid, e.g. 5D (default: the cube dates)")
    smooth = rc.add_mutually_exclusive_group()  # --lam sets the smoothing --no-smooth skips: refused together
    smooth.add_argument("--no-smooth", action="store_true", help="skip the weighted Whittaker smoothing")
    smooth.add_argument("--lam", type=float, default=None,
                        help="Whittaker lambda on a 1-day grid (default: 1000, or the calibration's; given, it selects the fixed setting)")
    rc.add_argument("--weights", choices=("model", "auto", "fixed"), default="model",
                    help="model: the model's own calibration (on a cube it was not trained on: a setting chosen on held-out "
                         "spells of the cube's central window; under 200 pixels the transfer setting, or S2 only where the "
                         "model explains none of the cube's clear views; a warning says which); "
                         "auto: calibrate on held-out spells of a sample of the whole cube; fixed: inverse-variance weights")
    rc.add_argument("--calibration-from", default=None, metavar="PATH",
                    help="use the setting of an earlier calibration as it is, no calibration here (one setting for every tile "
                         "of a region): a reconstruction made with --weights auto (its attrs) or a Calibration.to_dict() JSON; "
                         "with a sequence model, a reconstruction made with it (its fill and std factor, no check or refit "
                         "here) (default: none, the setting of --weights)")
    rc.add_argument("--chunk", type=int, default=256, help="chunk size in pixels")
    rc.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    rc.add_argument("--overwrite", action="store_true", help="replace an existing output")
    rc.set_defaults(func=cmd_reconstruct)
    return rc


def _add_phenology(sub: _Sub) -> argparse.ArgumentParser:
    ph = _parser(sub, "phenology", "multi-season phenometrics of an NDVI file")
    ph.add_argument("input", help="netCDF/Zarr with an NDVI variable on (time, y, x)")
    ph.add_argument("-o", "--output", required=True, help="output netCDF path")
    ph.add_argument("--variable", default="NDVI", help="name of the NDVI variable")
    ph.add_argument("--max-seasons", type=int, default=3, help="seasons kept per pixel at most")
    ph.add_argument("--fraction", type=float, default=0.5, help="SOS/EOS at this fraction of the amplitude")
    ph.add_argument("--min-amplitude", type=float, default=0.1, help="smallest NDVI rise counted as a season")
    ph.add_argument("--noise-factor", type=float, default=3.0, help="season prominence >= this x the pixel's noise sd")
    ph.add_argument("--extrapolate", type=float, default=0.0, help="days a cut SOS/EOS may be extrapolated (flagged)")
    ph.add_argument("--by-year", action="store_true", help="seasons on (year, season) by the year of their peak")
    ph.add_argument("--year-start", type=int, default=1, choices=range(1, 13), metavar="MONTH",
                    help="first month of the season year (7: July to June, for southern-hemisphere summer crops; default 1)")
    ph.add_argument("--main-months", type=int, nargs=2, default=None, choices=range(1, 13), metavar=("FIRST", "LAST"),
                    help="months in which a main season may peak (e.g. 6 9; wraps over the new year when FIRST > LAST; default: any month)")
    ph.add_argument("--start", default=None, help="keep seasons peaking from this date (default: all)")
    ph.add_argument("--end", default=None, help="keep seasons peaking up to this date (default: all)")
    ph.add_argument("--chunk", type=int, default=256, help="chunk size in pixels")
    ph.add_argument("--overwrite", action="store_true", help="replace an existing output")
    ph.set_defaults(func=cmd_phenology)
    return ph


def _add_segment(sub: _Sub) -> argparse.ArgumentParser:
    sg = _parser(sub, "segment", "unsupervised land-cover classes (contrastive S1/S2 encoders + vector quantisation)")
    sg.add_argument("cube", help="fusion cube (netCDF or Zarr)")
    sg.add_argument("-o", "--output", required=True, help="output netCDF path")
    # None = not given: a saved segmenter has its own classes, views and training, so these are refused with --segmenter
    sg.add_argument("--n-classes", type=int, default=None, help=f"number of classes (default: {SEGMENT_DEFAULTS['n_classes']})")
    sg.add_argument("--views", nargs="+", default=None, choices=list(SEGMENT_VIEWS),
                    help=f"sensors encoded (default: {' '.join(SEGMENT_VIEWS)})")
    sg.add_argument("--epochs", type=int, default=None, help=f"training epochs (default: {SEGMENT_DEFAULTS['epochs']}; not with --kmeans)")
    how = sg.add_mutually_exclusive_group()  # each ignores the others: refused together, not silently dropped
    how.add_argument("--segmenter", default=None, help="use a saved segmenter instead of training one (default: train one)")
    how.add_argument("--save-segmenter", default=None, help="save the trained segmenter here (.safetensors + .json) (default: not saved)")
    how.add_argument("--kmeans", action="store_true", help="the k-means baseline on the same profiles instead")
    sg.add_argument("--seed", type=int, default=0, help="random seed")
    sg.add_argument("--chunk", type=int, default=256, help="chunk size in pixels")
    sg.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    sg.add_argument("--overwrite", action="store_true", help="replace an existing output")
    sg.set_defaults(func=cmd_segment)
    return sg


def _add_run(sub: _Sub) -> argparse.ArgumentParser:
    rn = _parser(sub, "run", "resumable batch run over the regions of a YAML config")
    rn.add_argument("config", help="the run's YAML config")
    where = rn.add_mutually_exclusive_group()  # a LocalCluster of N workers, or an existing scheduler: not both
    where.add_argument("--workers", type=int, default=None, help="start a LocalCluster with N worker processes (default: threads)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (default: none)")
    rn.add_argument("--restart", action="store_true",
                    help="discard the outputs of regions whose config, inputs or model changed, and start them again")
    rn.set_defaults(func=cmd_run)
    return rn


def _add_report(sub: _Sub) -> argparse.ArgumentParser:
    rp = _parser(sub, "report", "write report.html / report.md for a Zarr output of demo or run")
    rp.add_argument("store", help="the Zarr store")
    rp.add_argument("-o", "--out", default=None, help="output folder (default: <store>.report)")
    rp.add_argument("--overwrite", action="store_true", help="replace a report that fusets_dl wrote in the folder")
    rp.set_defaults(func=cmd_report)
    return rp


def _add_compare(sub: _Sub) -> argparse.ArgumentParser:
    cp = _parser(sub, "compare", "gap-filling benchmark: DL fusion vs MOGPR, Whittaker and interpolation")
    scene = cp.add_mutually_exclusive_group()  # one scene: a cube, a synthetic one or the sample, never two silently
    scene.add_argument("cube", nargs="?", default=None, help="fusion cube (netCDF/Zarr) (default: the bundled sample)")
    scene.add_argument("--synthetic", type=_positive_int, default=None, metavar="N",
                       help="use an N x N synthetic scene instead (default: none)")
    scene.add_argument("--data", default=None, help="folder of the bundled sample (default: data/sample)")
    cp.add_argument("--model", default=None, help="trained model to evaluate (default: train one, blocks held out)")
    cp.add_argument("--out", default="outputs/compare", help="folder for compare.md/.csv/.json/.png")
    cp.add_argument("--overwrite", action="store_true", help="replace the results of an earlier compare in --out")
    cp.add_argument("--gap-days", type=float, default=60.0, help="length of each simulated cloudy spell (days)")
    cp.add_argument("--n-gaps", type=int, default=5, help="spells per pixel")
    cp.add_argument("--whittaker-lam", type=float, default=None,
                    help="lambda of the Whittaker baseline (default: chosen on other spells of the visible views)")
    cp.add_argument("--max-pixels", type=int, default=400, help="held-out pixels evaluated (0: all)")
    cp.add_argument("--methods", nargs="+", default=list(COMPARE_METHODS), choices=list(COMPARE_METHODS),
                    help="methods compared")
    cp.add_argument("--epochs", type=int, default=40, help="maximum training epochs of the DL model")
    cp.add_argument("--features", default=None,
                    help='FeatureSpec as JSON, e.g. \'{"groups": ["sar", "optical", "time"]}\' (default: FeatureSpec())')
    cp.add_argument("--fusion", default="early", choices=list(FUSION_STRATEGIES), help="fusion network")
    cp.add_argument("--modality-dropout", type=float, default=0.0, help="probability of dropping an optional modality per sample in training")
    cp.add_argument("--seed", type=int, default=0, help="random seed")
    cp.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    cp.set_defaults(func=cmd_compare)
    return cp
