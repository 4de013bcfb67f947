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
from .demo import cmd_demo
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

__all__ = ["COMPARE_METHODS", "FUSION_STRATEGIES", "SEGMENT_VIEWS", "build_parser"]

#: The methods of ``compare --methods``: the comparison-method registry (torch-free module).
COMPARE_METHODS: tuple[str, ...] = tuple(COMPARISON_METHODS)
#: The choices of ``compare --fusion``: the network registry (torch-free module).
FUSION_STRATEGIES: tuple[str, ...] = tuple(NETWORKS)
#: The choices of ``segment --views`` (``fusets_dl.segmentation.config.VIEWS``; a literal, as importing the
#: segmentation package loads torch; a test checks they agree).
SEGMENT_VIEWS = ("s1", "s2")



def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fusets-dl``.

    Returns
    -------
    argparse.ArgumentParser
        With one subcommand per stage and tool; each sets ``func``, the
        command to call with the parsed arguments.
    """
    from .._version import __version__

    p = argparse.ArgumentParser(prog="fusets-dl", description="Sentinel-1/2 fusion for gap-free NDVI and phenology.")
    p.add_argument("--version", action="version", version=f"fusets_dl {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_train, _add_compare, _add_report, _add_run, _add_reconstruct, _add_segment,
                _add_phenology, _add_predict, _add_align, _add_summary, _add_synth):
        add(sub)
    return p


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("demo", help="run the pipeline on the bundled sample scene")
    d.add_argument("--data", default=None, help="folder with s1.nc, s2.nc, truth.nc (default: data/sample)")
    d.add_argument("--out", default="outputs/demo", help="output folder (default: outputs/demo)")
    d.add_argument("--tolerance", default="3D", help="S1/S2 pairing tolerance (default 3D)")
    d.add_argument("--epochs", type=int, default=40, help="maximum training epochs (default 40)")
    d.add_argument("--no-train", action="store_true", help="stop after alignment")
    d.set_defaults(func=cmd_demo)


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = sub.add_parser("train", help="train a fusion model on a cube (netCDF or Zarr with VV, VH, NDVI)")
    t.add_argument("cube")
    t.add_argument("-o", "--output", required=True, help="model path stem (writes .safetensors and .json)")
    t.add_argument("--features", default=None, help="FeatureSpec as JSON, e.g. '{\"lags\": 1}'")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--block-size", type=int, default=8)
    t.add_argument("--max-samples", type=int, default=1_000_000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--cv", type=int, default=0, help="also run K-fold spatial-block cross-validation")
    t.set_defaults(func=cmd_train)


def _add_compare(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cp = sub.add_parser("compare", help="gap-filling benchmark: DL fusion vs MOGPR, Whittaker and interpolation")
    cp.add_argument("cube", nargs="?", default=None, help="fusion cube (netCDF/Zarr); default: the bundled sample")
    cp.add_argument("--synthetic", type=int, default=None, metavar="N", help="use an N x N synthetic scene instead")
    cp.add_argument("--data", default=None, help="folder of the bundled sample (default: data/sample)")
    cp.add_argument("--model", default=None, help="trained model to evaluate (default: train one, blocks held out)")
    cp.add_argument("--out", default="outputs/compare", help="folder for compare.md/.csv/.json/.png")
    cp.add_argument("--gap-days", type=float, default=60.0, help="length of each simulated cloudy spell (days)")
    cp.add_argument("--n-gaps", type=int, default=5, help="spells per pixel")
    cp.add_argument("--max-pixels", type=int, default=400, help="held-out pixels evaluated (0: all)")
    cp.add_argument("--methods", nargs="+", default=list(COMPARE_METHODS), choices=list(COMPARE_METHODS))
    cp.add_argument("--epochs", type=int, default=40)
    cp.add_argument("--features", default=None, help='FeatureSpec as JSON, e.g. \'{"groups": ["sar", "optical", "time"]}\'')
    cp.add_argument("--fusion", default="early", choices=list(FUSION_STRATEGIES))
    cp.add_argument("--modality-dropout", type=float, default=0.0)
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--device", default="auto")
    cp.set_defaults(func=cmd_compare)


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rp = sub.add_parser("report", help="write report.html / report.md for a Zarr output of demo or run")
    rp.add_argument("store", help="the Zarr store")
    rp.add_argument("-o", "--out", default=None, help="output folder (default: <store>.report)")
    rp.set_defaults(func=cmd_report)


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rn = sub.add_parser("run", help="resumable batch run over the regions of a YAML config")
    rn.add_argument("config")
    rn.add_argument("--workers", type=int, default=None, help="start a LocalCluster with N worker processes")
    rn.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    rn.set_defaults(func=cmd_run)


def _add_reconstruct(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rc = sub.add_parser("reconstruct", help="gap-filled NDVI with source flags and uncertainty")
    rc.add_argument("cube")
    rc.add_argument("model")
    rc.add_argument("-o", "--output", required=True)
    rc.add_argument("--freq", default=None, help="regular output grid, e.g. 5D (default: the cube dates)")
    rc.add_argument("--no-smooth", action="store_true")
    rc.add_argument("--lam", type=float, default=1000.0, help="Whittaker lambda on a 1-day grid")
    rc.add_argument("--chunk", type=int, default=256)
    rc.add_argument("--device", default="auto")
    rc.add_argument("--overwrite", action="store_true")
    rc.set_defaults(func=cmd_reconstruct)


def _add_segment(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sg = sub.add_parser("segment", help="unsupervised land-cover classes (contrastive S1/S2 encoders + vector quantisation)")
    sg.add_argument("cube")
    sg.add_argument("-o", "--output", required=True)
    sg.add_argument("--n-classes", type=int, default=8)
    sg.add_argument("--views", nargs="+", default=list(SEGMENT_VIEWS), choices=list(SEGMENT_VIEWS))
    sg.add_argument("--epochs", type=int, default=60)
    sg.add_argument("--segmenter", default=None, help="use a saved segmenter instead of training one")
    sg.add_argument("--save-segmenter", default=None, help="save the trained segmenter here (.safetensors + .json)")
    sg.add_argument("--kmeans", action="store_true", help="the k-means baseline on the same profiles instead")
    sg.add_argument("--seed", type=int, default=0)
    sg.add_argument("--chunk", type=int, default=256)
    sg.add_argument("--device", default="auto")
    sg.add_argument("--overwrite", action="store_true")
    sg.set_defaults(func=cmd_segment)


def _add_phenology(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ph = sub.add_parser("phenology", help="multi-season phenometrics of an NDVI file")
    ph.add_argument("input", help="netCDF/Zarr with an NDVI variable on (time, y, x)")
    ph.add_argument("-o", "--output", required=True)
    ph.add_argument("--variable", default="NDVI")
    ph.add_argument("--max-seasons", type=int, default=3)
    ph.add_argument("--fraction", type=float, default=0.5, help="SOS/EOS at this fraction of the amplitude")
    ph.add_argument("--min-amplitude", type=float, default=0.1)
    ph.add_argument("--noise-factor", type=float, default=3.0, help="season prominence >= this x the pixel's noise sd")
    ph.add_argument("--extrapolate", type=float, default=0.0, help="days a cut SOS/EOS may be extrapolated (flagged)")
    ph.add_argument("--by-year", action="store_true", help="seasons on (year, season) by the year of their peak")
    ph.add_argument("--start", default=None, help="keep seasons peaking from this date")
    ph.add_argument("--end", default=None, help="keep seasons peaking up to this date")
    ph.add_argument("--chunk", type=int, default=256)
    ph.add_argument("--overwrite", action="store_true")
    ph.set_defaults(func=cmd_phenology)


def _add_predict(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pr = sub.add_parser("predict", help="predict NDVI from S1 with a trained model")
    pr.add_argument("cube")
    pr.add_argument("model")
    pr.add_argument("-o", "--output", required=True)
    pr.add_argument("--chunk", type=int, default=256)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--overwrite", action="store_true")
    pr.set_defaults(func=cmd_predict)


def _add_align(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("align", help="build a fusion cube from S1 and S2 files")
    a.add_argument("--s1", nargs="+", required=True, help="S1 file(s), folder or Zarr store")
    a.add_argument("--s2", nargs="+", required=True, help="S2 file(s) (several resolutions are merged)")
    a.add_argument("-o", "--output", required=True, help="output netCDF path")
    a.add_argument("--tolerance", default="3D")
    a.add_argument("--freq", default=None, help="composite onto regular periods, e.g. 12D")
    a.add_argument("--min-clear-fraction", type=float, default=1.0)
    a.add_argument("--outlier-filter", action="store_true")
    a.add_argument("--harmonize", choices=("auto", "true", "false"), default="auto",
                   help="remove the S2 processing-baseline 04.00 offset (-1000 DN from 2022-01-25): "
                        "auto (from metadata, else by date for DN input), true or false (default auto)")
    a.add_argument("--chunk", type=int, default=256, help="chunk size in pixels on the S1 grid")
    a.add_argument("--overwrite", action="store_true")
    a.set_defaults(func=cmd_align)


def _add_summary(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("summary", help="print what survived each step of a fusion cube")
    s.add_argument("cube")
    s.set_defaults(func=cmd_summary)


def _add_synth(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    g = sub.add_parser("synth", help="write a synthetic scene (s1.nc, s2.nc, truth.nc)")
    g.add_argument("-o", "--output", required=True)
    g.add_argument("--ny", type=int, default=64)
    g.add_argument("--nx", type=int, default=64)
    g.add_argument("--start", default="2021-01-01")
    g.add_argument("--end", default="2022-12-31")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--cloud-cover", type=float, default=0.5)
    g.set_defaults(func=cmd_synth)
