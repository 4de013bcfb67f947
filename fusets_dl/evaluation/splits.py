"""The spatial-block split: which blocks train, validate and test, and their pixel masks."""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cf import cube_site
from ..errors import ConfigError, InsufficientDataError
from ..validate import found_value, is_whole

if TYPE_CHECKING:
    from ..training.config import TrainConfig

__all__ = ["ORDER_KEY", "SPLIT_FOR_CUBE", "SPLIT_KEYS", "block_mask", "check_split", "fold_splits", "grid_fingerprint", "model_blocks", "own_blocks", "scene_extent",
           "season_split", "split_blocks", "training_site", "with_split", "within_extent"]

#: ``info`` key of a :func:`with_split` copy: its ``blocks`` were drawn for the cube it is used on, not for the training scene.
SPLIT_FOR_CUBE = "split_for_cube"

#: The keys of a block split (:func:`split_blocks`), all required by :func:`check_split`.
SPLIT_KEYS: tuple[str, ...] = ("block_size", "grid", "val", "test")
#: Key of a training split recording whether its cube's ``y`` ran upwards and its ``x`` westwards (models trained since
#: 2026-11-28): block numbers count in that storage order, so the split belongs to no cube stored the other way.
ORDER_KEY = "against_north_up"


def split_blocks(ny: int, nx: int, config: TrainConfig) -> dict[str, Any]:
    """Assign square spatial blocks to train, validation and test at random (seeded).

    Parameters
    ----------
    ny, nx : int
        Scene size, pixels.
    config : TrainConfig
        ``block_size``, ``seed``, ``test_fraction`` and ``val_fraction``.

    Returns
    -------
    dict
        ``block_size``, ``grid`` (blocks along y and x), and the ``val`` and
        ``test`` block indices as ``[by, bx]`` lists; every other block trains.

    Raises
    ------
    InsufficientDataError
        When the scene holds fewer than 3 blocks.
    """
    size = config.block_size
    gy, gx = -(-ny // size), -(-nx // size)
    n = gy * gx
    if n < 3:
        # blocks of 1 pixel are the most a scene can hold: below 3 pixels no block_size helps
        fix = "lower TrainConfig.block_size" if ny * nx >= 3 else "no block_size can split fewer than 3 pixels: use a larger area"
        raise InsufficientDataError(
            f"spatial-block split: expected at least 3 blocks of {size} x {size} pixels, found {n} "
            f"on a {ny} x {nx} scene; {fix}"
        )
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(n)
    n_test = max(1, round(config.test_fraction * n))
    n_val = max(1, round(config.val_fraction * n))
    if n_test + n_val >= n:
        n_test, n_val = 1, 1
    test = sorted(order[:n_test].tolist())
    val = sorted(order[n_test : n_test + n_val].tolist())
    return {
        "block_size": size,
        "grid": [gy, gx],
        "test": [[b // gx, b % gx] for b in test],
        "val": [[b // gx, b % gx] for b in val],
    }


def check_split(split: Any, ny: int, nx: int, *, where: str = "split") -> dict[str, Any]:
    """Check an explicit block split against a scene of ``ny`` x ``nx`` pixels.

    Parameters
    ----------
    split : dict
        A split as :func:`split_blocks` returns it: ``block_size`` (a positive
        whole number of pixels), ``grid`` (blocks along y and x:
        ``ceil(ny / block_size)``, ``ceil(nx / block_size)``), and the
        ``val`` and ``test`` blocks as ``[by, bx]`` lists inside the grid,
        no block in both.
    ny, nx : int
        Scene size, pixels.
    where : str
        What to call the split in error messages (e.g. ``"train: split"``).

    Returns
    -------
    dict
        A copy with ``block_size`` as int, ``grid`` as a list of 2 ints and
        the blocks as lists of ``[int, int]``; other keys kept.

    Raises
    ------
    ConfigError
        ``split`` is not a dict, lacks a key (named), has a ``block_size``
        that is not a positive whole number, a ``grid`` other than the
        scene's (expected and found), block ids that are not pairs or lie
        outside the grid, or blocks both in ``val`` and ``test`` (listed).
    """
    if not isinstance(split, Mapping):
        raise ConfigError(f"{where}: expected a block split (a dict with keys {list(SPLIT_KEYS)}, as "
                          f"fusets_dl.evaluation.splits.split_blocks returns it), found {found_value(split)}")
    missing = [k for k in SPLIT_KEYS if k not in split]
    if missing:
        raise ConfigError(f"{where}: expected the keys {list(SPLIT_KEYS)}, missing {missing} (found keys {sorted(map(str, split))})")
    size = split["block_size"]
    if not (is_whole(size) and size >= 1):
        raise ConfigError(f"{where}: block_size: expected a positive whole number of pixels, found {found_value(size)}")
    size = int(size)
    expected = [-(-int(ny) // size), -(-int(nx) // size)]
    grid = split["grid"]
    if not (isinstance(grid, (list, tuple, np.ndarray)) and len(grid) == 2 and all(is_whole(g) for g in grid)):
        raise ConfigError(f"{where}: grid: expected [blocks along y, blocks along x] = {expected}, found {found_value(grid)}")
    if [int(g) for g in grid] != expected:
        raise ConfigError(
            f"{where}: grid: expected {expected} (a {ny} x {nx} scene in blocks of {size} px), found {[int(g) for g in grid]}: "
            "the split was drawn for another scene size or block_size"
        )
    out = dict(split)
    out.update(block_size=size, grid=expected)
    for which in ("val", "test"):
        ids = split[which]
        if not isinstance(ids, (list, tuple, np.ndarray)) or not all(
            isinstance(b, (list, tuple, np.ndarray)) and len(b) == 2 and all(is_whole(i) for i in b) for b in ids
        ):
            raise ConfigError(f"{where}: {which}: expected a list of block ids [by, bx] (whole numbers), found {found_value(ids)}")
        pairs = [[int(b[0]), int(b[1])] for b in ids]
        outside = [b for b in pairs if not (0 <= b[0] < expected[0] and 0 <= b[1] < expected[1])]
        if outside:
            raise ConfigError(f"{where}: {which}: expected block ids [by, bx] with 0 <= by < {expected[0]} and "
                              f"0 <= bx < {expected[1]} (grid {expected}), found {outside}")
        out[which] = pairs
    shared = sorted({tuple(b) for b in out["val"]} & {tuple(b) for b in out["test"]})
    if shared:
        raise ConfigError(
            f"{where}: expected disjoint val and test blocks, found {len(shared)} in both: {[list(b) for b in shared]} "
            "(early stopping would choose on the test blocks, so the test metrics would not be held out)"
        )
    return out


def block_mask(ny: int, nx: int, blocks: dict[str, Any], which: str = "test") -> np.ndarray:
    """Boolean (y, x) mask of the pixels in the model's ``which`` blocks.

    Parameters
    ----------
    ny, nx : int
        Scene size, pixels.
    blocks : dict
        A split as :func:`split_blocks` returns it (``FusionModel.blocks``).
    which : {"test", "val", "train"}
        The blocks to mark; "train" is every block not held out.

    Returns
    -------
    numpy.ndarray
        Boolean (ny, nx). A split of another scene's grid (``compare`` lays
        one on a cube, with a warning) marks the blocks of the same
        ``(row, column)`` numbers; blocks beyond its grid are never marked
        (they were, where a narrower grid's flat numbering wrapped: block
        (0, 3) for (1, 0) of a 3-wide grid).
    """
    size = int(blocks["block_size"])
    by = np.arange(ny) // size
    bx = np.arange(nx) // size
    width = max(int(blocks["grid"][1]), int(bx.max()) + 1 if nx else 0)  # numbered by (row, column), never wrapping
    ids = by[:, None] * width + bx[None, :]
    if which == "train":
        held = set(map(tuple, blocks.get("test", []))) | set(map(tuple, blocks.get("val", [])))
        chosen = [b for b in np.ndindex(*blocks["grid"]) if b not in held]
    else:
        chosen = [tuple(b) for b in blocks.get(which, [])]
    flat = [int(b[0]) * width + int(b[1]) for b in chosen]
    return np.isin(ids, flat)


def fold_splits(ny: int, nx: int, config: TrainConfig, folds: int) -> list[dict[str, Any]]:
    """Deal the spatial blocks into ``folds`` disjoint test sets, each with its own validation blocks.

    The blocks of ``config.block_size`` are shuffled (seeded by
    ``config.seed``) and dealt into ``folds`` parts; fold ``k`` tests on part
    ``k`` and validates on a share ``config.val_fraction`` of the other
    blocks (seeded by ``config.seed + 1 + k``).

    Parameters
    ----------
    ny, nx : int
        Scene size in pixels.
    config : TrainConfig
        ``block_size``, ``val_fraction`` and ``seed``.
    folds : int
        Number of folds, at least 2 and fewer than the blocks.

    Returns
    -------
    list of dict
        One split per fold, in the form of
        :func:`fusets_dl.evaluation.splits.split_blocks` (``block_size``,
        ``grid``, ``test``, ``val``), accepted by ``train(split=...)`` and
        :func:`fusets_dl.evaluation.splits.block_mask`.

    Raises
    ------
    InsufficientDataError
        Fewer than ``folds + 1`` blocks, or fewer than 2 folds.
    """
    size = config.block_size
    gy, gx = -(-ny // size), -(-nx // size)
    n = gy * gx
    if folds < 2 or n < folds + 1:
        raise InsufficientDataError(f"cross_validate: expected 2 <= folds < {n} blocks of {size} px, found folds={folds}")
    order = np.random.default_rng(config.seed).permutation(n)
    n_val = max(1, round(config.val_fraction * n))
    out = []
    for k, test in enumerate(np.array_split(order, folds)):
        rest = np.setdiff1d(order, test)
        val = np.random.default_rng(config.seed + 1 + k).choice(rest, size=min(n_val, rest.size - 1), replace=False)
        out.append({
            "block_size": size,
            "grid": [gy, gx],
            "test": [[int(b) // gx, int(b) % gx] for b in sorted(test)],
            "val": [[int(b) // gx, int(b) % gx] for b in sorted(val)],
        })
    return out


def season_split(times: np.ndarray, split_date: str | np.datetime64) -> np.ndarray:
    """Leave-season-out: which dates a model may train on (strictly before ``split_date``).

    Parameters
    ----------
    times : numpy.ndarray
        The cube's dates (datetime64).
    split_date : str or numpy.datetime64
        First date of the held-out season.

    Returns
    -------
    numpy.ndarray
        Boolean (time,): True for the training dates; the others are held out.

    Raises
    ------
    ConfigError
        A ``split_date`` that is not a date.
    InsufficientDataError
        No date on one side of the split.
    """
    try:
        split = np.datetime64(split_date, "ns")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"season split: expected a date such as '2018-04-01', found {split_date!r}") from exc
    t = np.asarray(times, dtype="datetime64[ns]")
    before = t < split
    if not before.any() or before.all():
        raise InsufficientDataError(
            f"season split: expected dates on both sides of {str(split)[:10]}, found {int(before.sum())} before and "
            f"{int((~before).sum())} on or after it (the cube spans {str(t.min())[:10]}..{str(t.max())[:10]})"
        )
    return before


def model_blocks(cube: Any, model: Any) -> dict[str, Any]:
    """The model's block split that belongs to ``cube``; empty when the model was not trained on it.

    A model trained on several sites keeps one split per site
    (``blocks["sites"]``): the cube's ``attrs["site"]`` picks it; a sequence
    model one per training cube (``blocks["cubes"]``): the cube's
    :func:`grid_fingerprint` picks it (its dates, size and site for a model
    saved without fingerprints). A split whose
    grid does not cover the cube's size belongs to another cube (a model
    trained elsewhere, e.g. the pre-trained one): every pixel is then fair
    game, since the model saw none of them. The split of a
    :func:`with_split` copy was drawn for the cube it is used on: only its
    grid is compared with the cube's, not the training scene's size.

    Parameters
    ----------
    cube : xarray.Dataset
        The cube being reconstructed.
    model : FusionModel or SequenceModel
        The model (its ``blocks``).

    Returns
    -------
    dict
        A split as :func:`~fusets_dl.evaluation.splits.split_blocks` returns
        it, or ``{}``.
    """
    blocks = dict(getattr(model, "blocks", None) or {})
    sites = blocks.pop("sites", None)
    per_cube = blocks.pop("cubes", None)
    site = training_site(cube, model) if sites else None
    if sites:
        blocks = dict(sites[site]) if site in sites else blocks
    elif isinstance(per_cube, list) and len(per_cube) > 1:  # a sequence model of several cubes: this cube's own split
        k = _training_cube(cube, getattr(model, "info", None) or {})
        if k is None or k >= len(per_cube) or not isinstance(per_cube[k], Mapping):
            # none of its training cubes: the top-level split is the first cube's, whose block numbers mark other pixels here
            logging.getLogger("fusets_dl").info("the cube is none of the sequence model's %d training cubes: no block split of its own",
                                                len(per_cube))
            return {}
        blocks = dict(per_cube[k])
    if "block_size" not in blocks or "grid" not in blocks:
        return {}
    size = int(blocks["block_size"])
    fits = [-(-int(cube.sizes[d]) // size) for d in ("y", "x")] == [int(g) for g in blocks["grid"]]
    k = _training_cube(cube, getattr(model, "info", None) or {}) if isinstance(per_cube, list) and len(per_cube) > 1 else None
    trained = _trained_size(model, site, k)
    if fits and trained is not None and trained != (int(cube.sizes["y"]), int(cube.sizes["x"])):
        # a crop of the training scene (or another scene) whose grid of blocks happens to match: the block
        # indices would land on other pixels, training pixels among them
        fits = False
    if not fits:
        logging.getLogger("fusets_dl").info(
            "the model's block split (grid %s of %d px) does not fit this %d x %d cube: it was trained on another cube",
            blocks["grid"], size, cube.sizes["y"], cube.sizes["x"])
        return {}
    recorded = blocks.get(ORDER_KEY)
    if isinstance(recorded, (list, tuple)) and len(recorded) == 2:
        from ..alignment.grid import against_north_up

        now = against_north_up(cube)
        if [bool(v) for v in recorded] != list(now):
            axes = [d for d, a, b in zip(("y", "x"), recorded, now, strict=True) if bool(a) != b]
            warnings.warn(
                f"the model's held-out blocks were numbered on its training cube stored with {' and '.join(axes)} running the other "
                f"way: they would mark other pixels on this {cube.sizes['y']} x {cube.sizes['x']} cube, so they are not used here, and "
                f"what is scored or calibrated on it may include pixels the model trained on; reverse the cube "
                f"(cube.isel({', '.join(f'{d}=slice(None, None, -1)' for d in axes)})) to use them", UserWarning, stacklevel=3)
            return {}
    return blocks


def training_site(cube: Any, model: Any) -> str | None:
    """Which training site of a multi-site model ``cube`` is: its ``attrs["site"]``, else the one site it matches in place and size.

    A cube a user builds again from a site's own files carries no site name;
    it is that site when it lies within the site's recorded extent
    (:func:`within_extent`: its ``x``/``y`` bounds, or a point cube's
    ``lon``/``lat``) and has its size. A crop of a site, a cube named after
    another site, or one matching several sites is none.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube.
    model : FusionModel
        A model (``info["sites"]`` and ``blocks["sites"]`` of a multi-site one).

    Returns
    -------
    str or None
        The site's name; None for a model of one site or a cube that is none of its sites.
    """
    info = getattr(model, "info", None) or {}
    scenes = info.get("sites") if isinstance(info.get("sites"), Mapping) else {}
    split = (getattr(model, "blocks", None) or {}).get("sites") or {}
    names = set(scenes) | set(split)
    name = cube.attrs.get("site")
    if name:
        return str(name) if name in names else None
    size = (int(cube.sizes["y"]), int(cube.sizes["x"]))
    found = [n for n, sc in scenes.items() if isinstance(sc, Mapping) and within_extent(sc, cube) is True
             and (sc.get("ny"), sc.get("nx")) == size]
    return found[0] if len(found) == 1 else None


def own_blocks(cube: Any, model: Any, what: str) -> dict[str, Any]:
    """The model's split of ``cube`` (:func:`model_blocks`), refused when it has none there.

    Parameters
    ----------
    cube : xarray.Dataset
        The cube to score.
    model : FusionModel or SequenceModel
        The model (its ``blocks``).
    what : str
        The caller, for the messages.

    Returns
    -------
    dict
        The split that belongs to ``cube``.

    Raises
    ------
    InsufficientDataError
        The model records no blocks.
    ConfigError
        None of its splits belongs to ``cube`` (another cube, size, part or
        site): its block numbers would mark other pixels there.
    """
    if not getattr(model, "blocks", None):
        raise InsufficientDataError(f"{what}: the model records no held-out blocks; use which='all' on another scene")
    blocks = model_blocks(cube, model)
    if not blocks:
        site = cube.attrs.get("site")
        raise ConfigError(f"{what}: expected the cube the model was trained on (one of its splits of held-out blocks), found a "
                          f"{cube.sizes['y']} x {cube.sizes['x']} cube{f' of site {site!r}' if site else ''} that none of them belongs to "
                          "(another cube, size, part or site; a model of several sites picks its split by attrs['site']): pass "
                          "which='all' to score every pixel of a cube the model never saw")
    return blocks


def grid_fingerprint(cube: Any) -> str:
    """A short digest of a cube's dates and ``y``/``x`` coordinates (a sequence model records it per training cube).

    It tells apart training cubes of the same dates and size (adjacent
    tiles of one region, point tables of one size) that names alone cannot.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube.

    Returns
    -------
    str
        16 hexadecimal digits.
    """
    return _fingerprint(cube, "ns")


#: Degrees a point cube's lon/lat may lie outside its training scene's and still be part of it (GPS rounding).
LONLAT_TOLERANCE = 0.01


def _numeric_bounds(a: Any) -> list[float] | None:
    """``[min, max]`` of the finite values of a numeric coordinate; None for text, dates or no value."""
    v = np.asarray(a)
    if v.size == 0 or v.dtype.kind not in "iuf":
        return None
    v = v.astype(np.float64)
    v = v[np.isfinite(v)]
    return [float(v.min()), float(v.max())] if v.size else None


def scene_extent(cube: Any) -> dict[str, Any]:
    """Where a training scene lies, for telling its own cubes from another place with the same dates.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube.

    Returns
    -------
    dict
        ``lonlat``: ``[lon_min, lat_min, lon_max, lat_max]`` of a point
        cube (``point`` with ``lon``/``lat`` coordinates: its ``x`` is a
        pseudo-grid of point numbers); else ``bounds``: ``[x_min, y_min,
        x_max, y_max]`` of its numeric ``x``/``y`` coordinates and ``step``,
        their largest spacing; empty when neither is known.
    """
    if "point" in cube.coords:
        lon = _numeric_bounds(cube["lon"].values) if "lon" in cube.coords else None
        lat = _numeric_bounds(cube["lat"].values) if "lat" in cube.coords else None
        return {"lonlat": [lon[0], lat[0], lon[1], lat[1]]} if lon and lat else {}
    if "x" not in cube.coords or "y" not in cube.coords:
        return {}
    xb, yb = _numeric_bounds(cube["x"].values), _numeric_bounds(cube["y"].values)
    if not xb or not yb:
        return {}
    steps = [float(np.max(np.abs(np.diff(np.asarray(cube[d].values, dtype=np.float64))))) for d in ("x", "y") if cube.sizes[d] > 1]
    return {"bounds": [xb[0], yb[0], xb[1], yb[1]], "step": max(steps) if steps else 0.0}


def within_extent(scene: dict[str, Any], cube: Any) -> bool | None:
    """Whether ``cube`` lies within the training ``scene`` (:func:`scene_extent`), or None when it cannot be told.

    Parameters
    ----------
    scene : dict
        A model's record of a training scene (``info["scene"]`` or a site of ``info["sites"]``).
    cube : xarray.Dataset
        The cube it is applied to.

    Returns
    -------
    bool or None
        True or False where both carry the same kind of extent (a pixel,
        or ``LONLAT_TOLERANCE`` degrees, of slack); None otherwise (a model
        saved before 2026-11-28, a cube without coordinates).
    """
    mine = scene_extent(cube)
    if "lonlat" in scene and "lonlat" in mine:
        a, b, tol = scene["lonlat"], mine["lonlat"], LONLAT_TOLERANCE
    elif "bounds" in scene and "bounds" in mine:
        a, b = scene["bounds"], mine["bounds"]
        tol = max(float(scene.get("step") or 0.0), float(mine.get("step") or 0.0), 1e-9)
    else:
        return None
    return bool(b[0] >= a[0] - tol and b[1] >= a[1] - tol and b[2] <= a[2] + tol and b[3] <= a[3] + tol)


# Units a cube's dates may have been in when a model saved before 2026-11-28 hashed their raw bytes.
_LEGACY_UNITS = ("s", "ms", "us", "ns")


def _fingerprint(cube: Any, unit: str | None) -> str:
    """:func:`grid_fingerprint` with the dates in ``unit``; None: in their own unit, as models saved before 2026-11-28 hashed them."""
    digest = hashlib.sha256()
    for name in ("time", "y", "x"):
        if name in cube.coords:
            values = np.asarray(cube[name].values)
            if unit is not None and values.dtype.kind == "M":  # [s] and [ns] of the same dates: one digest (a Zarr round trip changes the unit)
                values = values.astype(f"datetime64[{unit}]")
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:16]


def _fingerprints(cube: Any) -> set[str]:
    """The cube's :func:`grid_fingerprint` and those a model saved before 2026-11-28 may record for it (the raw bytes of
    its dates in each unit that holds them exactly: a ``datetime64[s]`` training cube comes back from Zarr in ``[ns]``)."""
    fps = {grid_fingerprint(cube), _fingerprint(cube, None)}
    t = np.asarray(cube["time"].values) if "time" in cube.coords else np.array([])
    if t.dtype.kind == "M":
        fps |= {_fingerprint(cube, u) for u in _LEGACY_UNITS if np.array_equal(t.astype(f"datetime64[{u}]").astype(t.dtype), t)}
    return fps


def _training_cube(cube: Any, info: Mapping[str, Any]) -> int | None:
    """Position of ``cube`` among a sequence model's training cubes (``info["cubes"]``), or None.

    By its :func:`grid_fingerprint` where the model records them; for a model
    saved without them, by its dates, size and site when exactly one
    training cube has them. A with_split copy's split belongs to the cube at
    hand: None.
    """
    records = info.get("cubes")
    if info.get(SPLIT_FOR_CUBE) or not isinstance(records, list):
        return None
    records = [r if isinstance(r, Mapping) else {} for r in records]
    if any("grid" in r for r in records):
        fps = _fingerprints(cube)
        hits = [k for k, r in enumerate(records) if r.get("grid") in fps]
        return hits[0] if hits else None
    t = cube["time"].values
    span = [str(t[0])[:10], str(t[-1])[:10]] if t.size else [None, None]
    site = cube_site(cube.attrs)
    hits = [k for k, r in enumerate(records)
            if [r.get("start"), r.get("end")] == span and r.get("ny") == int(cube.sizes["y"]) and r.get("nx") == int(cube.sizes["x"])
            and not (site and r.get("site") and r["site"] != site)]
    if len(hits) > 1:
        logging.getLogger("fusets_dl").warning(
            "the model's training cubes %s share this cube's dates, size and site: which block split is its own cannot be told "
            "(models saved before 2026-11-28 record no grid fingerprint); the first cube's split is used", hits)
    return hits[0] if len(hits) == 1 else None


def _trained_size(model: Any, site: Any, site_cube: int | None = None) -> tuple[int, int] | None:
    """``(ny, nx)`` of the scene the model's split was drawn on, where its ``info`` records it; else None."""
    info = getattr(model, "info", None) or {}
    if info.get(SPLIT_FOR_CUBE):  # a with_split copy: its split was drawn for the cube at hand, whatever the training scene's size
        return None
    scene = None
    if site is not None and site in (info.get("sites") or {}):
        scene = info["sites"][site]
    elif isinstance(info.get("scene"), dict):
        scene = info["scene"]
    elif isinstance(info.get("cubes"), list) and len(info["cubes"]) == 1 and isinstance(info["cubes"][0], dict):
        scene = info["cubes"][0]  # a sequence model of one cube
    elif isinstance(info.get("cubes"), list) and site_cube is not None and isinstance(info["cubes"][site_cube], Mapping):
        scene = info["cubes"][site_cube]  # a sequence model of several cubes: this one's
    if not scene or "ny" not in scene or "nx" not in scene:
        return None
    return int(scene["ny"]), int(scene["nx"])


def with_split(model: Any, split: dict[str, Any]) -> Any:
    """A copy of ``model`` that carries ``split`` as its block split, drawn for the cube it is about to be used on.

    Everything else is kept, ``info`` included: what the training scenes
    were (``info`` ``scene``, ``sites``, a sequence model's ``cubes``)
    decides how the model reconstructs a cube (whether its std was fitted
    there, whether it reads an incidence angle, its backscatter
    coefficient), and a scored copy must reconstruct as the model itself
    does. The copy is marked (``info["split_for_cube"]``) so that
    :func:`model_blocks` does not compare the training scene's size with the
    cube's to tell a crop of the training scene from the scene itself: the
    given split belongs to the cube at hand (a window of it, one site of
    several, a scoring split), not to the training scene. (Before
    2026-11-28 the copy left those records out: a sequence model scored on
    a site sharing its dates with a training site was taken for its own
    cube, and one trained without an angle read the site's.)

    Parameters
    ----------
    model : FusionModel or SequenceModel
        The model.
    split : dict
        A split as :func:`split_blocks` returns it (``{}``: none).

    Returns
    -------
    FusionModel or SequenceModel
        The copy (weights shared, not copied).
    """
    info = {**(getattr(model, "info", None) or {}), SPLIT_FOR_CUBE: True}
    return replace(model, blocks=split, info=info)
