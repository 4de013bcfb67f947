"""Calibrate the reconstruction on held-out spells of the region at hand.

The fixed smoother settings of :func:`~fusets_dl.reconstruction.reconstruct`
(predictions weighted by inverse variance, about 0.1 of an observation, and
lambda 1000 on a 1-day grid) were tuned on temperate crops with one season a
year. Where crops cycle in 3-4 months and clear views are rare, they flatten
the curve inside long gaps, and the reconstruction can end up worse than the
S1 prediction it contains. :func:`calibrate` measures instead of assuming:

1. It samples at most ``max_pixels`` pixels (a seeded hash of their position)
   from the model's **validation** blocks, and from its training blocks too
   only when the validation blocks hold fewer than :data:`MIN_VAL_PIXELS`
   (the prediction is optimistic where the model was fitted, which would
   make the calibration trust it too much); never from its **test** blocks, so the
   comparison's scores stay on data the calibration never saw. A model with
   no block split (trained elsewhere) samples the whole cube.
2. It hides ``n_gaps`` spells of ``gap_days`` days of clear observations in
   each sampled pixel (the spells of :func:`fusets_dl.evaluation.gaps.hide_gaps`,
   which hide S2 views: on a pairing cube at every S1 date that carries one).
3. It reconstructs the hidden dates with every setting of a small grid:
   prediction weight (relative to an observation's 1), lambda, and the
   long-gap guard ``pred_gap_days`` (None: the smoothed curve everywhere;
   ``d``: the prediction alone from ``d`` days away from the nearest
   observation, blended in linearly; 0: the prediction at every date without
   an observation, which on the hidden dates *is* the prediction alone).
4. It keeps the setting with the lowest RMSE on the hidden values. Because
   ``pred_gap_days=0`` is always in the grid, the chosen setting is never
   worse than the prediction alone on the calibration spells.

Only the sampled pixels are loaded and predicted (a bounded cost, whatever
the size of the cube); the reconstruction of the whole cube with the chosen
setting stays lazy. With ``max_days`` (``reconstruct`` passes 730), a longer
series is calibrated on its central ``max_days`` (:func:`spell_window`, with
:data:`WINDOW_CONTEXT_DAYS` of context either side), so the cost is bounded
in time too: on a 96 x 96 cube, 10 years took 57 s and 825 MB for the whole
series.

When it cannot calibrate (a series too short for ``n_gaps`` spells of
``gap_days``: :class:`~fusets_dl.errors.ConfigError`; no sampled pixel with a
hidden value and ``min_clear`` clear ones left: :class:`~fusets_dl.errors.InsufficientDataError`),
:func:`calibrate` and so ``reconstruct(weights="auto")`` raise: there is no
silent fallback to the fixed setting. A setting chosen on fewer than
:data:`MIN_HIDDEN` hidden values is returned with a ``UserWarning``. At
training time :func:`calibrate_sites` skips such a site and, when no site can
be calibrated, returns None with a ``UserWarning``: the model then keeps the
fixed setting (inverse-variance weights, lambda 1000, no guard), which
``reconstruct(weights="model")`` uses.
"""

from __future__ import annotations

import itertools
import logging
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .._rng import hash_uniform
from .._series import nearest_cells
from .._warn import warn_user
from ..errors import ConfigError, InsufficientDataError
from ..evaluation.gaps import hide_gaps, hide_views, s2_view_days
from ..evaluation.splits import block_mask, model_blocks, with_split
from ..validate import is_finite_positive, is_whole
from .kernels import (
    STD_GROWTH_DAYS,
    debias_prediction,
    follow_prediction,
    obs_distance,
    prediction_curve,
    reconstruct_block,
    reconstruct_pixels,
)
from .uncertainty import pred_std_table
from .views import cube_views, union_arrays

if TYPE_CHECKING:
    from ..models import FusionModel

__all__ = ["S2_ONLY", "STORED_KEY", "STORED_VIEWS_KEY", "WINDOW_CONTEXT_DAYS", "Calibration", "CalibrationGrid", "calibrate", "calibrate_sites", "calibrate_stored", "check_setting", "is_calibration", "model_blocks", "pool_calibrations", "reads_ndvi",
           "score_settings", "spell_window", "std_scale_for"]

log = logging.getLogger("fusets_dl")

#: The S2-only setting: the prediction ignored, the clear observations linearly interpolated.
S2_ONLY: dict[str, Any] = {"w_pred": 0.0, "lam": None, "pred_gap_days": None, "debias_days": None}

#: Hash stream of the calibration's pixel sample (the comparison uses 7 and 11).
_S_SAMPLE = 23


@dataclass(frozen=True)
class CalibrationGrid:
    """The settings :func:`calibrate` tries.

    Parameters
    ----------
    pred_weights : tuple of float or None
        Smoother weight of a prediction, relative to an observation's 1. The
        smallest (0.01) all but ignores the prediction: the smoothed clear
        observations, which is what a model that does not travel to the
        region at hand deserves. None: the inverse-variance weight,
        ``(obs_std / std)**2`` with the std the model's own test error at
        that distance from a clear view (the fixed setting's weight); it
        trusts a prediction more where the model is more accurate. Added to
        the default 2026-11-27: on another WorldCereal patch, patch-A models
        with optical context filled 60-day spells at 0.744 x linear
        interpolation with it, 0.756 without (nine seeds, each better;
        docs/reconstruction.md, "The calibration grid").
    lams : tuple of float
        Whittaker lambda on a 1-day grid.
    pred_gap_days : tuple of float or None
        Long-gap guard distances, days (None: off). 0 (the prediction alone
        at every date without an observation) is always added. The longer
        ones (60, 90 days, since 2026-11-27) blend a weak prediction into
        the smoothed clear views by distance alone: at 30 days from a clear
        view a third of the prediction with 90.
    debias_days : tuple of float or None
        The prediction as it is (None) or corrected by its residuals at the
        clear observations (:func:`~.kernels.debias_prediction`, this
        relaxation distance in days); every other setting is tried with each.
    s2_only : bool
        Also try the clear observations alone, linearly interpolated
        (``w_pred`` 0, ``lam`` None): the choice when the model does not
        travel to the region, so that the calibrated reconstruction is not
        worse than S2-only interpolation on the calibration spells either.
    """

    pred_weights: tuple[float | None, ...] = (0.01, 0.1, 0.3, 1.0, 3.0, None)
    lams: tuple[float, ...] = (10.0, 100.0, 1000.0)
    pred_gap_days: tuple[float | None, ...] = (None, 0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 90.0)
    debias_days: tuple[float | None, ...] = (None, 30.0)
    s2_only: bool = True

    def settings(self) -> list[dict[str, Any]]:
        """Every combination, as ``{"w_pred", "lam", "pred_gap_days"}`` dicts.

        Returns
        -------
        list of dict
            The grid, with ``pred_gap_days=0`` included.

        Raises
        ------
        ConfigError
            On an empty axis, a weight or lambda not positive, or a negative gap distance.
        """
        gaps = tuple(self.pred_gap_days) + ((0.0,) if 0.0 not in self.pred_gap_days else ())
        if not self.pred_weights or not self.lams:
            raise ConfigError("CalibrationGrid: expected at least one prediction weight and one lambda, found an empty axis")
        if not all(is_finite_positive(v) for v in (*(w for w in self.pred_weights if w is not None), *self.lams)):
            raise ConfigError(f"CalibrationGrid: expected weights > 0 (or None) and lambdas > 0, found {self.pred_weights}, {self.lams}")
        if any(g is not None and not (isinstance(g, numbers.Real) and np.isfinite(g) and g >= 0) for g in gaps):
            raise ConfigError(f"CalibrationGrid: expected pred_gap_days >= 0 or None, found {self.pred_gap_days}")
        if not self.debias_days or any(d is not None and not is_finite_positive(d) for d in self.debias_days):
            raise ConfigError(f"CalibrationGrid: expected debias_days None or > 0 (at least one), found {self.debias_days}")
        out: list[dict[str, Any]] = [
            {"w_pred": None if w is None else float(w), "lam": float(lam), "pred_gap_days": None if g is None else float(g), "debias_days": None if b is None else float(b)}
            for b, w, lam, g in itertools.product(self.debias_days, self.pred_weights, self.lams, gaps)
        ]
        if self.s2_only:
            out.append(dict(S2_ONLY))
        return out


