"""The commands around the stages: the batch run, the gap-filling comparison, reports and synthetic scenes.

Each takes the parsed arguments and returns the exit status; each imports
what it needs when it runs, so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .._logging import logger
from ..progress import tile_progress

__all__ = ["REPORT_FILES", "SCENE_FILES", "cmd_compare", "cmd_report", "cmd_run", "cmd_synth"]

#: The files ``synth`` writes into its ``-o`` folder.
SCENE_FILES = ("s1.nc", "s2.nc", "truth.nc")
#: The files ``report`` writes into its ``-o`` folder (figures: the maps and two example pixels).
REPORT_FILES = ("report.md", "report.html", "figures/maps.png", "figures/pixel_1.png", "figures/pixel_2.png")


def cmd_run(args: argparse.Namespace) -> int:
    """``fusets-dl run``: a resumable batch run over the regions of a YAML config, with a tile bar per region.

    Parameters
    ----------
    args : argparse.Namespace
        ``config``, ``workers``, ``scheduler``; the tile bar follows the
        ``progress`` option (``main`` turns it off for ``-q`` and ``--no-progress``).

    Returns
    -------
    int
        0.

    Raises
    ------
    ConfigError
        The config is invalid (reported before any work).
    Exception
        A region's failure, once the others have run and the table of
        every region is printed.
    """
    from ..pipeline import load_config, run, summary_table

    cfg = load_config(args.config)  # every config error is reported before any work
    t0 = time.perf_counter()
    try:
        with tile_progress([r.name for r in cfg.regions]) as bar:  # silent off a terminal, with -q or --no-progress
            rows = run(cfg, workers=args.workers, scheduler=args.scheduler, progress=bar, restart=getattr(args, "restart", False))
    except Exception as exc:  # a region failed, after the others ran: the table of every region first, then the error
        if getattr(exc, "run_rows", None):
            print(summary_table(exc.run_rows))
        raise
    print(summary_table(rows))
    print(f"\noutputs in {cfg.output_root} ({time.perf_counter() - t0:.1f} s)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``fusets-dl compare``: the gap-filling benchmark (DL fusion vs MOGPR, Whittaker and interpolation).

    Parameters
    ----------
    args : argparse.Namespace
        The cube (``cube``, ``synthetic`` or ``data``), ``model``, ``out``,
        ``gap_days``, ``n_gaps``, ``max_pixels``, ``methods``, ``epochs``,
        ``features`` (JSON), ``fusion``, ``modality_dropout``, ``seed``, ``device``,
        ``overwrite``.

    Returns
    -------
    int
        0.

    Raises
    ------
    ConfigError, StoreExistsError
        Before any work: ``--out`` is a file or an input, or holds results
        without ``--overwrite``, or holds ``compare.*`` files that compare
        did not write (only those it wrote are replaced).
    """
    from .output import check_compare_out
    from .stages import input_paths, parse_features

    check_compare_out(Path(args.out), overwrite=args.overwrite, inputs=[*input_paths(args), *([args.data] if args.data else [])])
    spec = parse_features(args.features)  # options first: nothing is opened or trained on a bad one
    from ..evaluation.comparison import CompareConfig, compare
    from ..models import load_model
    from ..training import TrainConfig

    cube, where = _compare_cube(args)
    cfg = CompareConfig(
        gap_days=args.gap_days, n_gaps=args.n_gaps, max_pixels=args.max_pixels or None, seed=args.seed,
        methods=tuple(args.methods), mogpr={"device": args.device},
        whittaker_lam="auto" if getattr(args, "whittaker_lam", None) is None else args.whittaker_lam,
    )
    model = load_model(args.model) if args.model else None
    tcfg = TrainConfig(max_epochs=args.epochs, seed=args.seed, device=args.device, fusion=args.fusion,
                       modality_dropout=args.modality_dropout)
    if "NDVI_cloudy" not in cube.data_vars and spec.cloudy_input:
        logger.warning("compare: cloudy_input requested but the cube has no NDVI_cloudy (align with keep_cloudy=True)")
    result = compare(cube, config=cfg, model=model, features=spec, train_config=tcfg)
    files = result.save(args.out)
    print(f"Gap-filling comparison on {where}\n")
    print(result.to_markdown())
    print("written: " + ", ".join(str(f) for f in files.values()))
    return 0


