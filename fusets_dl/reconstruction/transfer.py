"""Does a model trained elsewhere help on this cube? Its skill measured on the cube's own clear views.

On a cube the model was not trained on, :func:`~fusets_dl.reconstruction.reconstruct`
chooses its setting on held-out spells of the cube's own clear views where the
window below holds enough pixels (``FOREIGN_CALIBRATION_MIN_PIXELS`` of
:mod:`.api`); on a smaller cube (a short point table), or one too short to
calibrate on, it uses the transfer setting (fixed weights, the prediction
corrected by each pixel's clear views), with the check of this module. Where the model does not travel, that fills gaps worse
than linear interpolation of the clear views alone: the shipped pre-trained
model on the south-west France points (1.27 x linear), a grassland-trained
model on the Flanders crops (1.29 x). Before it fills anything, the transfer
setting now measures :func:`.kernels.prediction_skill` on a bounded window
of the cube: the share of the clear views' variance, pixel by pixel, that
the level-corrected prediction explains. At or below :data:`SKILL_FLOOR` the
prediction is left out and the gaps are interpolated from the clear views
(the S2-only setting), with a warning.

Why one decision per cube and not per pixel: a pixel's skill rests on its
few clear views and is noisy. Per pixel, the fallback took the other
WorldCereal patch (where the patch-A models help, cube skill 0.42-0.71) from
0.81 to 0.89 x linear; per cube it leaves every such case as it was
(``docs/reconstruction.md``).

Why a central window: the decision must not depend on the chunking (the
same output chunked and unchunked) and must not read the whole cube before
the lazy reconstruction does; a window of at most :data:`SKILL_MAX_PIXELS`
pixels around the centre touches few chunks, and holds every pixel of a
small patch or of a point table up to that many points.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dask
import numpy as np
import xarray as xr

from .kernels import prediction_skill

log = logging.getLogger("fusets_dl")

__all__ = ["FOREIGN_CUBE_WARNING", "SKILL_FLOOR", "SKILL_MAX_PIXELS", "SKILL_MIN_PIXELS", "TransferSkill", "skill_window", "transfer_skill"]

#: Start of the warning given when ``weights="model"`` meets a cube the model was not trained on.
FOREIGN_CUBE_WARNING = "reconstruct: the model was not trained on this cube (another place or period)"
#: At or below this cube skill the transfer setting leaves the prediction out (S2-only interpolation).
SKILL_FLOOR = 0.0
#: Most pixels of the window the skill is measured on (128 x 128 for an image).
SKILL_MAX_PIXELS = 16384
#: Fewest pixels with 5 clear dates for a decision; fewer keep the prediction.
SKILL_MIN_PIXELS = 30


@dataclass(frozen=True)
class TransferSkill:
    """The skill measured on a cube's window.

    Attributes
    ----------
    skill : float
        :func:`.kernels.prediction_skill` (NaN when not measured).
    pixels : int
        Pixels that counted (5 clear dates with a prediction).
    window : str
        The window, e.g. ``"y 0:32, x 0:32"``.
    """

    skill: float
    pixels: int
    window: str

    @property
    def useless(self) -> bool:
        """Whether the prediction is left out: measured on enough pixels and below :data:`SKILL_FLOOR`."""
        return self.pixels >= SKILL_MIN_PIXELS and bool(np.isfinite(self.skill)) and self.skill <= SKILL_FLOOR

    def describe(self) -> str:
        """The skill in words, for a warning: its value, or why it is unknown.

        Returns
        -------
        str
            E.g. ``"-2.18 on 500 pixels of the window y 0:1, x 0:500"``.
        """
        if self.pixels < SKILL_MIN_PIXELS:
            return f"unknown (only {self.pixels} pixels of the window {self.window} have 5 clear views)"
        if not np.isfinite(self.skill):
            return f"not measurable (the clear views of the {self.pixels} pixels of the window {self.window} do not vary)"
        return f"{self.skill:.2f} on {self.pixels} pixels of the window {self.window}"


def skill_window(ny: int, nx: int) -> tuple[slice, slice]:
    """The central window of at most :data:`SKILL_MAX_PIXELS` pixels (at most 128 rows; a point table's every point up to that).

    Parameters
    ----------
    ny, nx : int
        The cube's size in y and x.

    Returns
    -------
    (slice, slice)
        Rows and columns of the window.
    """
    wy = min(ny, 128)
    wx = min(nx, max(128, SKILL_MAX_PIXELS // max(wy, 1)))
    y0, x0 = (ny - wy) // 2, (nx - wx) // 2
    return slice(y0, y0 + wy), slice(x0, x0 + wx)


def transfer_skill(cube: xr.Dataset, predicted: xr.DataArray, window: str | None = None) -> TransferSkill:
    """The prediction's skill on the clear views of the cube's central window (computed now: a bounded sample).

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube (``NDVI``: the clear views).
    predicted : xarray.DataArray
        The prediction on the whole cube (lazy or not: only the window is
        computed).
    window : str, optional
        The window's name in the result, when ``cube`` is itself a window
        cut from a larger cube (default: the window found in ``cube``).

    Returns
    -------
    TransferSkill
        The skill, the pixels that counted and the window.
    """
    wy, wx = skill_window(cube.sizes["y"], cube.sizes["x"])
    o, p = (a.isel(y=wy, x=wx).transpose("y", "x", "time").data for a in (cube["NDVI"], predicted))
    o, p = dask.compute(o, p)  # one pass: a prediction that reads the NDVI shares its chunks with the views
    obs, prd = np.asarray(o, dtype=np.float64), np.asarray(p, dtype=np.float64)
    skill, n = prediction_skill(obs.reshape(-1, obs.shape[-1]), prd.reshape(-1, prd.shape[-1]))
    where = window or f"y {wy.start}:{wy.stop}, x {wx.start}:{wx.stop}"
    log.info("reconstruct: the model's skill on this cube's clear views: %.3f (%d pixels of the window %s)", skill, n, where)
    return TransferSkill(skill=skill, pixels=n, window=where)
