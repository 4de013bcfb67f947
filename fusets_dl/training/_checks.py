"""Argument checks shared by :func:`~fusets_dl.training.loop.train` and :func:`~fusets_dl.training.sequence.train_sequence`.

Here (not in ``loop``) so that ``sequence`` can use them without importing
``loop``, which imports ``sequence`` in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import xarray as xr

from ..alignment.grid import against_north_up
from ..errors import ConfigError, FusionError, InsufficientDataError
from ..evaluation.splits import ORDER_KEY, SPLIT_KEYS, check_split, split_blocks
from ..validate import check_cube, found_value
from .config import MAX_SEED, TrainConfig

__all__ = ["check_distinct_scenes", "check_site_cube", "cube_list", "site_names", "site_splits", "split_list"]


def site_names(cubes: Sequence[xr.Dataset]) -> list[str]:
    """A name per cube: ``attrs["site"]``, else ``attrs["title"]``, else ``site<k>``; repeated names get ``#k``.

    Parameters
    ----------
    cubes : sequence of xarray.Dataset
        The sites.

    Returns
    -------
    list of str
        Unique names, in the order of ``cubes``.
    """
    raw = [str(c.attrs.get("site") or c.attrs.get("title") or f"site{k}") for k, c in enumerate(cubes)]
    return [n if raw.count(n) == 1 else f"{n}#{k}" for k, n in enumerate(raw)]


def cube_list(cube: Any, where: str) -> list[xr.Dataset]:
    """The cubes of a ``cube`` argument: one Dataset, or a list (tuple, iterable) of Datasets.

    Parameters
    ----------
    cube : xarray.Dataset or sequence of xarray.Dataset
        As given.
    where : str
        The caller's name, for the error message.

    Returns
    -------
    list of xarray.Dataset
        The cubes, in order (empty when an empty sequence was given).

    Raises
    ------
    ConfigError
        Neither a Dataset nor a sequence of them: names what was found and,
        in a list, the position of each element that is not a Dataset.
    """
    if isinstance(cube, xr.Dataset):
        return [cube]
    if isinstance(cube, (str, bytes, Mapping, xr.DataArray)) or not hasattr(cube, "__iter__"):
        raise ConfigError(f"{where}: cube: expected a fusion cube (xarray.Dataset) or a list of them (one per site), "
                          f"found {type(cube).__name__}")
    cubes = list(cube)
    bad = [f"{type(c).__name__} at position {k}" for k, c in enumerate(cubes) if not isinstance(c, xr.Dataset)]
    if bad:
        raise ConfigError(f"{where}: cube: expected a list of fusion cubes (xarray.Dataset, one per site), found "
                          f"{', '.join(bad)} in a list of {len(cubes)}")
    return cubes


def check_site_cube(cube: xr.Dataset, name: str, position: int, n_sites: int, where: str) -> None:
    """:func:`fusets_dl.validate.check_cube` (NDVI required), its error naming the site when there are several.

    Parameters
    ----------
    cube : xarray.Dataset
        One training cube.
    name : str
        Its site name (:func:`site_names`).
    position : int
        Its position in the list of cubes.
    n_sites : int
        How many cubes are trained on together.
    where : str
        The caller's name, for the error message.

    Raises
    ------
    FusionError
        The error :func:`~fusets_dl.validate.check_cube` raises (the same
        class), prefixed with ``where``, the site and its position when
        ``n_sites > 1``.
    """
    try:
        check_cube(cube, need_target=True)
    except FusionError as exc:
        if n_sites == 1:
            raise
        raise type(exc)(f"{where}: site {name!r} (position {position}): {exc}") from exc


def split_list(split: Any, cubes: Sequence[xr.Dataset], names: Sequence[str], where: str) -> list[dict[str, Any]] | None:
    """Explicit block splits, one per cube, each checked against its cube (:func:`~fusets_dl.evaluation.splits.check_split`).

    Parameters
    ----------
    split : dict, sequence of dict or None
        As given to ``train(split=...)``: one split (one cube), or one per cube.
    cubes : sequence of xarray.Dataset
        The training cubes.
    names : sequence of str
        Their site names (:func:`site_names`).
    where : str
        The caller's name, for the error message.

    Returns
    -------
    list of dict or None
        The checked splits in the order of ``cubes``; None when ``split`` is None.

    Raises
    ------
    ConfigError
        ``split`` is neither a dict nor a list of dicts, the count is not
        one per cube, or a split does not fit its cube (the site named when
        there are several).
    """
    if split is None:
        return None
    if isinstance(split, Mapping):
        splits = [split]
    elif isinstance(split, (list, tuple)):
        splits = list(split)
    else:
        raise ConfigError(f"{where}: split: expected a block split (a dict with keys {list(SPLIT_KEYS)}, as "
                          "fusets_dl.evaluation.splits.split_blocks returns it) or a list of them, one per cube; "
                          f"found {found_value(split)}")
    if len(splits) != len(cubes):
        raise ConfigError(f"{where}: split: expected one split per cube ({len(cubes)}: {list(names)}), found {len(splits)}")
    return [
        check_split(s, c.sizes["y"], c.sizes["x"], where=f"{where}: split" + (f" of site {n!r}" if len(cubes) > 1 else ""))
        for s, c, n in zip(splits, cubes, names, strict=True)
    ]


def site_splits(
    cubes: Sequence[xr.Dataset], names: Sequence[str], split: Any, config: TrainConfig, where: str
) -> list[dict[str, Any]]:
    """One block split per cube: the given ones (checked against their cubes), or seeded ``config.seed + k`` for the k-th cube.

    Each split records which way its cube's ``y``/``x`` run
    (:data:`~fusets_dl.evaluation.splits.ORDER_KEY`): its block numbers count
    in that order, and :func:`~fusets_dl.evaluation.splits.model_blocks`
    lays them on no cube stored the other way.

    Each cube draws its own split, so two cubes of the same size do not
    hold out the same blocks (both trainers: the per-date MLP and the
    sequence model).

    Parameters
    ----------
    cubes : sequence of xarray.Dataset
        The sites (only their sizes are read).
    names : sequence of str
        Their names (:func:`site_names`), for the messages.
    split : dict, sequence of dict or None
        As given to the trainer (:func:`split_list`).
    config : TrainConfig
        ``seed`` and ``block_size``.
    where : str
        The caller, for the messages.

    Returns
    -------
    list of dict
        A split per cube, in the form of :func:`~fusets_dl.evaluation.splits.split_blocks`.

    Raises
    ------
    ConfigError
        ``seed + len(cubes) - 1`` beyond the largest seed torch takes, or a bad given split.
    InsufficientDataError
        A cube too small for a split (named when there are several).
    """
    given = split_list(split, cubes, names, where)
    if given is not None:
        return [{**g, ORDER_KEY: list(against_north_up(c))} for g, c in zip(given, cubes, strict=True)]
    if config.seed + len(cubes) - 1 > MAX_SEED:
        raise ConfigError(f"{where}: TrainConfig.seed: expected at most {MAX_SEED - len(cubes) + 1} with {len(cubes)} cubes (cube k "
                          f"draws its split with seed + k, and torch's seeds are 64-bit), found {config.seed}")
    out = []
    for k, (name, c) in enumerate(zip(names, cubes, strict=True)):
        try:  # ensemble=1: the copy must not check seed + k against the members again
            drawn = split_blocks(c.sizes["y"], c.sizes["x"], replace(config, seed=config.seed + k, ensemble=1))
            out.append({**drawn, ORDER_KEY: list(against_north_up(c))})  # block numbers count in this cube's storage order
        except InsufficientDataError as exc:
            if len(cubes) == 1:
                raise
            raise InsufficientDataError(f"{where}: site {name!r} (position {k}): {exc}") from exc
    return out


def check_distinct_scenes(cubes: Sequence[xr.Dataset], names: Sequence[str], where: str) -> None:
    """Refuse the same scene given twice: each copy's held-out blocks would be trained on through the other.

    Parameters
    ----------
    cubes : sequence of xarray.Dataset
        The sites.
    names : sequence of str
        Their names, for the message.
    where : str
        The caller, for the message.

    Raises
    ------
    ConfigError
        Two cubes on the same dates and the same grid (x, y, and a point table's coordinates).
    """
    seen: dict[tuple[Any, ...], str] = {}
    for name, c in zip(names, cubes, strict=True):
        grid = [np.asarray(c[k].values).tobytes() for k in sorted(map(str, c.coords))
                if c[k].dims in (("y",), ("x",)) and c[k].dtype.kind in "fiuUS"]  # x, y, and a point table's lon/lat/point
        key = (c.sizes["time"], c.sizes["y"], c.sizes["x"], c["time"].values.tobytes(), *grid)
        if key in seen:
            raise ConfigError(
                f"{where}: expected distinct scenes, found {seen[key]!r} and {name!r} on the same dates and grid: each copy's "
                "held-out blocks would be training blocks of the other, so the held-out metrics would not be held out"
            )
        seen[key] = name
