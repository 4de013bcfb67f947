"""Physically plausible synthetic S1/S2 scenes with known truth.

The scene is a mosaic of fields (Voronoi polygons), one land cover each:
rice (two or three seasons a year, flooded at transplanting), maize (one
season), grassland (a broad season crossing the year boundary), forest,
bare/urban and water. NDVI follows double-logistic seasons with per-field
jitter. Sentinel-1 backscatter comes from a water-cloud model (Attema and
Ulaby, 1978) driven by the vegetation and by a soil moisture that follows rain
events, with flooded rice dropping VV, incidence angles per relative orbit and
multiplicative Gamma speckle. Sentinel-2 sees the surface through clouds that
are correlated in space (a smooth random field) and in time (AR(1) cloud
cover, heavier in the rainy season), with cloud shadows, thin cirrus and a
little undetected thin cloud; SCL codes as in L2A.

Every random number comes from a counter-based hash of (seed, stream, time,
row, column), so a scene is the same whether it is generated whole or lazily
in Dask chunks of any shape, and a regency-sized scene costs nothing until
computed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from pyproj import CRS
from scipy.spatial import cKDTree

from ._cloudfield import cloud_date, interp_field
from ._rng import hash_normal as _normal
from ._rng import hash_uniform as _uniform
from .errors import ConfigError

__all__ = ["CLASSES", "SceneConfig", "make_scene"]

#: Land-cover classes, in the order of their integer codes in ``truth["crop"]``.
CLASSES: tuple[str, ...] = ("rice", "maize", "grassland", "forest", "urban", "water")
RICE, MAIZE, GRASS, FOREST, URBAN, WATER = range(6)

_DEFAULT_PROPORTIONS = {"rice": 0.35, "maize": 0.2, "grassland": 0.13, "forest": 0.12, "urban": 0.1, "water": 0.1}

# Streams of the hash RNG (one per kind of draw).
_S_NDVI_PIX, _S_NDVI_OBS, _S_SPECKLE, _S_FINE_CLOUD, _S_CLOUD_REFL, _S_THIN, _S_WIND, _S_BRIGHT, _S_HAZE = range(1, 10)


@dataclass(frozen=True)
class SceneConfig:
    """Parameters of a synthetic scene (see :func:`make_scene`)."""

    ny: int = 64
    nx: int = 64
    start: str = "2021-01-01"
    end: str = "2022-12-31"
    seed: int = 0
    resolution: float = 20.0
    epsg: int = 32749
    origin: tuple[float, float] = (440000.0, 9240000.0)
    field_size: float = 12.0
    proportions: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_PROPORTIONS))
    rice_third_season: float = 0.4
    s1_revisit_days: int = 6
    s1_orbits: tuple[int, ...] = (54,)
    s2_revisit_days: int = 5
    cloud_cover: float = 0.5
    rainy_months: tuple[int, ...] = (11, 12, 1, 2, 3, 4)
    speckle_looks: int = 5
    cloud_scale: float = 16.0
    shadow_shift: tuple[int, int] = (7, 5)
    haze_fraction: float = 0.0
    haze_bias: float = 0.12
    season_shift_days: float = 0.0

    def validate(self) -> None:
        """Raise :class:`ConfigError` on parameters out of range."""
        if self.ny < 2 or self.nx < 2:
            raise ConfigError(f"make_scene: expected ny, nx >= 2, found ({self.ny}, {self.nx})")
        if not 0.0 <= self.cloud_cover < 1.0:
            raise ConfigError(f"make_scene: expected 0 <= cloud_cover < 1, found {self.cloud_cover}")
        if pd.Timestamp(self.end) <= pd.Timestamp(self.start):
            raise ConfigError(f"make_scene: expected end after start, found {self.start}..{self.end}")
        unknown = set(self.proportions) - set(CLASSES)
        if unknown:
            raise ConfigError(f"make_scene: proportions: expected keys among {CLASSES}, found unknown {sorted(unknown)}")
        if sum(self.proportions.values()) <= 0:
            raise ConfigError("make_scene: proportions must sum to a positive number")
        if not 0.0 <= self.haze_fraction <= 1.0 or self.haze_bias < 0:
            raise ConfigError(f"make_scene: expected 0 <= haze_fraction <= 1 and haze_bias >= 0, found {self.haze_fraction}, {self.haze_bias}")
        if self.s1_revisit_days < 1 or self.s2_revisit_days < 1 or self.speckle_looks < 1:
            raise ConfigError("make_scene: revisit days and speckle looks must be >= 1")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


# --------------------------------------------------------------------------- scene plan

class _Scene:
    """Everything global and small: fields, seasons, weather, clouds, dates."""

    def __init__(self, cfg: SceneConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.compiled_clouds = True  # False: the NumPy reference of the cloud pass (bit-identical; tests)
        rng = np.random.default_rng(cfg.seed)
        self.t0 = pd.Timestamp(cfg.start).normalize()
        t_end = pd.Timestamp(cfg.end)
        self.origin_day = np.datetime64(self.t0, "ns")
        # dates
        self.s2_times = pd.date_range(self.t0 + pd.Timedelta(hours=2, minutes=50), t_end, freq=f"{cfg.s2_revisit_days}D")
        s1_start = self.t0 + pd.Timedelta(days=int(rng.integers(0, cfg.s1_revisit_days)), hours=22, minutes=10)
        s1_times = pd.date_range(s1_start, t_end, freq=f"{cfg.s1_revisit_days}D")
        norb = len(cfg.s1_orbits)
        self.s1_times = s1_times
        self.s1_orbit = np.array([cfg.s1_orbits[i % norb] for i in range(len(s1_times))], dtype=np.int32)
        inc = {o: 33.0 + 7.0 * i for i, o in enumerate(cfg.s1_orbits)}
        self.s1_incidence = np.array([inc[o] for o in self.s1_orbit])
        self.s1_days = self._days(s1_times)
        self.s2_days = self._days(self.s2_times)
        # fields: Voronoi cells of random seeds
        nf = max(4, round(cfg.ny * cfg.nx / cfg.field_size**2))
        self.seeds = np.column_stack([rng.uniform(-2, cfg.ny + 2, nf), rng.uniform(-2, cfg.nx + 2, nf)])
        self.tree = cKDTree(self.seeds)
        probs = np.array([cfg.proportions.get(c, 0.0) for c in CLASSES], dtype=float)
        probs /= probs.sum()
        self.field_class = rng.choice(len(CLASSES), size=nf, p=probs)
        present = np.flatnonzero(probs > 0)
        inside = np.flatnonzero(
            (self.seeds[:, 0] > 1) & (self.seeds[:, 0] < cfg.ny - 1) & (self.seeds[:, 1] > 1) & (self.seeds[:, 1] < cfg.nx - 1)
        )
        if inside.size >= present.size:  # every class with a positive share gets a field in the scene
            self.field_class[rng.choice(inside, present.size, replace=False)] = present
        self.nf = nf
        self._plan_seasons(rng)
        self.field_rough = rng.normal(0, 1.0, nf)
        self.field_mv = rng.normal(0, 0.03, nf)
        self.field_urban = rng.normal(0, 1.5, (nf, 2))
        self._plan_weather(rng)
        self._plan_clouds(rng)

    def _days(self, times: pd.DatetimeIndex) -> np.ndarray:
        return (times.values - self.origin_day) / np.timedelta64(1, "D")

    def _plan_seasons(self, rng: np.random.Generator) -> None:
        """Per field and season: base, amplitude, sos, eos (midpoints, days), green-up/senescence rates."""
        cfg = self.cfg
        years = range(self.t0.year - 1, pd.Timestamp(cfg.end).year + 1)
        nyear = len(years)
        m = nyear * 3
        sos = np.full((self.nf, m), np.nan)
        eos = np.full((self.nf, m), np.nan)
        amp = np.zeros((self.nf, m))
        r1 = np.full((self.nf, m), 8.0)
        r2 = np.full((self.nf, m), 8.0)
        base = np.zeros(self.nf)
        third = rng.random(self.nf) < cfg.rice_third_season
        shift = rng.normal(0, 8, self.nf) + cfg.season_shift_days
        for f in range(self.nf):
            c = self.field_class[f]
            k = 0
            for y in years:
                y0 = (pd.Timestamp(y, 1, 1) - self.t0) / pd.Timedelta(days=1)
                if c == RICE:
                    base[f] = 0.16
                    plan = [(-15, 82), (100, 80)] + ([(212, 75)] if third[f] else [])
                    for doy, length in plan:
                        s = y0 + doy + shift[f] + rng.normal(0, 4)
                        sos[f, k], eos[f, k] = s, s + length + rng.normal(0, 5)
                        amp[f, k] = rng.uniform(0.55, 0.66)
                        r1[f, k], r2[f, k] = rng.uniform(6, 9), rng.uniform(5, 8)
                        k += 1
                elif c == MAIZE:
                    base[f] = 0.18
                    s = y0 + 30 + shift[f] + rng.normal(0, 5)
                    sos[f, k], eos[f, k] = s, s + 95 + rng.normal(0, 6)
                    amp[f, k] = rng.uniform(0.55, 0.68)
                    r1[f, k], r2[f, k] = rng.uniform(7, 10), rng.uniform(6, 9)
                    k += 1
                elif c == GRASS:
                    base[f] = 0.42
                    s = y0 + 300 + shift[f] + rng.normal(0, 8)
                    sos[f, k], eos[f, k] = s, s + 190 + rng.normal(0, 10)
                    amp[f, k] = rng.uniform(0.22, 0.3)
                    r1[f, k], r2[f, k] = 18.0, 20.0
                    k += 1
                elif c == FOREST:
                    base[f] = 0.76
                    s = y0 + 330 + rng.normal(0, 8)
                    sos[f, k], eos[f, k] = s, s + 170
                    amp[f, k] = 0.06
                    r1[f, k], r2[f, k] = 25.0, 25.0
                    k += 1
                elif c == URBAN:
                    base[f] = 0.12
                else:
                    base[f] = -0.22
        self.base, self.amp, self.sos, self.eos, self.r1, self.r2 = base, amp, sos, eos, r1, r2
        self.max_seasons = m

    def _plan_weather(self, rng: np.random.Generator) -> None:
        cfg = self.cfg
        days = pd.date_range(self.t0 - pd.Timedelta(days=60), pd.Timestamp(cfg.end) + pd.Timedelta(days=1), freq="1D")
        rainy = np.isin(days.month, cfg.rainy_months)
        rate = np.where(rainy, 0.45, 0.1)
        rain = (rng.random(days.size) < rate) * rng.exponential(12.0, days.size)
        mv = np.empty(days.size)
        cur = 0.2
        for i in range(days.size):  # 1-D daily series, not per pixel
            cur = 0.08 + (cur - 0.08) * np.exp(-1 / 6.0) + 0.008 * rain[i]
            cur = min(cur, 0.45)
            mv[i] = cur
        self.weather_days = self._days(days)
        self.soil_moisture = mv
        self.rain = rain

    def _plan_clouds(self, rng: np.random.Generator) -> None:
        cfg = self.cfg
        n = self.s2_times.size
        rainy = np.isin(self.s2_times.month, cfg.rainy_months)
        mult = np.where(rainy, 1.4, 0.6)
        base = np.clip(cfg.cloud_cover * mult, 0.01, 0.99)
        z = np.empty(n)
        z[0] = rng.normal()
        for i in range(1, n):
            z[i] = 0.6 * z[i - 1] + 0.8 * rng.normal()
        logit = np.log(base / (1 - base)) + 1.3 * z
        lo, hi = -10.0, 10.0
        for _ in range(60):  # shift so that the mean cover equals the setting
            mid = 0.5 * (lo + hi)
            if _sigmoid(logit + mid).mean() > cfg.cloud_cover:
                hi = mid
            else:
                lo = mid
        self.cloud_fraction = _sigmoid(logit + 0.5 * (lo + hi)) if cfg.cloud_cover > 0 else np.zeros(n)
        gy = int(np.ceil((cfg.ny + abs(cfg.shadow_shift[0]) + 2) / cfg.cloud_scale)) + 3
        gx = int(np.ceil((cfg.nx + abs(cfg.shadow_shift[1]) + 2) / cfg.cloud_scale)) + 3
        grids = np.empty((n, gy, gx))
        grids[0] = rng.normal(size=(gy, gx))
        for i in range(1, n):
            grids[i] = 0.5 * grids[i - 1] + np.sqrt(1 - 0.25) * rng.normal(size=(gy, gx))
        self.cloud_grids = grids
        # thresholds from the marginal of the interpolated field (plus its fine noise)
        py = rng.uniform(0, cfg.ny, 3000)
        px = rng.uniform(0, cfg.nx, 3000)
        self.cloud_thr = np.empty(n)
        fine = rng.normal(0, 0.15, 3000)
        for i in range(n):
            v = self._interp(grids[i], py, px) + fine
            self.cloud_thr[i] = np.quantile(v, 1 - self.cloud_fraction[i]) if self.cloud_fraction[i] > 0 else np.inf
        self.cloud_sd = np.array([np.std(self._interp(grids[i], py, px)) for i in range(min(n, 10))]).mean()

    def _interp(self, grid: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return interp_field(grid, yy, xx, self.cfg.cloud_scale, abs(self.cfg.shadow_shift[0]), abs(self.cfg.shadow_shift[1]))

    # ------------------------------------------------------------------ per-block physics

    def labels(self, yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        yy, xx = np.meshgrid(yi.astype(float), xi.astype(float), indexing="ij")
        _, idx = self.tree.query(np.column_stack([yy.ravel(), xx.ravel()]))
        return idx.reshape(yy.shape)

    def ndvi(self, days: np.ndarray, fid: np.ndarray, yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """True NDVI (T, by, bx): field curve plus a static per-pixel offset."""
        # the curve depends on the field only: computed once per field of the block, then spread to its pixels
        fields, inv = np.unique(fid, return_inverse=True)
        t = days[:, None]
        curve = np.broadcast_to(self.base[fields], (days.size, fields.size)).astype(np.float64).copy()
        for k in range(self.max_seasons):
            a = self.amp[fields, k]
            if not np.any(a > 0):
                continue
            s, e = self.sos[fields, k], self.eos[fields, k]
            with np.errstate(invalid="ignore"):
                bump = _sigmoid((t - s) / self.r1[fields, k]) - _sigmoid((t - e) / self.r2[fields, k])
            curve += np.where(a > 0, a * np.nan_to_num(bump), 0.0)
        out = curve[:, inv.reshape(fid.shape)]
        cls = self.field_class[fid]
        pix = 0.02 * _normal(self.cfg.seed, _S_NDVI_PIX, np.zeros(1, np.int64)[:, None], yi[:, None], xi[None, :])
        pix = np.where(cls == WATER, 0.5 * pix, pix)
        return np.clip(out + pix[None], -1.0, 1.0)

    def flooded(self, days: np.ndarray, fid: np.ndarray) -> np.ndarray:
        fields, inv = np.unique(fid, return_inverse=True)
        t = days[:, None]
        out = np.zeros((days.size, fields.size), dtype=bool)
        rice = self.field_class[fields] == RICE
        for k in range(self.max_seasons):
            s = self.sos[fields, k]
            with np.errstate(invalid="ignore"):
                out |= rice & (t >= s - 35) & (t <= s - 3)
        return out[:, inv.reshape(fid.shape)]

    def s1(self, yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """Stack (2, T1, by, bx) of VV, VH in dB."""
        cfg = self.cfg
        fid = self.labels(yi, xi)
        cls = self.field_class[fid]
        days = self.s1_days
        nd = self.ndvi(days, fid, yi, xi)
        veg = 5.0 * np.clip((nd - 0.15) / 0.75, 0, 1)
        mv = np.interp(days, self.weather_days, self.soil_moisture)[:, None, None] + self.field_mv[fid][None]
        mv = np.clip(mv, 0.03, 0.5)
        theta = np.deg2rad(self.s1_incidence)[:, None, None]
        cos = np.cos(theta)
        inc_term = -0.15 * (np.rad2deg(theta) - 38.0)
        rough = self.field_rough[fid][None]
        flood = self.flooded(days, fid)
        out = np.empty((2, days.size, *fid.shape), dtype=np.float32)
        ti = np.arange(days.size)[:, None, None]
        for p, (a_coef, b_coef, soil0, soil_k, water_db) in enumerate(((0.045, 0.12, -17.0, 22.0, -21.0), (0.012, 0.08, -25.0, 20.0, -27.0))):
            soil_db = soil0 + soil_k * mv + inc_term + rough
            soil_db = np.where(flood, water_db + inc_term, soil_db)
            a_eff = np.where(cls == FOREST, a_coef * (1.5 if p == 1 else 1.2), a_coef)[None]
            tau2 = np.exp(-2 * b_coef * veg / cos)
            sig = a_eff * veg * cos * (1 - tau2) + tau2 * 10 ** (soil_db / 10)
            wind = 2.0 * _normal(cfg.seed, _S_WIND + 10 * p, ti, np.zeros_like(yi)[None, :, None], np.zeros_like(xi)[None, None, :])
            water = 10 ** ((water_db + 2 + wind + inc_term) / 10)
            urban = 10 ** (((-4.0, -11.0)[p] + self.field_urban[fid, p] + inc_term) / 10)
            sig = np.where(cls == WATER, water, sig)
            sig = np.where(cls == URBAN, urban[None], sig)
            gam = np.zeros_like(sig)
            for look in range(cfg.speckle_looks):
                u = _uniform(cfg.seed, _S_SPECKLE + 100 * p + look, ti, yi[None, :, None], xi[None, None, :])
                gam -= np.log(u)
            sig = sig * gam / cfg.speckle_looks
            out[p] = 10 * np.log10(sig)
        return out

    def s2(self, yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """Stack (4, T2, by, bx): B04 DN, B08 DN, SCL, true-cloud flag."""
        cfg = self.cfg
        fid = self.labels(yi, xi)
        cls = self.field_class[fid]
        days = self.s2_days
        ti = np.arange(days.size)[:, None, None]
        yy, xx = yi[None, :, None], xi[None, None, :]
        nd = self.ndvi(days, fid, yi, xi) + 0.015 * _normal(cfg.seed, _S_NDVI_OBS, ti, yy, xx)
        if cfg.haze_fraction > 0:  # residual haze the cloud mask misses: +-haze_bias on a share of the pixel-dates
            u = _uniform(cfg.seed, _S_HAZE, ti, yy, xx)
            nd = nd + np.where(u < cfg.haze_fraction, np.where(u < 0.5 * cfg.haze_fraction, -1.0, 1.0) * cfg.haze_bias, 0.0)
        nd = np.clip(nd, -1, 1)
        bright = (0.3 + 0.15 * np.clip(nd, 0, 1)) * (1 + 0.05 * _normal(cfg.seed, _S_BRIGHT, 0, yy, xx))
        bright = np.where(cls[None] == WATER, 0.07, bright)
        red = bright * (1 - nd) / 2
        nir = bright * (1 + nd) / 2
        # clouds, date by date (fusets_dl._cloudfield, compiled): the draws are the same hashes as before
        scl = np.where(cls[None] == WATER, 6, np.where(nd > 0.3, 4, 5)).astype(np.uint8)
        cloud_flag = np.zeros(nd.shape, dtype=np.uint8)
        yc, xc = yi.astype(np.int64)[:, None], xi.astype(np.int64)[None, :]
        band = 0.35 * self.cloud_sd
        for i in range(days.size):
            if not np.isfinite(self.cloud_thr[i]):
                continue
            fine = 0.15 * _normal(cfg.seed, _S_FINE_CLOUD, i, yc, xc)
            u = _uniform(cfg.seed, _S_CLOUD_REFL, i, yc, xc)
            detect = _uniform(cfg.seed, _S_THIN, i, yc, xc)
            cloud_date(self.cloud_grids[i], yi, xi, cfg.cloud_scale, cfg.shadow_shift, float(self.cloud_thr[i]), band,
                       fine, u, detect, red[i], nir[i], scl[i], cloud_flag[i], compiled=self.compiled_clouds)
        out = np.empty((4, *nd.shape), dtype=np.uint16)
        out[0] = np.clip(np.round(red * 1e4), 1, 65535)
        out[1] = np.clip(np.round(nir * 1e4), 1, 65535)
        out[2] = scl
        out[3] = cloud_flag
        return out

    def truth_static(self, yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        """Stack (2 + 3*M, by, bx) float64: crop, field, then sos/pos/eos days per season."""
        fid = self.labels(yi, xi)
        m = self.max_seasons
        out = np.empty((2 + 3 * m, *fid.shape))
        out[0] = self.field_class[fid]
        out[1] = fid
        sos, pos, eos = self._season_dates()
        out[2 : 2 + m] = np.moveaxis(sos[fid], -1, 0)
        out[2 + m : 2 + 2 * m] = np.moveaxis(pos[fid], -1, 0)
        out[2 + 2 * m :] = np.moveaxis(eos[fid], -1, 0)
        return out

    def _season_dates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per field and season, in days: sos/eos (logistic midpoints, 50 % of the amplitude), pos.

        Only seasons with an amplitude of at least 0.1 and a peak inside the
        scene's period count; they are ordered by start date, absent ones NaN.
        """
        if hasattr(self, "_dates"):
            return self._dates
        span = (self.s2_days.min(), max(self.s2_days.max(), self.s1_days.max()))
        valid = (self.amp >= 0.1) & np.isfinite(self.sos)
        pos = np.full_like(self.sos, np.nan)
        grid = np.arange(-120.0, span[1] + 400.0)
        for f in range(self.nf):
            for k in np.flatnonzero(valid[f]):
                b = _sigmoid((grid - self.sos[f, k]) / self.r1[f, k]) - _sigmoid((grid - self.eos[f, k]) / self.r2[f, k])
                pos[f, k] = grid[int(np.argmax(b))]
        inside = valid & (pos >= span[0]) & (pos <= span[1])
        sos = np.where(inside, self.sos, np.nan)
        eos = np.where(inside, self.eos, np.nan)
        pos = np.where(inside, pos, np.nan)
        order = np.argsort(np.where(np.isfinite(sos), sos, np.inf), axis=1, kind="stable")
        self._dates = tuple(np.take_along_axis(a, order, axis=1) for a in (sos, pos, eos))
        return self._dates