def _compare_cube(args: argparse.Namespace) -> tuple[Any, str]:
    """The cube to compare on (a file, an N x N synthetic scene, or the bundled sample) and how to name it."""
    from ..alignment import align
    from ..readers import open_cube, open_s1, open_s2

    if args.cube:
        return open_cube(args.cube), args.cube
    if args.synthetic is not None:
        from ..synthetic import make_scene

        s1, s2, _truth = make_scene(args.synthetic, args.synthetic, "2021-01-01", "2022-12-31", args.seed)
        return align(open_s1(s1), open_s2(s2), outlier_filter=True), f"synthetic {args.synthetic} x {args.synthetic} scene (seed {args.seed})"
    from ..sample import find_sample

    folder = find_sample(args.data)
    return align(open_s1(folder / "s1.nc"), open_s2(folder / "s2.nc"), outlier_filter=True), f"bundled sample {folder}"


def cmd_report(args: argparse.Namespace) -> int:
    """``fusets-dl report``: report.html / report.md for a Zarr output of ``demo`` or ``run``.

    Parameters
    ----------
    args : argparse.Namespace
        ``store``, ``out`` (default: ``<store>.report``) and ``overwrite``;
        the region's ``<name>.metrics.json`` beside the store is used when present.

    Returns
    -------
    int
        0.

    Raises
    ------
    ConfigError, StoreExistsError
        Before any work: the output folder is a file or the store, or holds
        a report without ``--overwrite``, or one that fusets_dl did not write.
    """
    from ..evaluation.report import report_from_store
    from ..readers.cube import store_kind, warn_if_unfinished
    from .output import check_folder_out

    store = Path(args.store)
    out = Path(args.out) if args.out is not None else store.with_name(store.name + ".report")  # report_from_store's default
    check_folder_out(out, REPORT_FILES, overwrite=getattr(args, "overwrite", False), option="-o", command="report", inputs=[store])
    kind = store_kind(store)
    if kind != "zarr" or not store.is_dir():
        from ..errors import SourceError

        found = {"missing": "nothing", "folder": "a folder without Zarr metadata (zarr.json, .zgroup or .zattrs)"}.get(
            kind, "a file" if store.is_file() else "a path that is not a folder")
        raise SourceError(f"report: expected a Zarr store (a folder written by demo or run), found {found} at {str(store)!r}")
    warn_if_unfinished(store, "report")
    mpath = store.with_name(store.name.removesuffix(".zarr") + ".metrics.json")
    metrics = json.loads(mpath.read_text()) if mpath.exists() else None
    paths = report_from_store(store, out, metrics=metrics)
    print(f"report: {paths['html']} (and {paths['md'].name})")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """``fusets-dl synth``: write a synthetic scene (s1.nc, s2.nc, truth.nc).

    Parameters
    ----------
    args : argparse.Namespace
        ``output``, ``ny``, ``nx``, ``start``, ``end``, ``seed``, ``cloud_cover``,
        ``s1_revisit_days``, ``rainy_months``, ``rice_third_season``, ``overwrite``.

    Returns
    -------
    int
        0.

    Raises
    ------
    ConfigError, StoreExistsError
        Before any work: ``-o`` is a file, or holds one of the scene's files
        without ``--overwrite``, or one that fusets_dl did not write.
    """
    from ..errors import ConfigError
    from ..sample import write_scene
    from ..synthetic import make_scene
    from .output import check_folder_out

    options = {"cloud_cover": args.cloud_cover, "s1_revisit_days": getattr(args, "s1_revisit_days", 6)}
    if getattr(args, "rainy_months", None):
        bad = [m for m in args.rainy_months if not 1 <= m <= 12]
        if bad:
            raise ConfigError(f"synth: --rainy-months: expected months 1-12, found {bad}")
        options["rainy_months"] = tuple(args.rainy_months)
    if getattr(args, "rice_third_season", None) is not None:
        if not 0.0 <= args.rice_third_season <= 1.0:
            raise ConfigError(f"synth: --rice-third-season: expected a share from 0 to 1, found {args.rice_third_season}")
        options["rice_third_season"] = args.rice_third_season
    check_folder_out(Path(args.output), SCENE_FILES, overwrite=getattr(args, "overwrite", False), option="-o", command="synth")
    write_scene(args.output, *make_scene(args.ny, args.nx, args.start, args.end, args.seed, **options))
    print(f"synthetic scene ({args.ny} x {args.nx}, seed {args.seed}) written to {args.output}")
    return 0
