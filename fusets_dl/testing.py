"""Helpers for tests of code built on fusets_dl: count Dask computations, assert laziness.

>>> from fusets_dl.testing import assert_lazy, raise_if_dask_computes
>>> with raise_if_dask_computes():
...     out = cube.fusion.predict_ndvi(model)   # building the graph computes nothing
>>> assert_lazy(out)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dask
import xarray as xr

__all__ = ["CountingScheduler", "assert_lazy", "raise_if_dask_computes"]


class CountingScheduler:
    """A Dask scheduler that counts computations and refuses more than ``max_computes``.

    Parameters
    ----------
    max_computes : int
        Computations allowed before the next one raises ``RuntimeError``.
    """

    def __init__(self, max_computes: int = 0) -> None:
        self.max_computes = max_computes
        self.total_computes = 0

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        """Run the graph synchronously, counting it."""
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(f"Too many Dask computations: {self.total_computes} > {self.max_computes} allowed")
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[CountingScheduler]:
    """Context in which more than ``max_computes`` Dask computations raise (xarray's test idiom).

    Parameters
    ----------
    max_computes : int
        Computations allowed inside the block.

    Yields
    ------
    CountingScheduler
        The scheduler, whose ``total_computes`` tells how many ran.
    """
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


def assert_lazy(obj: xr.Dataset | xr.DataArray) -> None:
    """Assert that every data variable of ``obj`` is Dask-backed (nothing was computed into memory).

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        The result to check.

    Raises
    ------
    AssertionError
        Naming the variables that hold NumPy arrays.
    """
    arrays = {obj.name: obj} if isinstance(obj, xr.DataArray) else dict(obj.data_vars)
    eager = [str(k) for k, v in arrays.items() if v.chunks is None]
    assert not eager, f"expected Dask-backed (lazy) variables, found in-memory arrays for {eager}"