# --------------------------------------------------------------------------- assembly

def _blocks(scene: _Scene, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], n_lead: tuple[int, ...], dtype: Any, chunks: Mapping[str, int] | None) -> Any:
    """Evaluate ``fn(yi, xi)`` whole (NumPy) or lazily per (y, x) chunk (Dask)."""
    cfg = scene.cfg
    if chunks is None:
        return fn(np.arange(cfg.ny), np.arange(cfg.nx)).astype(dtype)
    cy = int(chunks.get("y", cfg.ny))
    cx = int(chunks.get("x", cfg.nx))
    cy = cfg.ny if cy in (-1, 0) else cy
    cx = cfg.nx if cx in (-1, 0) else cx
    template = da.zeros((cfg.ny, cfg.nx), chunks=(cy, cx), dtype=np.uint8)

    def _one(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        (y0, y1), (x0, x1) = block_info[0]["array-location"]
        return fn(np.arange(y0, y1), np.arange(x0, x1)).astype(dtype)

    return template.map_blocks(
        _one,
        new_axis=list(range(len(n_lead))),
        chunks=tuple((n,) for n in n_lead) + template.chunks,
        dtype=dtype,
        meta=np.empty((0,) * (len(n_lead) + 2), dtype=dtype),
    )


def make_scene(
    ny: int = 64,
    nx: int = 64,
    start: str = "2021-01-01",
    end: str = "2022-12-31",
    seed: int = 0,
    *,
    chunks: Mapping[str, int] | None = None,
    **options: Any,
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Generate a synthetic scene: raw S1, raw S2 and the truth.

    Parameters
    ----------
    ny, nx : int
        Scene size in pixels (rows, columns), at ``resolution`` metres (20).
    start, end : str
        Period covered (dates).
    seed : int
        Seed of every random draw; the same seed gives the same scene.
    chunks : mapping, optional
        ``{"y": cy, "x": cx}`` gives Dask-backed outputs built chunk by
        chunk; values do not depend on the chunking.
    **options
        Any field of :class:`SceneConfig`: ``cloud_cover`` (mean fraction of
        cloudy S2 pixel-dates, default 0.5), ``s1_revisit_days`` (6),
        ``s1_orbits`` (relative orbits alternating over acquisitions),
        ``s2_revisit_days`` (5), ``proportions`` (class shares),
        ``rice_third_season`` (share of rice fields with three crops),
        ``rainy_months``, ``speckle_looks``, ``field_size`` (pixels), ``epsg``,
        ``resolution``, ``haze_fraction`` (share of S2 pixel-dates with
        residual haze the SCL does not flag, default 0: half of them biased
        by ``+haze_bias``, half by ``-haze_bias`` in NDVI, default 0.12),
        ``season_shift_days`` (moves every crop season by this many days:
        another crop calendar, e.g. +100 sows maize in May).

    Returns
    -------
    s1 : xarray.Dataset
        ``VV``, ``VH`` float32 in dB (attrs ``units="dB"``) on
        ``(time, y, x)``, ``relative_orbit`` and ``incidence_angle`` on time;
        the form :func:`fusets_dl.open_s1` reads.
    s2 : xarray.Dataset
        ``B04``, ``B08`` uint16 DN (``scale_factor`` 1e-4, ``_FillValue`` 0)
        and ``SCL`` uint8 on ``(t, y, x)``; the form :func:`fusets_dl.open_s2` reads.
    truth : xarray.Dataset
        ``NDVI`` (true, noise-free, on the S1 dates), ``NDVI_s2`` (on the S2
        dates), ``cloud`` (0 clear, 1 cloud including thin and undetected, 2
        shadow) on the S2 dates, ``crop`` and ``field`` maps, ``sos``,
        ``pos``, ``eos`` (season, y, x) as datetime64 (NaT for absent seasons;
        sos/eos at 50 % of the seasonal amplitude), ``n_seasons``,
        ``cloud_fraction`` (the cover each S2 date was drawn with) and the
        scene ``soil_moisture`` on the S1 dates.
    """
    cfg = SceneConfig(ny=ny, nx=nx, start=start, end=end, seed=seed, **options)
    scene = _Scene(cfg)
    res = cfg.resolution
    x = cfg.origin[0] + (np.arange(nx) + 0.5) * res
    y = cfg.origin[1] - (np.arange(ny) + 0.5) * res
    crs = CRS.from_epsg(cfg.epsg)
    n1, n2 = scene.s1_times.size, scene.s2_times.size

    s1_stack = _blocks(scene, scene.s1, (2, n1), np.float32, chunks)
    s1 = xr.Dataset(
        {
            "VV": (("time", "y", "x"), s1_stack[0], {"units": "dB", "long_name": "sigma0 VV"}),
            "VH": (("time", "y", "x"), s1_stack[1], {"units": "dB", "long_name": "sigma0 VH"}),
            "relative_orbit": ("time", scene.s1_orbit),
            "incidence_angle": ("time", scene.s1_incidence.astype(np.float32), {"units": "degree"}),
        },
        coords={"time": scene.s1_times.values, "y": y, "x": x},
        attrs={"epsg": cfg.epsg, "title": "fusets_dl synthetic Sentinel-1", "seed": seed},
    ).rio.write_crs(crs)

    s2_stack = _blocks(scene, scene.s2, (4, n2), np.uint16, chunks)
    band = {"scale_factor": 1e-4, "_FillValue": 0}
    s2 = xr.Dataset(
        {
            "B04": (("t", "y", "x"), s2_stack[0], dict(band, long_name="red reflectance")),
            "B08": (("t", "y", "x"), s2_stack[1], dict(band, long_name="NIR reflectance")),
            "SCL": (("t", "y", "x"), s2_stack[2].astype(np.uint8), {"_FillValue": 0, "long_name": "scene classification"}),
        },
        coords={"t": scene.s2_times.values, "y": y, "x": x},
        attrs={"epsg": cfg.epsg, "title": "fusets_dl synthetic Sentinel-2 L2A", "seed": seed},
    ).rio.write_crs(crs)

    def _truth_ndvi(days: np.ndarray) -> Any:
        def fn(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
            return scene.ndvi(days, scene.labels(yi, xi), yi, xi)[None]

        return _blocks(scene, fn, (1, days.size), np.float32, chunks)[0]

    m = scene.max_seasons
    static = _blocks(scene, scene.truth_static, (2 + 3 * m,), np.float64, chunks)

    def _dates(a: Any) -> Any:
        ns = a * 86400e9 + scene.origin_day.astype("int64")
        ns = da.where(da.isnan(a), np.iinfo(np.int64).min, ns) if chunks is not None else np.where(np.isnan(a), np.iinfo(np.int64).min, ns)
        return ns.astype(np.int64).astype("datetime64[ns]")

    sos, pos, eos = (_dates(static[2 + i * m : 2 + (i + 1) * m]) for i in range(3))
    valid_sos = static[2 : 2 + m]
    n_seasons = (da.isfinite(valid_sos) if chunks is not None else np.isfinite(valid_sos)).sum(axis=0).astype(np.int8)
    truth = xr.Dataset(
        {
            "NDVI": (("time", "y", "x"), _truth_ndvi(scene.s1_days), {"long_name": "true NDVI at the S1 dates", "units": "1"}),
            "NDVI_s2": (("time_s2", "y", "x"), _truth_ndvi(scene.s2_days), {"long_name": "true NDVI at the S2 dates", "units": "1"}),
            "cloud": (("time_s2", "y", "x"), s2_stack[3].astype(np.uint8), {"flag_values": [0, 1, 2], "flag_meanings": "clear cloud shadow"}),
            "crop": (("y", "x"), static[0].astype(np.int8), {"flag_values": list(range(len(CLASSES))), "flag_meanings": " ".join(CLASSES)}),
            "field": (("y", "x"), static[1].astype(np.int32)),
            "sos": (("season", "y", "x"), sos, {"long_name": "start of season (50 % of amplitude)"}),
            "pos": (("season", "y", "x"), pos, {"long_name": "peak of season"}),
            "eos": (("season", "y", "x"), eos, {"long_name": "end of season (50 % of amplitude)"}),
            "n_seasons": (("y", "x"), n_seasons, {"long_name": "number of seasons with amplitude >= 0.1 peaking in the period"}),
            "cloud_fraction": ("time_s2", scene.cloud_fraction, {"long_name": "cloud cover drawn for the date"}),
            "soil_moisture": ("time", np.interp(scene.s1_days, scene.weather_days, scene.soil_moisture), {"units": "m3 m-3"}),
        },
        coords={"time": scene.s1_times.values, "time_s2": scene.s2_times.values, "season": np.arange(m), "y": y, "x": x},
        attrs={"title": "fusets_dl synthetic scene truth", "seed": seed, "classes": " ".join(CLASSES)},
    ).rio.write_crs(crs)
    return s1, s2, truth