@dataclass
class Calibration:
    """The chosen reconstruction setting and the scores it was chosen on.

    Parameters
    ----------
    settings : dict
        ``w_pred`` (prediction weight, observation 1), ``lam`` (1-day grid;
        None: no smoothing), ``pred_gap_days`` and ``debias_days`` (None or days): pass as
        ``reconstruct(..., weights={"predicted": w_pred}, lam=lam, pred_gap_days=..., debias_days=...)``
        (``smooth=False`` when ``lam`` is None; ``weights=None`` when ``w_pred`` is
        None, the inverse-variance weight), or pass the calibration itself as
        ``weights``. ``w_pred`` 0 and ``lam`` None: the S2-only setting (:data:`S2_ONLY`).
    rmse : float
        Held-out RMSE of the chosen setting on the calibration spells.
    rmse_prediction : float
        Held-out RMSE of the S1 prediction alone on the same values.
    rmse_default : float
        Held-out RMSE of the fixed default (inverse-variance weights, lambda 1000, no guard).
    n_pixels, n_hidden : int
        Pixels sampled and hidden clear observations scored.
    blocks : str
        Where the pixels come from (``"val"``, ``"val+train"`` or ``"all"``).
    table : list of dict
        Every setting tried with its ``rmse``, ``bias``.
    std_scale : float
        Factor on the ``NDVI_std`` of every value that is not an observation,
        under the chosen setting: the one whose shares of hidden values within
        +-1 and +-2 std are closest to a normal distribution's 68.3 % and
        95.4 % (:func:`std_scale_for`). The std of a prediction is its model's
        test RMSE; the setting (residual correction, smoothing with the
        observations around) makes the filled values better than that, so
        unscaled the std is too wide. 1: not calibrated.
    std_growth_days : float or None
        The std of those values first grows with the distance to the
        nearest clear view (:func:`~.kernels.std_growth`, this many days);
        the factor is fitted on top. None: no growth (a calibration made
        before it existed).
    """

    settings: dict[str, Any]
    rmse: float
    rmse_prediction: float
    rmse_default: float
    n_pixels: int
    n_hidden: int
    blocks: str
    table: list[dict[str, Any]] = field(repr=False, default_factory=list)
    std_scale: float = 1.0
    std_growth_days: float | None = None

    def to_attrs(self) -> dict[str, Any]:
        """The calibration as netCDF-safe attributes (numbers and strings only).

        Returns
        -------
        dict
            ``calibration_w_pred`` (-1 for None: the inverse-variance weight), ``calibration_lam``,
            ``calibration_pred_gap_days``, ``calibration_debias_days`` (-1 for None), the three RMSEs, the counts, the blocks
            ``calibration_std_scale`` and ``calibration_std_growth_days`` (-1 for None).
        """
        g = self.settings["pred_gap_days"]
        return {
            "calibration_w_pred": -1.0 if self.settings["w_pred"] is None else float(self.settings["w_pred"]),
            "calibration_lam": -1.0 if self.settings["lam"] is None else float(self.settings["lam"]),
            "calibration_pred_gap_days": -1.0 if g is None else float(g),
            "calibration_debias_days": -1.0 if self.settings.get("debias_days") is None else float(self.settings["debias_days"]),
            "calibration_rmse": float(self.rmse),
            "calibration_rmse_prediction": float(self.rmse_prediction),
            "calibration_rmse_default": float(self.rmse_default),
            "calibration_pixels": int(self.n_pixels),
            "calibration_hidden": int(self.n_hidden),
            "calibration_blocks": self.blocks,
            "calibration_std_scale": float(self.std_scale),
            "calibration_std_growth_days": -1.0 if self.std_growth_days is None else float(self.std_growth_days),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything as a plain dict (JSON-friendly).

        Returns
        -------
        dict
            The dataclass fields.
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """A calibration from :meth:`to_dict` or from a reconstruction's attrs (:meth:`to_attrs`), checked.

        This is how one setting reaches every tile of a region: calibrate once
        (``reconstruct(..., weights="auto")`` on a representative part, or
        :func:`calibrate_sites`), then pass the result, or the output's attrs,
        as ``reconstruct(..., weights=...)`` (an openEO context takes it as
        JSON).

        Parameters
        ----------
        data : mapping
            The fields of :meth:`to_dict` (``settings`` and the scores;
            ``table`` optional; the ``gap_days``, ``n_gaps``, ``seed`` and
            ``sites`` that :func:`calibrate_sites` and a model's
            ``info["reconstruction"]`` add are accepted and dropped), or
            attrs holding the ``calibration_*`` keys of :meth:`to_attrs`
            (other attrs are ignored; -1 stands for None).

        Returns
        -------
        Calibration
            The calibration, every field checked.

        Raises
        ------
        ConfigError
            Neither form, a missing or unknown key, a setting out of range (a
            negative weight, a lambda not > 0, a negative distance, a std
            factor not > 0), or a score that is not a number (counts: whole
            numbers >= 0), with the value found.
        """
        if isinstance(data, Calibration):
            data = data.to_dict()
        if not isinstance(data, Mapping):
            raise ConfigError(f"Calibration.from_dict: expected a mapping, found {type(data).__name__}")
        if {"observed", "predicted"} & set(data):
            raise ConfigError("Calibration.from_dict: expected a calibration or a dict of 'observed'/'predicted' weights, found both "
                              f"(keys {sorted(k for k in data if k in ('observed', 'predicted'))} beside a calibration's)")
        if "settings" in data:
            fields = {k: v for k, v in data.items() if k not in _RECORD_KEYS}
        elif "calibration_w_pred" in data:
            fields = _fields_from_attrs(data)
        else:
            raise ConfigError("Calibration.from_dict: expected Calibration.to_dict() (a 'settings' key) or a reconstruction's "
                              f"attrs (the calibration_* keys), found keys {sorted(map(str, data))[:12]}")
        missing = [k for k in ("settings", "rmse", "rmse_prediction", "rmse_default", "n_pixels", "n_hidden", "blocks") if k not in fields]
        unknown = sorted(set(fields) - {f.name for f in cls.__dataclass_fields__.values()})
        if missing or unknown:
            raise ConfigError(f"Calibration.from_dict: expected the fields of Calibration.to_dict(), found {sorted(fields)} "
                              f"(missing {missing}, unknown {unknown})")
        settings = check_setting(fields["settings"])
        in_setting = settings.pop("std_growth_days", None)  # where the transfer setting keeps it
        if in_setting is not None and fields.get("std_growth_days") not in (None, in_setting):
            raise ConfigError(f"Calibration.from_dict: std_growth_days {fields['std_growth_days']!r} and settings['std_growth_days'] "
                              f"{in_setting!r} differ; expected one")
        fields["settings"] = settings
        fields["std_growth_days"] = fields.get("std_growth_days", None) if in_setting is None else in_setting
        bad = [f"{k}: expected a number, found {type(fields[k]).__name__} {fields[k]!r}"
               for k in ("rmse", "rmse_prediction", "rmse_default") if not _is_number(fields[k])]
        bad += [f"{k}: expected a whole number >= 0, found {type(fields[k]).__name__} {fields[k]!r}"
                for k in ("n_pixels", "n_hidden") if not (_is_number(fields[k]) and is_whole(fields[k]) and fields[k] >= 0)]
        if not isinstance(fields["blocks"], str):
            bad.append(f"blocks: expected a string, found {type(fields['blocks']).__name__} {fields['blocks']!r}")
        if not isinstance(fields.get("table", []), list):
            bad.append(f"table: expected a list, found {type(fields['table']).__name__}")
        growth, scale = fields.get("std_growth_days"), fields.get("std_scale", 1.0)
        if not (_is_number(scale) and is_finite_positive(scale)):
            bad.append(f"std_scale: expected a number > 0, found {type(scale).__name__} {scale!r}")
        if not (growth is None or (_is_number(growth) and is_finite_positive(growth))):
            bad.append(f"std_growth_days: expected a number > 0 or None, found {type(growth).__name__} {growth!r}")
        if bad:
            raise ConfigError("Calibration.from_dict: " + "; ".join(bad))
        for k in ("rmse", "rmse_prediction", "rmse_default", "std_scale"):
            fields[k] = float(fields.get(k, 1.0))
        fields["n_pixels"], fields["n_hidden"] = int(fields["n_pixels"]), int(fields["n_hidden"])
        fields["std_growth_days"] = None if growth is None else float(growth)
        return cls(**fields)


#: Keys a stored calibration (``calibrate_sites``, ``model.info["reconstruction"]``) holds beside the fields.
_RECORD_KEYS = ("gap_days", "n_gaps", "seed", "sites", "unpaired_views")


def _is_number(v: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def is_calibration(value: Any) -> bool:
    """Whether ``value`` is a calibration: a :class:`Calibration`, its ``to_dict()`` or attrs with ``calibration_*`` keys.

    Parameters
    ----------
    value : object
        A ``weights`` argument of :func:`~fusets_dl.reconstruction.reconstruct`.

    Returns
    -------
    bool
        True for a calibration in any of its forms (not checked: see :meth:`Calibration.from_dict`).
    """
    if isinstance(value, Calibration):
        return True
    return isinstance(value, Mapping) and ("settings" in value or any(str(k).startswith("calibration_") for k in value))


def _fields_from_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`Calibration` fields written by :meth:`Calibration.to_attrs` (-1: None); values checked by the caller."""
    keys = ("w_pred", "lam", "pred_gap_days", "debias_days", "rmse", "rmse_prediction", "rmse_default", "pixels", "hidden",
            "blocks", "std_scale", "std_growth_days")
    missing = [f"calibration_{k}" for k in keys if f"calibration_{k}" not in attrs]
    if missing:
        raise ConfigError(f"Calibration.from_dict: attrs: expected every calibration_* key of Calibration.to_attrs(), found no {missing}")
    a = {k: attrs[f"calibration_{k}"] for k in keys}
    for k, v in a.items():
        if isinstance(v, np.generic):  # read back from netCDF / Zarr
            a[k] = v.item()
        if isinstance(a[k], bytes):
            a[k] = a[k].decode("utf-8", errors="replace")
    bad = [f"calibration_{k}: expected a number, found {type(v).__name__} {v!r}" for k, v in a.items() if k != "blocks" and not _is_number(v)]
    if bad:
        raise ConfigError("Calibration.from_dict: attrs: " + "; ".join(bad))

    def _opt(v: Any) -> float | None:
        return None if float(v) == -1.0 else float(v)

    return {
        "settings": {"w_pred": _opt(a["w_pred"]), "lam": _opt(a["lam"]), "pred_gap_days": _opt(a["pred_gap_days"]),
                     "debias_days": _opt(a["debias_days"])},
        "rmse": a["rmse"], "rmse_prediction": a["rmse_prediction"], "rmse_default": a["rmse_default"],
        "n_pixels": a["pixels"], "n_hidden": a["hidden"], "blocks": a["blocks"],
        "std_scale": a["std_scale"], "std_growth_days": _opt(a["std_growth_days"]),
    }


def check_setting(setting: Any) -> dict[str, Any]:
    """A reconstruction setting (``w_pred``, ``lam``, ``pred_gap_days``, ``debias_days``), checked.

    Parameters
    ----------
    setting : mapping
        ``w_pred`` (>= 0; None: the fixed inverse-variance weight), ``lam``
        (> 0, or None: no smoothing), ``pred_gap_days`` (>= 0 or None),
        ``debias_days`` (> 0 or None; optional).

    Returns
    -------
    dict
        The setting with floats (None kept).

    Raises
    ------
    ConfigError
        A missing or unknown key, or a value out of range, with the value found.
    """
    if not isinstance(setting, Mapping):
        raise ConfigError(f"calibration setting: expected a mapping, found {type(setting).__name__} {setting!r}")
    need, opt = ("w_pred", "lam", "pred_gap_days"), ("debias_days", "std_growth_days")
    missing, unknown = [k for k in need if k not in setting], sorted(set(setting) - set(need) - set(opt))
    if missing or unknown:
        raise ConfigError(f"calibration setting: expected keys {list(need)} (and optionally {list(opt)}), found {sorted(setting)}")

    def _num(v: Any) -> bool:
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and bool(np.isfinite(v))

    rules = {"w_pred": (lambda v: v is None or (_num(v) and v >= 0), "a number >= 0 or None"),
             "lam": (lambda v: v is None or (_num(v) and v > 0), "a number > 0 or None"),
             "pred_gap_days": (lambda v: v is None or (_num(v) and v >= 0), "a number >= 0 or None"),
             "debias_days": (lambda v: v is None or (_num(v) and v > 0), "a number > 0 or None"),
             "std_growth_days": (lambda v: v is None or (_num(v) and v > 0), "a number > 0 or None")}
    out: dict[str, Any] = {}
    for key, v in setting.items():
        ok, want = rules[key]
        if not ok(v):
            raise ConfigError(f"calibration setting: {key}: expected {want}, found {type(v).__name__} {v!r}")
        out[key] = None if v is None else float(v)
    out.setdefault("debias_days", None)
    return out


#: Fewest hidden values :func:`calibrate` chooses a setting on without a warning (fewer: the choice is noise;
#: :func:`std_scale_for` needs 10 to fit the std factor at all).
MIN_HIDDEN = 30

#: Fewest validation-block pixels the calibration is content with before it adds training-block pixels
#: (where the model's prediction is optimistic: it was fitted there).
MIN_VAL_PIXELS = 64


def _sample_pixels(ny: int, nx: int, blocks: dict[str, Any], max_pixels: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Candidate pixels: validation blocks (training blocks too only when they hold too few); never test blocks."""
    if not blocks or "block_size" not in blocks:
        mask, where = np.ones((ny, nx), dtype=bool), "all"
        parts = [mask]
    else:
        val = block_mask(ny, nx, blocks, "val")
        parts = [val] if val.sum() >= MIN_VAL_PIXELS else [val, block_mask(ny, nx, blocks, "train")]
        where = "val"
    iy_all, ix_all = [], []
    for k, mask in enumerate(parts):
        iy, ix = np.nonzero(mask)
        order = np.argsort(hash_uniform(seed, _S_SAMPLE, k, iy, ix), kind="stable")
        iy_all.append(iy[order])
        ix_all.append(ix[order])
        if sum(a.size for a in iy_all) >= max_pixels:
            break
        if k == 0 and len(parts) > 1:  # the training blocks are read next
            where = "val+train"
    iy, ix = np.concatenate(iy_all), np.concatenate(ix_all)
    return iy, ix, where


def _pixel_cube(cube: xr.Dataset, iy: np.ndarray, ix: np.ndarray) -> xr.Dataset:
    """The chosen pixels as a (time, 1, pixel) cube, for a prediction of those pixels only."""
    sub = cube.isel(y=xr.DataArray(iy, dims="pix"), x=xr.DataArray(ix, dims="pix"))
    sub = sub.drop_vars([c for c in ("y", "x") if c in sub.coords]).rename(pix="x")
    sub = sub.assign_coords(x=np.arange(iy.size, dtype=np.float64)).expand_dims(y=[0.0])
    dims = [d for d in ("time", "y", "x") if d in sub.dims]
    return sub.transpose(*dims, ...)


def reads_ndvi(model: Any) -> bool:
    """Whether the model's features read the clear (or cloudy) NDVI of the cube (the ``optical`` group, ``cloudy_input``).

    Parameters
    ----------
    model : FusionModel
        Any object with a ``spec`` (:class:`~fusets_dl.FeatureSpec`); none: False.

    Returns
    -------
    bool
    """
    from ..features import FEATURE_GROUPS

    spec = getattr(model, "spec", None)
    if spec is None:
        return False
    return bool(getattr(spec, "cloudy_input", False)) or any(FEATURE_GROUPS[g].needs_ndvi for g in spec.groups)


def _hide_in(sub: xr.Dataset, hidden: np.ndarray) -> xr.Dataset:
    """The (time, 1, pixel) cube with the hidden values of ``hidden`` (pixel, time) removed from its NDVI variables."""
    mask = xr.DataArray(hidden.T[:, None, :], dims=("time", "y", "x"))
    out = sub.copy()
    for v in ("NDVI", "NDVI_cloudy"):
        if v in out:
            out[v] = out[v].where(~mask.transpose(*out[v].dims))
    return out


def _daily_grid(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 1-day working grid of a smoothed reconstruction and the cell of each input date (as ``reconstruct`` builds them)."""
    grid_days = np.arange(0.0, np.ceil(days[-1]) + 1.0)
    return grid_days, nearest_cells(days, grid_days)[0]


def score_settings(
    obs: np.ndarray, pred: np.ndarray, hidden: np.ndarray, days: np.ndarray, settings: list[dict[str, Any]], *,
    obs_std: float = 0.03, edges: np.ndarray | None = None, table: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """RMSE and bias on the hidden values of every setting (and of the prediction alone).

    Parameters
    ----------
    obs : numpy.ndarray
        ``(pixel, time)`` clear NDVI with every value (hidden ones included).
    pred : numpy.ndarray
        ``(pixel, time)`` S1 prediction.
    hidden : numpy.ndarray
        Boolean ``(pixel, time)``: the values hidden from the reconstruction and scored.
    days : numpy.ndarray
        ``(time,)`` days from the first date's midnight.
    settings : list of dict
        ``w_pred``, ``lam`` (None: no smoothing), ``pred_gap_days`` and
        optionally ``debias_days``; ``w_pred`` None weighs predictions by
        inverse variance (the default of ``reconstruct``), 0 ignores them.
    obs_std : float
        Std of a clear observation.
    edges, table : numpy.ndarray, optional
        Prediction std by range (:func:`~.uncertainty.pred_std_table`);
        default: one range with std 0.1.

    Returns
    -------
    list of dict
        One per setting (its keys plus ``rmse``, ``bias``, ``n``), then one
        with ``method="prediction"``; scored on the hidden values where every
        setting and the prediction are finite.
    """
    edges = np.array([-1.0, 1.0]) if edges is None else edges
    table = np.array([0.1]) if table is None else table
    shown = np.where(hidden, np.nan, obs)
    grid_days, out_idx = _daily_grid(days)
    # the guard is pointwise: sampled at the output dates it equals the kernel's, so each smoothing runs once
    has_o = np.zeros((obs.shape[0], grid_days.size), dtype=bool)
    cell, inside = nearest_cells(days, grid_days)
    for i in np.flatnonzero(inside):
        has_o[:, cell[i]] |= np.isfinite(shown[:, i])
    dist_at = {True: obs_distance(has_o, grid_days)[:, out_idx], False: obs_distance(np.isfinite(shown), days)}
    preds: dict[Any, np.ndarray] = {}
    smoothed: dict[tuple[Any, Any, Any], np.ndarray] = {}
    curves: dict[tuple[Any, bool], np.ndarray] = {}
    cand = hidden & np.isfinite(obs)  # only these values are scored: keep only them of each setting (memory)
    recs = []
    for s in settings:
        b = s.get("debias_days")
        if b not in preds:
            preds[b] = pred if b is None else debias_prediction(shown, pred, days, b)
        p_b = preds[b]
        key = (b, s["w_pred"], s["lam"])
        if key not in smoothed:
            daily = s["lam"] is not None
            smoothed[key] = reconstruct_pixels(
                shown, p_b, in_days=days, grid_days=grid_days if daily else days,
                out_idx=out_idx if daily else np.arange(days.size), obs_std=obs_std, w_obs=1.0,
                w_pred=s["w_pred"], edges=edges, table=table, lam=s["lam"], values_only=True,
            )[..., 0].astype(np.float64)
        r = smoothed[key]
        if s["pred_gap_days"] is not None and s["w_pred"] != 0:
            daily = s["lam"] is not None
            if (b, daily) not in curves:
                curves[b, daily] = prediction_curve(p_b, days, grid_days)[:, out_idx] if daily else p_b
            r = follow_prediction(r, curves[b, daily], dist_at[daily], s["pred_gap_days"])
            if daily:
                r = np.clip(r, -1.0, 1.0)
        recs.append(r[cand])
    recs.append(pred[cand].astype(np.float64))
    scored = np.ones(int(cand.sum()), dtype=bool)
    for r in recs:
        scored &= np.isfinite(r)
    rows = []
    truth = obs[cand][scored]
    for s, r in zip([*settings, {"method": "prediction"}], recs, strict=True):
        err = r[scored] - truth
        rows.append({**s, "rmse": float(np.sqrt(np.mean(err**2))) if err.size else np.nan, "bias": float(err.mean()) if err.size else np.nan, "n": int(err.size)})
    return rows


def std_scale_for(
    obs: np.ndarray, pred: np.ndarray, hidden: np.ndarray, days: np.ndarray, setting: dict[str, Any], *,
    obs_std: float = 0.03, edges: np.ndarray | None = None, table: np.ndarray | None = None,
    growth_days: float | None = STD_GROWTH_DAYS,
) -> tuple[float, int]:
    """The factor on the reconstruction's std of filled values that makes it cover the hidden values.

    The reconstruction of ``setting`` is run as ``reconstruct`` runs it (the
    kernel of :func:`~.kernels.reconstruct_block`, output at the cube dates,
    the std of filled values growing with the distance to the nearest clear
    view: :func:`~.kernels.std_growth`) with the ``hidden`` values removed; the factor ``s`` is the one whose
    shares of hidden values within ``+-s * std`` and ``+-2 s * std`` are
    closest to a normal distribution's 68.3 % and 95.4 %
    (:func:`~fusets_dl.models.sequence_model.fit_std_scale`, ``"coverage"``).

    Parameters
    ----------
    obs, pred, hidden, days
        As for :func:`score_settings`.
    setting : dict
        ``w_pred``, ``lam``, ``pred_gap_days``, ``debias_days`` (a row of the grid).
    obs_std : float
        Std of a clear observation.
    edges, table : numpy.ndarray, optional
        Prediction std by range; default: one range with std 0.1.
    growth_days : float, optional
        ``std_growth_days`` of the kernel (default :data:`~.kernels.STD_GROWTH_DAYS`);
        None: a flat std.

    Returns
    -------
    (float, int)
        The factor and the number of hidden values it was fitted on; (1.0, n)
        when fewer than 10 values are usable.
    """
    from ..models.sequence_model import fit_std_scale  # torch: imported only when calibrating

    edges = np.array([-1.0, 1.0]) if edges is None else edges
    table = np.array([0.1]) if table is None else table
    lam = setting["lam"]
    grid_days, out_idx = (days, np.arange(days.size)) if lam is None else _daily_grid(days)
    out = reconstruct_block(
        np.where(hidden, np.nan, obs), pred, in_days=days, grid_days=grid_days, out_idx=out_idx, obs_std=obs_std, w_obs=1.0,
        w_pred=setting["w_pred"], edges=edges, table=table, lam=lam, pred_gap_days=setting.get("pred_gap_days"),
        debias_days=setting.get("debias_days"), std_growth_days=growth_days,
    )
    val, std = out[..., 0].astype(np.float64), out[..., 1].astype(np.float64)
    ok = hidden & np.isfinite(obs) & np.isfinite(val) & np.isfinite(std) & (std > 0)
    n = int(ok.sum())
    if n < 10:
        return 1.0, n
    return float(fit_std_scale(obs[ok] - val[ok], std[ok], method="coverage")), n


#: Days of the series read either side of :func:`spell_window`'s window (the longest guard distance of the grid, 90
#: days): a spell at the window's edge is filled with the clear views beyond it, as in the whole series.
WINDOW_CONTEXT_DAYS = 90.0


def spell_window(t: pd.DatetimeIndex, span: tuple[float, float] | None, max_days: float | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The central ``max_days`` of the series (or of ``span``) where :func:`calibrate` places its spells; None: all of it.

    Parameters
    ----------
    t : pandas.DatetimeIndex
        The cube's dates, sorted.
    span : (float, float) or None
        The ``period`` in days from midnight of ``t[0]`` (None: the whole series).
    max_days : float or None
        Longest stretch the spells are placed in (None: no bound).

    Returns
    -------
    (pandas.Timestamp, pandas.Timestamp) or None
        Start and end of the window, or None where the series (its part in
        ``span``) spans ``max_days`` or less.

    Raises
    ------
    ConfigError
        ``max_days`` not a number > 0 (or None).
    """
    if max_days is None:
        return None
    if not (_is_number(max_days) and is_finite_positive(max_days)):
        raise ConfigError(f"calibrate: max_days: expected a number of days > 0 or None, found {type(max_days).__name__} {max_days!r}")
    origin = t[0].floor("D")
    days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(np.float64)
    lo, hi = (days[0], days[-1]) if span is None else (max(span[0], days[0]), min(span[1], days[-1]))
    if hi - lo <= max_days:
        return None
    mid = (lo + hi) / 2.0
    return origin + pd.Timedelta(days=mid - max_days / 2.0), origin + pd.Timedelta(days=mid + max_days / 2.0)


def _in_window(
    cube: xr.Dataset, predicted: xr.DataArray | None, t: pd.DatetimeIndex, window: tuple[pd.Timestamp, pd.Timestamp],
) -> tuple[xr.Dataset, xr.DataArray | None, pd.DatetimeIndex, np.ndarray, tuple[float, float]]:
    """The cube (and prediction) within the window and :data:`WINDOW_CONTEXT_DAYS` either side; its dates, days and the window in days."""
    ctx = pd.Timedelta(days=WINDOW_CONTEXT_DAYS)
    idx = np.flatnonzero((t >= window[0] - ctx) & (t <= window[1] + ctx))
    cube = cube.isel(time=idx)
    if predicted is not None:
        predicted = predicted.isel(time=idx)
    t = pd.DatetimeIndex(cube["time"].values)
    origin = t[0].floor("D")
    days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(np.float64)
    span = ((window[0] - origin) / pd.Timedelta(days=1), (window[1] - origin) / pd.Timedelta(days=1))
    return cube, predicted, t, days, (float(span[0]), float(span[1]))


def calibrate(
    cube: xr.Dataset,
    model: FusionModel,
    *,
    predicted: xr.DataArray | None = None,
    grid: CalibrationGrid | None = None,
    gap_days: float = 60.0,
    n_gaps: int = 3,
    max_pixels: int = 300,
    min_clear: int = 4,
    obs_std: float = 0.03,
    seed: int = 0,
    period: tuple[str, str] | None = None,
    device: str | None = None,
    settings: list[dict[str, Any]] | None = None,
    max_days: float | None = None,
) -> Calibration:
    """Choose the reconstruction's weights, lambda and long-gap guard on held-out spells of ``cube``.

    See the module docstring for the protocol.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the clear ``NDVI`` (NumPy or Dask;
        only the sampled pixels are loaded).
    model : FusionModel
        The model whose prediction the reconstruction uses; its ``blocks``
        say which pixels may be used (validation, then training blocks).
    predicted : xarray.DataArray, optional
        The prediction already computed on ``cube`` (``time, y, x``); default:
        the model predicts the sampled pixels only. Not used for a model whose
        features read the NDVI (optical context): it predicts the sampled
        pixels again with the calibration's spells hidden, so it never sees
        a value it is scored on.
    grid : CalibrationGrid, optional
        The settings tried (default :class:`CalibrationGrid`).
    gap_days : float
        Length of each hidden spell, days.
    n_gaps : int
        Spells per pixel.
    max_pixels : int
        Most pixels sampled (bounds the cost).
    min_clear : int
        Fewest clear observations a pixel keeps outside its spells.
    obs_std : float
        Std of a clear observation (as in ``reconstruct``).
    seed : int
        Seed of the pixel sample and the spells.
    period : (str, str), optional
        Hide the spells within these dates only (e.g. the season the model was
        not trained on, so that the calibration trusts its prediction as much
        as that season deserves); default: the whole series.
    device : str, optional
        Device of the prediction of the sampled pixels (when ``predicted`` is
        not given); None takes :func:`fusets_dl.set_options`.
    settings : list of dict, optional
        The settings tried, instead of ``grid``'s (e.g. one pooled setting,
        to score it and fit its ``std_scale`` on this cube).
    max_days : float, optional
        Bound on the series the calibration reads: where the series (or
        ``period``) spans more days, the spells are placed in its central
        ``max_days`` only (:func:`spell_window`) and the pixels are read
        there with :data:`WINDOW_CONTEXT_DAYS` either side, so the cost
        stays that of a ``max_days`` series however long the cube.
        Default None: the whole series (``reconstruct`` passes 730 days).

    Returns
    -------
    Calibration
        The chosen ``settings``, its RMSE, the RMSE of the prediction alone and
        of the fixed default on the same values, its ``std_scale``
        (:func:`std_scale_for`) and the whole table.

    Raises
    ------
    ConfigError
        ``gap_days``, ``n_gaps``, ``max_pixels``, ``min_clear``, ``seed`` or
        ``obs_std`` out of range or of the wrong type, a ``period`` outside
        the cube's dates, a ``max_days`` not > 0, or spells that do not fit
        the series (or its window).
    InsufficientDataError
        No sampled pixel keeps ``min_clear`` observations with a hidden one.

    Warns
    -----
    UserWarning
        The setting was chosen on fewer than :data:`MIN_HIDDEN` hidden values.
    """
    if not (is_finite_positive(gap_days) and is_whole(n_gaps) and n_gaps >= 1 and is_whole(max_pixels) and max_pixels >= 1 and is_finite_positive(obs_std)):
        raise ConfigError(
            f"calibrate: expected gap_days > 0, whole n_gaps >= 1 and max_pixels >= 1, obs_std > 0, "
            f"found {gap_days!r}, {n_gaps!r}, {max_pixels!r}, {obs_std!r}"
        )
    if not (is_whole(min_clear) and min_clear >= 0 and is_whole(seed)):
        raise ConfigError(f"calibrate: expected a whole min_clear >= 0 and a whole seed, found min_clear={min_clear!r}, seed={seed!r}")
    n_gaps, max_pixels, min_clear, seed = int(n_gaps), int(max_pixels), int(min_clear), int(seed)
    if settings is not None and not settings:
        raise ConfigError("calibrate: settings: expected at least one setting to try, found an empty list")
    if isinstance(grid, dict):
        try:
            grid = CalibrationGrid(**grid)
        except TypeError as exc:
            raise ConfigError(f"calibrate: grid: expected CalibrationGrid fields {list(CalibrationGrid.__dataclass_fields__)}, found {sorted(grid)}") from exc
    if grid is not None and not isinstance(grid, CalibrationGrid):
        raise ConfigError(f"calibrate: grid: expected a CalibrationGrid (or a dict of its fields), found {type(grid).__name__}")
    settings = list(settings) if settings is not None else (grid or CalibrationGrid()).settings()
    t = pd.DatetimeIndex(cube["time"].values)
    days = ((t - t[0].floor("D")) / pd.Timedelta(days=1)).to_numpy(np.float64)
    span = None
    if period is not None:
        t0 = t[0].floor("D")
        if isinstance(period, str) or len(period) != 2:
            raise ConfigError(f"calibrate: period: expected (start, end) dates, found {period!r}")
        try:
            span = tuple(float((pd.Timestamp(p) - t0) / pd.Timedelta(days=1)) for p in period)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"calibrate: period: expected (start, end) dates, found {period!r} ({exc})") from exc
        if not span[0] < span[1]:
            raise ConfigError(f"calibrate: period: expected (start, end) with start < end, found {period!r}")
        if span[1] <= days[0] or span[0] >= days[-1]:
            raise ConfigError(f"calibrate: period: expected dates that overlap the cube's {t[0].date()}..{t[-1].date()}, found {period!r}")
    window = spell_window(t, span, max_days)
    if window is not None:  # a long series: the spells in its central max_days, read with some context either side
        log.info("calibrate: a %.0f-day series: the spells in its central %g days (%s..%s), read with %g days either side",
                 days[-1] - days[0], max_days, window[0].date(), window[1].date(), WINDOW_CONTEXT_DAYS)
        cube, predicted, t, days, span = _in_window(cube, predicted, t, window)
    iy, ix, where = _sample_pixels(cube.sizes["y"], cube.sizes["x"], model_blocks(cube, model), 4 * max_pixels, seed)
    iy, ix = iy[: 4 * max_pixels], ix[: 4 * max_pixels]
    sub = _pixel_cube(cube, iy, ix)
    obs = sub["NDVI"].transpose("y", "x", "time").values[0].astype(np.float64)
    # a spell hides S2 views: on a pairing cube, at every S1 date that carries one (also just outside the spell)
    offset = sub["NDVI_offset"].transpose("time", "y", "x").values[:, 0] if "NDVI_offset" in sub.data_vars else None
    try:
        hidden = hide_gaps(obs.T, days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span,
                           view_days=s2_view_days(days, offset)).T
    except ConfigError as exc:  # the message of the comparison's spells: say whose spells these are
        raise ConfigError(f"calibrate: {str(exc).removeprefix('simulated cloudy spells: ')} (reconstruct(..., weights='auto', "
                          "calibration={'gap_days': ..., 'n_gaps': ...}) sets them)") from exc
    keep = np.flatnonzero((hidden.sum(1) > 0) & ((np.isfinite(obs) & ~hidden).sum(1) >= min_clear))[:max_pixels]
    if keep.size == 0:
        n_clear = int(np.isfinite(obs).sum(1).max()) if obs.size else 0
        if n_clear < min_clear:  # not the spells: the pixels have too few clear views to hide any
            raise InsufficientDataError(
                f"calibrate: expected sampled pixels ({iy.size} from the {where} blocks) with at least {min_clear} clear "
                f"observations, found at most {n_clear}: nothing to hold out on this cube; use weights='model' or None, or a "
                "cube (or period) with clear S2 views"
            )
        raise InsufficientDataError(
            f"calibrate: no sampled pixel ({iy.size} from the {where} blocks) keeps {min_clear} clear observations "
            f"with {n_gaps} spells of {gap_days:g} days hidden; use shorter or fewer spells"
        )
    iy, ix, obs, hidden = iy[keep], ix[keep], obs[keep], hidden[keep]
    sees_ndvi = reads_ndvi(model)
    if predicted is not None and not sees_ndvi:
        pred = predicted.transpose("time", "y", "x").isel(y=xr.DataArray(iy, dims="pix"), x=xr.DataArray(ix, dims="pix"))
        pred = np.asarray(pred.transpose("pix", "time").values, dtype=np.float64)
    else:
        # a model with optical inputs must not see the values it is scored on: predict with the spells hidden
        from ..inference import predict_ndvi

        sub = _pixel_cube(cube, iy, ix)
        if sees_ndvi:
            sub = _hide_in(sub, hidden)
        pred_da = predict_ndvi(sub, model, device=device)
        pred = np.asarray(pred_da.transpose("y", "x", "time").values[0], dtype=np.float64)
    views = cube_views(cube)
    if views is not None:  # align(unpaired_views=True): shown as reconstruct shows them, hidden by the same spells, never scored
        pix = {"y": xr.DataArray(iy, dims="pix"), "x": xr.DataArray(ix, dims="pix")}
        vals = np.asarray(views.isel(pix).transpose("pix", "time").values, dtype=np.float64)
        view_days = ((pd.DatetimeIndex(views["time"].values) - t[0].floor("D")) / pd.Timedelta(days=1)).to_numpy(np.float64)
        vals[hide_views(vals.T, view_days, days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span).T] = np.nan
        obs, pred, hidden, days = union_arrays(obs, pred, hidden, days, vals, view_days)
    edges, table = pred_std_table(model)
    default = {"w_pred": None, "lam": 1000.0, "pred_gap_days": None, "debias_days": None}
    rows = score_settings(obs, pred, hidden, days, [*settings, default], obs_std=obs_std, edges=edges, table=table)
    tried, default_row, pred_row = rows[:-2], rows[-2], rows[-1]
    if not any(np.isfinite(r["rmse"]) for r in tried):
        raise InsufficientDataError(f"calibrate: no setting gave a finite RMSE on the {pred_row['n']} hidden values; check the grid")
    best = min((r for r in tried if np.isfinite(r["rmse"])), key=lambda r: r["rmse"])
    chosen = {k: best.get(k) for k in ("w_pred", "lam", "pred_gap_days", "debias_days")}
    scale, _ = std_scale_for(obs, pred, hidden, days, chosen, obs_std=obs_std, edges=edges, table=table)
    if pred_row["n"] < MIN_HIDDEN:
        warn_user(
            f"calibrate: the setting was chosen on {pred_row['n']} hidden values only ({keep.size} pixels; expected at least "
            f"{MIN_HIDDEN}): the choice and its std factor are noisy; more pixels, more or shorter spells, or the fixed "
            "setting (reconstruct(..., weights=None)) are safer")
    log.info(
        "calibrate: %d pixels (%s blocks), %d hidden values: chosen %s, RMSE %.4f (prediction alone %.4f, default %.4f), std x %.2f",
        keep.size, where, pred_row["n"], chosen, best["rmse"], pred_row["rmse"], default_row["rmse"], scale,
    )
    return Calibration(
        settings=chosen, rmse=best["rmse"], rmse_prediction=pred_row["rmse"], rmse_default=default_row["rmse"],
        n_pixels=int(keep.size), n_hidden=int(pred_row["n"]), blocks=where, std_scale=scale, table=tried,
        std_growth_days=STD_GROWTH_DAYS,
    )


def pool_calibrations(cals: list[Calibration]) -> Calibration:
    """One setting for several sites: the lowest RMSE over every site's hidden values together.

    Each site's :func:`calibrate` scored the same grid on its own spells; the
    pooled mean squared error of a setting weighs each site by its hidden
    values (``sum n_s rmse_s**2 / sum n_s``), so a large site weighs more, as
    in training.

    Parameters
    ----------
    cals : list of Calibration
        One per site, made with the same grid.

    Returns
    -------
    Calibration
        The chosen setting with the pooled RMSEs (of the setting, the
        prediction alone and the fixed default), the summed counts,
        ``blocks``: ``"val"`` when every site used validation blocks only,
        ``"all"`` when none had a split, else ``"val+train"``, and
        ``std_scale``: the sites' factors averaged with their hidden values as
        weights (each fitted for the setting that site chose:
        :func:`calibrate_sites` refits them for the pooled one), with their
        common ``std_growth_days``.

    Raises
    ------
    ConfigError
        No calibration, or calibrations of different grids or std growths.
    """
    if not cals:
        raise ConfigError("pool_calibrations: expected at least one calibration, found none")
    keys = [tuple(sorted(r.items())) for r in ({k: v for k, v in row.items() if k not in ("rmse", "bias", "n")} for row in cals[0].table)]
    for c in cals[1:]:
        other = [tuple(sorted((k, v) for k, v in row.items() if k not in ("rmse", "bias", "n"))) for row in c.table]
        if other != keys:
            raise ConfigError("pool_calibrations: expected calibrations of the same grid, found different settings")
    growth = {c.std_growth_days for c in cals}
    if len(growth) > 1:
        raise ConfigError(f"pool_calibrations: expected calibrations with the same std growth, found {sorted(growth, key=str)}")
    n = np.array([c.n_hidden for c in cals], dtype=np.float64)

    def pooled(values: list[float]) -> float:
        return float(np.sqrt(np.sum(n * np.square(values)) / n.sum()))

    table = []
    for i, row in enumerate(cals[0].table):
        table.append({**{k: v for k, v in row.items() if k not in ("rmse", "bias", "n")},
                      "rmse": pooled([c.table[i]["rmse"] for c in cals]),
                      "bias": float(np.sum(n * np.array([c.table[i]["bias"] for c in cals])) / n.sum()),
                      "n": int(n.sum())})
    best = min(table, key=lambda r: r["rmse"])
    blocks = "val" if all(c.blocks == "val" for c in cals) else "all" if all(c.blocks == "all" for c in cals) else "val+train"
    return Calibration(
        settings={k: best.get(k) for k in ("w_pred", "lam", "pred_gap_days", "debias_days")}, rmse=best["rmse"],
        rmse_prediction=pooled([c.rmse_prediction for c in cals]), rmse_default=pooled([c.rmse_default for c in cals]),
        n_pixels=int(sum(c.n_pixels for c in cals)), n_hidden=int(n.sum()), blocks=blocks,
        std_scale=float(np.sum(n * np.array([c.std_scale for c in cals])) / n.sum()), table=table,
        std_growth_days=cals[0].std_growth_days,
    )


def calibrate_sites(
    model: FusionModel, cubes: list[xr.Dataset], splits: list[dict[str, Any]], names: list[str], *, seed: int = 0,
    device: str | None = None,
) -> dict[str, Any] | None:
    """The reconstruction setting a model keeps (``info["reconstruction"]``): chosen on its validation spells.

    Each cube is calibrated on hidden 60-day spells (3 per pixel) of its own
    validation blocks (:func:`calibrate`, at most 300 pixels); with several
    cubes, the setting with the lowest RMSE over all of them together
    (:func:`pool_calibrations`). :func:`fusets_dl.train` calls it after
    training; ``reconstruct(weights="model")`` (its default) uses the result.

    Parameters
    ----------
    model : FusionModel
        The trained model.
    cubes : list of xarray.Dataset
        Its training cubes.
    splits : list of dict
        The block split of each cube (as :func:`~fusets_dl.evaluation.splits.split_blocks`).
    names : list of str
        The site name of each cube.
    seed : int
        Seed of the pixel sample and the spells.
    device : str, optional
        Device of the prediction of the sampled pixels.

    Returns
    -------
    dict or None
        The :class:`Calibration` fields but its table, with ``gap_days``,
        ``n_gaps``, ``seed``, ``unpaired_views`` (whether a calibrated cube
        kept them: :func:`fusets_dl.align`) and (several cubes) each site's
        own choice under ``sites`` (its setting, scores and std factor:
        ``reconstruct`` uses it on that site); None, with a warning, when no
        cube holds a spell to hide.

    Warns
    -----
    UserWarning
        No cube could be calibrated (None: the fixed setting), or some could
        not (the setting is chosen on the others).
    """
    cals, sites, used = [], {}, []
    kw = {"gap_days": 60.0, "n_gaps": 3, "max_pixels": 300, "seed": seed, "device": device}
    for cube, split, name in zip(cubes, splits, names, strict=True):
        try:
            cal = calibrate(cube, with_split(model, split), **kw)
        except (InsufficientDataError, ConfigError) as exc:
            log.warning("calibrate_sites: no reconstruction calibration on %s (%s)", name, exc)
            continue
        cals.append(cal)
        used.append((cube, split))
        # the site's own choice, with what reconstruct needs to use it there (its std factor, for that setting)
        sites[name] = {"settings": cal.settings, "rmse": cal.rmse, "n_hidden": cal.n_hidden, "n_pixels": cal.n_pixels,
                       "rmse_prediction": cal.rmse_prediction, "rmse_default": cal.rmse_default, "blocks": cal.blocks,
                       "std_scale": cal.std_scale}
    skipped = [n for n in names if n not in sites]
    if not cals:
        # a log record, not a warning: a single-season cube (shorter than the spells need) is valid training input
        log.warning("calibrate_sites: no reconstruction calibration: no cube (%s) could be calibrated (3 spells of 60 days per "
                    "pixel need a long enough series and 4 clear observations left around them); the model keeps the fixed "
                    "setting and reconstruct(weights='model') uses it", ", ".join(map(str, names)))
        return None
    if skipped:
        log.warning("calibrate_sites: sites %s hold no calibration spell; the setting is chosen on %s only", skipped, sorted(sites))
    if len(cubes) > 1:
        pooled = pool_calibrations(cals)
        # each site's std factor for the pooled setting (its own choice may differ), on the same spells
        cals = [c if c.settings == pooled.settings else replace(c, std_scale=calibrate(cube, with_split(model, split), settings=[pooled.settings], **kw).std_scale)
                for c, (cube, split) in zip(cals, used, strict=True)]
    cal = cals[0] if len(cubes) == 1 else pool_calibrations(cals)
    out: dict[str, Any] = {k: v for k, v in cal.to_dict().items() if k != "table"}
    # whether the spells were scored with the unpaired views shown: reconstruct recalibrates a cube that differs
    out.update({"gap_days": 60.0, "n_gaps": 3, "seed": seed, "unpaired_views": any(cube_views(c) is not None for c, _ in used)})
    if len(cubes) > 1:
        out["sites"] = sites
    log.info("calibrate_sites: %d validation-block pixels: %s (RMSE %.4f; prediction alone %.4f, fixed default %.4f)",
             cal.n_pixels, cal.settings, cal.rmse, cal.rmse_prediction, cal.rmse_default)
    return out


#: ``model.info`` keys of the stored settings: chosen on the paired views, and (cubes that keep them) with the unpaired views shown.
STORED_KEY, STORED_VIEWS_KEY = "reconstruction", "reconstruction_views"


def calibrate_stored(
    model: FusionModel, cubes: list[xr.Dataset], splits: list[dict[str, Any]], names: list[str], *, seed: int = 0, device: str = "cpu",
) -> dict[str, dict[str, Any] | None]:
    """The settings a model keeps: :func:`calibrate_sites` on the paired views, and again with the unpaired views when a cube keeps them.

    ``reconstruct(weights="model")`` takes the one that matches the cube it
    fills (:data:`STORED_VIEWS_KEY` on a cube with ``NDVI_unpaired``): a
    setting chosen on the paired views trusts the prediction as much as the
    longer gaps between them deserve.

    Parameters
    ----------
    model, cubes, splits, names, seed, device
        As for :func:`calibrate_sites`.

    Returns
    -------
    dict
        ``{STORED_KEY: ...}``, plus ``{STORED_VIEWS_KEY: ...}`` when a cube
        keeps unpaired views; each as :func:`calibrate_sites` returns it.
    """
    from ..alignment.pairing import UNPAIRED, UNPAIRED_TIME

    kept = [cube_views(c) is not None for c in cubes]
    paired = [c.drop_vars([UNPAIRED, UNPAIRED_TIME], errors="ignore") if k else c for c, k in zip(cubes, kept, strict=True)]
    out = {STORED_KEY: calibrate_sites(model, paired, splits, names, seed=seed, device=device)}
    if any(kept):
        out[STORED_VIEWS_KEY] = calibrate_sites(model, cubes, splits, names, seed=seed, device=device)
    return out
