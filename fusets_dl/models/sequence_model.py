""":class:`SequenceModel`: the whole-series network + its normalisation statistics + metadata, saved without pickle.

Saved like :class:`~fusets_dl.models.FusionModel`: weights in safetensors,
everything else in a JSON sidecar (``"kind": "sequence"``) carrying both
SHA-256, so :func:`fusets_dl.load_model` reads either kind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .._safeio import write_pair
from ..errors import ModelError
from ..runtime import resolve_precision
from ..validate import is_whole
from . import weights as _weights
from .fusion_model import inference_device
from .sequence import (
    CHANNELS,
    RowTCN,
    SequenceNet,
    build_sequence_net,
    input_channels,
    sequence_inputs,
)

__all__ = ["SEQUENCE_FORMAT", "SequenceModel", "cube_span", "fit_std_scale", "load_sequence_model", "sequence_from_parts"]

#: ``format`` field of the sidecar.
SEQUENCE_FORMAT = "fusets_dl.SequenceModel"
_VERSION = 1
_STATS = ("vv_mean", "vv_std", "vh_mean", "vh_std", "ratio_mean", "ratio_std", "ndvi_mean", "ndvi_std")
#: Calibration factors a sidecar may carry (absent: 1, the network's own std).
_SCALES = ("std_scale", "std_scale_s1_only")
#: Half-width of the central interval holding half of a standard normal (the median of |z|).
_NORMAL_MEDIAN_ABS = 0.6744897501960817
#: Shares of a normal distribution within 1 and 2 standard deviations.
_COVER_1, _COVER_2 = 0.6827, 0.9545
#: Rows (pixel-dates, padding included) per RowTCN call on CPU: the activations of one call stay in cache.
_CPU_ROWS = 12_288


def cube_span(cube: Any) -> list[str]:
    """``[first date, last date]`` (``YYYY-MM-DD``) of a cube: how a model records the cubes its std was fitted on.

    Parameters
    ----------
    cube : xarray.Dataset
        A cube with a ``time`` coordinate.

    Returns
    -------
    list of str
        The first and last dates.
    """
    t = cube["time"].values
    return [str(t[0])[:10], str(t[-1])[:10]]


def batch_rows(batch_size: Any) -> int:
    """Pixel series per forward pass: ``batch_size``, or 2048 when None.

    Raises
    ------
    ModelError
        Not a positive whole number (a batch of 0 or fewer rows would predict
        nothing). A whole float (``65536.0``, as JSON clients send it) is taken,
        as the per-date model takes it.
    """
    if batch_size is None:
        return 2048
    if isinstance(batch_size, np.bool_) or not is_whole(batch_size) or batch_size < 1:
        raise ModelError(f"batch_size: expected a positive number of pixel series, found {batch_size!r} ({type(batch_size).__name__})")
    return int(batch_size)


def fit_std_scale(residual: np.ndarray, std: np.ndarray, method: str = "nll") -> float:
    """The factor ``s`` that calibrates predicted standard deviations: ``std * s``.

    Parameters
    ----------
    residual : numpy.ndarray
        Truth minus predicted mean of held-out values (any shape).
    std : numpy.ndarray
        The predicted standard deviations, same shape (non-finite or
        non-positive entries are left out, with their residuals).
    method : {"nll", "quantile", "coverage"}
        ``"nll"``: the minimiser of the Gaussian negative log-likelihood
        ``sum(log(s * std) + residual**2 / (2 * s**2 * std**2))``, in closed
        form ``s = sqrt(mean(z**2))`` with ``z = residual / std``;
        ``"quantile"``: ``s = median(|z|) / 0.6745``, so that half of the
        values fall within ``+-0.6745 * s * std`` as for a normal
        distribution (robust to a few gross errors); ``"coverage"``: the
        ``s`` whose shares of values within ``+-s * std`` and ``+-2 s * std``
        are closest to a normal distribution's 68.3 % and 95.4 % (least
        squares over both; residuals with heavier tails than a Gaussian get a
        factor between the two quantile matches).

    Returns
    -------
    float
        The factor (1 for a calibrated Gaussian, > 1 when the std is too narrow).

    Raises
    ------
    ModelError
        An unknown method, shapes that differ, or fewer than 10 usable values.
    """
    r = np.asarray(residual, dtype=np.float64)
    sd = np.asarray(std, dtype=np.float64)
    if r.shape != sd.shape:
        raise ModelError(f"fit_std_scale: expected residuals and stds of one shape, found {r.shape} and {sd.shape}")
    if method not in ("nll", "quantile", "coverage"):
        raise ModelError(f"fit_std_scale: method: expected 'nll', 'quantile' or 'coverage', found {method!r}")
    ok = np.isfinite(r) & np.isfinite(sd) & (sd > 0)
    if int(ok.sum()) < 10:
        raise ModelError(f"fit_std_scale: expected at least 10 finite residuals with a positive std, found {int(ok.sum())}")
    z = r[ok] / sd[ok]
    if method == "nll":
        return float(np.sqrt(np.mean(z**2)))
    if method == "coverage":
        a = np.sort(np.abs(z))
        grid = np.exp(np.linspace(np.log(0.25), np.log(4.0), 2001))  # factors 0.25-4 in 0.14 % steps
        c1 = np.searchsorted(a, grid, side="right") / a.size
        c2 = np.searchsorted(a, 2.0 * grid, side="right") / a.size
        return float(grid[int(np.argmin((c1 - _COVER_1) ** 2 + (c2 - _COVER_2) ** 2))])
    return float(np.median(np.abs(z)) / _NORMAL_MEDIAN_ABS)


@dataclass
class SequenceModel:
    """A trained whole-series gap-filling network with everything needed to apply it.

    Parameters
    ----------
    network : SequenceNet
        The network (inputs of :func:`fusets_dl.models.sequence.sequence_inputs`).
    stats : dict
        Training-set means and standard deviations of VV, VH, VV-VH (dB) and NDVI.
    architecture : dict
        ``channels``, ``dilations``, ``kernel`` and ``inputs`` (the input
        channels; absent: :data:`~fusets_dl.models.sequence.CHANNELS`, the
        models saved before the gap channels).
    spec : dict
        ``s1_only`` (default inference mode), ``orbit_gap_minutes`` (orbit
        grouping), ``channels`` (input channel names).
    config : dict
        The training configuration.
    metrics : dict
        Held-out metrics (hidden spells and S1-only, on test blocks);
        ``"test"`` is the gap filling of ``"test_gaps"``, the key a per-date
        model has too (added at load to models saved without it).
    history : list of dict
        Per epoch: training and validation loss, seconds.
    blocks : dict
        Block split of each training cube (``{"cubes": [split, ...]}``).
    info : dict
        Version, creation time, training data, provenance.
    calibration : dict
        Post-hoc factors on the network's std, fitted on validation blocks
        (:func:`fit_std_scale`): ``std_scale`` (NDVI given), ``std_scale_s1_only``
        (S1-only mode), with how they were fitted; empty: factor 1.
    """

    network: SequenceNet
    stats: dict[str, float]
    architecture: dict[str, Any]
    spec: dict[str, Any] = field(default_factory=lambda: {"s1_only": False, "orbit_gap_minutes": 3.0, "channels": list(CHANNELS)})
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    blocks: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    #: What dispatching code checks (``model.kind == "sequence"``).
    kind: ClassVar[str] = "sequence"

    @property
    def radius(self) -> int:
        """Dates on each side that one output sees (the window half-width needed)."""
        return int(self.network.radius)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The network's input channels (:func:`~fusets_dl.models.sequence.input_channels` of the architecture)."""
        return input_channels(self.architecture)

    def std_scale(self, s1_only: bool = False) -> float:
        """The calibration factor applied to the network's std (1 without calibration).

        Parameters
        ----------
        s1_only : bool
            The factor of the S1-only mode (all NDVI hidden).

        Returns
        -------
        float
            ``calibration["std_scale_s1_only"]`` or ``calibration["std_scale"]``, else 1.
        """
        return float(self.calibration.get("std_scale_s1_only" if s1_only else "std_scale", 1.0))

    def std_spans(self) -> list[list[str]]:
        """The ``[first, last]`` date spans of the cubes the std was fitted on, without repeats.

        The network's std is fitted on its training cubes (``info["cubes"]``),
        its calibration factor on those or on the cubes given to
        :func:`~fusets_dl.training.sequence.calibrate_sequence`
        (``calibration["cubes"]``).

        Returns
        -------
        list of list of str
            Empty when the model records neither (saved before 2026-11-26 without ``info["cubes"]``).
        """
        spans = [(c.get("start"), c.get("end")) for c in self.info.get("cubes", [])] + [tuple(c) for c in self.calibration.get("cubes", [])]
        return [list(s) for s in dict.fromkeys(spans)]

    def reads_angle(self) -> bool | None:
        """Whether the network learnt from an incidence angle (a training cube had ``incidence_angle``).

        Returns
        -------
        bool or None
            None for a model that does not record it (trained before 2026-11-27).
        """
        if "angle" not in self.inputs:
            return False  # no angle channel: nothing to read
        flags = [c.get("incidence_angle") for c in self.info.get("cubes", [])]
        if not flags or any(f is None for f in flags):
            return None
        return any(flags)

    def std_fitted_on(self, span: list[str], shape: tuple[int, int] | None = None, site: str | None = None) -> bool | None:
        """Whether the std was fitted on a cube with this ``[first, last]`` date span (:meth:`std_spans`).

        Parameters
        ----------
        span : list of str
            :func:`cube_span` of a cube.
        shape : (int, int), optional
            The cube's ``(y, x)`` size: a training cube must also have it
            where it records one (sites sharing their dates, such as the
            three Slovak point tables, are told apart by size; a cube given to
            :func:`~fusets_dl.training.sequence.calibrate_sequence` is known by
            its dates alone).
        site : str, optional
            The cube's site name (:func:`fusets_dl.cf.cube_site`): where a
            training cube records one too, they must be the same (two places
            with the same dates and size are told apart by name; a name on one
            side only does not count against it).

        Returns
        -------
        bool or None
            None when the model records neither (saved before 2026-11-26 without ``info["cubes"]``).
        """
        spans = self.std_spans()
        if not spans:
            return None
        if shape is None:
            return list(span) in spans
        cubes = self.info.get("cubes", [])
        trained = [c for c in cubes if [c.get("start"), c.get("end")] == list(span) and not (site and c.get("site") and c["site"] != site)]
        if any(c.get("ny") in (None, shape[0]) and c.get("nx") in (None, shape[1]) for c in trained):
            return True
        # the training cubes' own spans are in the calibration too: only the other cubes it was refitted on count by date
        own = {(c.get("start"), c.get("end")) for c in cubes}
        return list(span) in [list(c) for c in self.calibration.get("cubes", []) if tuple(c) not in own]

    # ------------------------------------------------------------------ inference
    def predict_series(
        self,
        vv: np.ndarray,
        vh: np.ndarray,
        ndvi: np.ndarray,
        angle: np.ndarray | None,
        tchan: np.ndarray,
        groups: np.ndarray,
        *,
        s1_only: bool | None = None,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        precision: str | None = None,
        days: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """NDVI mean and std at every date of P pixel series (P, T).

        On CPU the network runs as a :class:`~fusets_dl.models.sequence.RowTCN`
        (bfloat16 where the CPU computes it natively and ``precision`` is
        ``"auto"`` or ``"bfloat16"``; NDVI within about 5e-4 RMSE of float32),
        on CUDA as the float32 network.

        Parameters
        ----------
        vv, vh, ndvi : numpy.ndarray
            (P, T): backscatter in dB and clear NDVI (NaN where not clear). A
            pixel without any clear NDVI gets the S1-only mode's std factor.
        angle : numpy.ndarray, optional
            Incidence angle (P, T) in degrees, or None.
        tchan : numpy.ndarray
            (3, T) time channels (:func:`fusets_dl.models.sequence.time_channels`).
        groups : numpy.ndarray
            Orbit group of each date (T,).
        s1_only : bool, optional
            Ignore the NDVI (pure S1 prediction); None takes ``spec["s1_only"]``.
        batch_size : int, optional
            Pixel series per forward pass (default 2048).
        device : str or torch.device, optional
            None takes ``fdl.set_options(device=...)``.
        precision : {"auto", "float32", "bfloat16"}, optional
            CPU inference precision; None takes ``fdl.set_options(precision=...)``.
        days : numpy.ndarray, optional
            (T,) days of the dates (:func:`~fusets_dl.inference.sequence.series_time_inputs`);
            needed by a model with gap channels (:attr:`inputs`).

        Returns
        -------
        mean, std : numpy.ndarray
            float32 (P, T); NaN at pixels without any radar value. The std
            is the network's times :meth:`std_scale` (the calibration).

        Raises
        ------
        ModelError
            Arrays of different shapes, or a model with gap channels without ``days``.
            ``batch_size`` not a positive integer.
        """
        vv = np.asarray(vv, dtype=np.float32)
        if vv.ndim != 2 or np.shape(vh) != vv.shape or np.shape(ndvi) != vv.shape or tchan.shape != (3, vv.shape[1]):
            raise ModelError(f"SequenceModel: expected vv, vh, ndvi of one shape (pixels, time) and time channels (3, time), "
                             f"found {vv.shape}, {np.shape(vh)}, {np.shape(ndvi)}, {tchan.shape}")
        s1_only = bool(self.spec.get("s1_only", False)) if s1_only is None else bool(s1_only)
        p, t = vv.shape
        mean = np.full((p, t), np.nan, dtype=np.float32)
        std = np.full((p, t), np.nan, dtype=np.float32)
        if p == 0 or t == 0:
            return mean, std
        dev = inference_device(device)
        run, step = self._runner(dev, resolve_precision(precision, dev), t)
        bs = batch_rows(batch_size)
        r = self.radius
        sd_factor = self.stats["ndvi_std"] * self.std_scale(s1_only)
        # a pixel without any clear NDVI is predicted as in the S1-only mode: its std takes that mode's factor
        blind_factor = self.stats["ndvi_std"] * self.std_scale(True)
        inputs = self.inputs
        with torch.inference_mode():
            for i in range(0, p, bs):
                sl = slice(i, i + bs)
                nd = np.full((min(p, i + bs) - i, t), np.nan, dtype=np.float32) if s1_only else ndvi[sl]
                x = sequence_inputs(vv[sl], vh[sl], nd, None if angle is None else angle[sl], tchan, groups, self.stats,
                                    inputs=inputs, days=days)
                xt = torch.nn.functional.pad(torch.from_numpy(x).to(dev), (r, r))
                out = torch.cat([run(xt[j : j + step]) for j in range(0, xt.shape[0], step)]).float().cpu().numpy()
                mean[sl] = out[:, 0] * self.stats["ndvi_std"] + self.stats["ndvi_mean"]
                blind = np.ones(nd.shape[0], dtype=bool) if s1_only else ~np.isfinite(nd).any(axis=1)
                std[sl] = np.exp(0.5 * out[:, 1]) * np.where(blind, blind_factor, sd_factor)[:, None]
        any_s1 = (np.isfinite(vv) & np.isfinite(np.asarray(vh, dtype=np.float32))).any(axis=1)
        mean[~any_s1] = np.nan
        std[~any_s1] = np.nan
        np.clip(mean, -1.0, 1.0, out=mean)
        return mean, std

    def _runner(self, dev: torch.device, dtype: torch.dtype, t: int) -> tuple[Any, int]:
        """``(run, pixels per call)``: ``run(padded (b, C, T + 2R)) -> (b, 2, T)`` on ``dev``.

        On CPU a :class:`RowTCN` (bfloat16 when ``dtype`` is and the CPU
        supports it), built once per dtype and cached on the model against the
        network and its weights' version; on CUDA the float32 network.
        """
        net = self.network
        if dev.type != "cpu" or not RowTCN.supports(net):
            r = self.radius
            on_dev = self._network_on(dev)
            return (lambda xt: on_dev(xt)[:, :, r : xt.shape[2] - r]), 1 << 30
        bf16 = dtype == torch.bfloat16 and RowTCN.supports(net, bf16=True)
        cache = self.__dict__.setdefault("_row_tcn", {})
        version = _weights.weights_key(net)
        hit = cache.get(bf16)
        if hit is None or hit[0] is not net or hit[1] != version:
            hit = cache[bf16] = (net, version, RowTCN(self._network_on(torch.device("cpu")), torch.bfloat16 if bf16 else torch.float32).eval())
        return hit[2], max(1, _CPU_ROWS // (t + 2 * self.radius))

    def _network_on(self, dev: torch.device) -> torch.nn.Module:
        """The network in eval mode on ``dev``, never moving ``self.network`` itself.

        A network already there is used as is; otherwise an eval-mode copy on
        ``dev``, cached on the model against the network and its weights'
        version. Moving the network in place (as before 2026-11-27) left a model
        shared by a process's tasks on CUDA after one prediction there, and a
        later CPU prediction of the same model then failed with a device
        mismatch (seen on the GPU machine: ``compare`` on CUDA, then
        ``predict_sequence(..., device="cpu")``).
        """
        net = self.network
        here = next(net.parameters(), None)
        if here is None or (here.device.type == dev.type and (dev.index is None or here.device.index == dev.index)):
            return net.eval() if net.training else net
        cache = self.__dict__.setdefault("_net_on", {})
        version = _weights.weights_key(net)
        hit = cache.get(str(dev))
        if hit is None or hit[0] is not net or hit[1] != version:
            hit = cache[str(dev)] = (net, version, copy.deepcopy(net).to(dev).eval())
        return hit[2]

    # ------------------------------------------------------------------ persistence
    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        """The JSON sidecar content.

        Parameters
        ----------
        weights_sha256 : str
            SHA-256 of the safetensors bytes.

        Returns
        -------
        dict
            ``format``, ``kind``, version, hash, stats, architecture, spec,
            config, metrics, history, blocks, info, calibration.
        """
        return {
            "format": SEQUENCE_FORMAT,
            "kind": self.kind,
            "format_version": _VERSION,
            "weights_sha256": weights_sha256,
            "stats": {k: float(self.stats[k]) for k in _STATS},
            "architecture": self.architecture,
            "spec": self.spec,
            "config": self.config,
            "metrics": self.metrics,
            "history": self.history,
            "blocks": self.blocks,
            "info": self.info,
            "calibration": self.calibration,
        }

    def _weights(self) -> tuple[bytes, str]:
        return _weights.cached_weights(self, self.network)

    def state_bytes(self) -> bytes:
        """The weights as safetensors bytes.

        Returns
        -------
        bytes
            Serialised once while the weights stay the same.
        """
        return self._weights()[0]

    @property
    def sha256(self) -> str:
        """SHA-256 of the weights as saved."""
        return self._weights()[1]

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.safetensors`` and ``<path>.json`` (atomically).

        Parameters
        ----------
        path : str or Path
            May end with ``.json`` or ``.safetensors`` or have no suffix;
            ``~`` is expanded.

        Returns
        -------
        Path
            The JSON sidecar's path.

        Raises
        ------
        ModelError
            ``path`` is not a ``str`` or path.
        """
        from .files import model_path

        return write_pair(model_path(path, "save"), self.state_bytes(), self.to_json_dict)


def _positive(v: Any) -> bool:
    """Whether ``v`` is a positive finite number."""
    try:
        return bool(np.isfinite(float(v)) and float(v) > 0)
    except (TypeError, ValueError):
        return False


def sequence_from_parts(meta: dict[str, Any], blob: bytes, *, name: str = "weights") -> SequenceModel:
    """Build a :class:`SequenceModel` from its sidecar content and safetensors bytes.

    Parameters
    ----------
    meta : dict
        The sidecar (as :meth:`SequenceModel.to_json_dict` writes it).
    blob : bytes
        The safetensors weights.
    name : str
        What to call the weights in error messages.

    Returns
    -------
    SequenceModel
        With its network in eval mode.

    Raises
    ------
    ModelError
        Another kind, missing or non-numeric statistics or architecture,
        metadata (``spec``, ``config``, ``info``, ...) of the wrong type, a
        calibration factor that is not positive and finite, unreadable
        weights, or weights that do not fit the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    if meta.get("kind") != "sequence":
        raise ModelError(f"{name}: expected a sequence model (kind 'sequence'), found kind {meta.get('kind')!r}")
    from .files import check_metadata, is_real

    check_metadata(meta, name, {"spec": dict})
    stats = meta.get("stats")
    if not isinstance(stats, dict) or any(k not in stats for k in _STATS) or not all(is_real(stats[k]) and np.isfinite(stats[k]) for k in _STATS):
        raise ModelError(f"{name}: the sidecar's stats: expected finite numbers {list(_STATS)}, found {stats!r:.200}")
    if any(float(stats[k]) <= 0 for k in _STATS if k.endswith("_std")):
        raise ModelError(f"{name}: the sidecar's stats: expected positive standard deviations, found {stats!r:.200}")
    calib = meta.get("calibration") or {}
    if not isinstance(calib, dict) or not all(_positive(calib[k]) for k in _SCALES if k in calib):
        raise ModelError(f"{name}: the sidecar's calibration: expected positive finite {list(_SCALES)}, found {calib!r:.200}")
    arch = meta.get("architecture")
    try:
        net = build_sequence_net(arch)  # type: ignore[arg-type]
        state = load(blob)
        net.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ModelError(f"{name}: weights do not load into the architecture {arch!r:.200}: {exc}") from exc
    return SequenceModel(
        network=net.eval(),
        stats={k: float(stats[k]) for k in _STATS},
        architecture=arch,
        spec=dict(meta.get("spec", {})),
        config=meta.get("config", {}),
        metrics=_with_test_key(meta.get("metrics", {})),
        history=meta.get("history", []),
        blocks=meta.get("blocks", {}),
        info=dict(meta.get("info", {})),
        calibration=dict(calib),
    )


def load_sequence_model(path: str | Path) -> SequenceModel:
    """Load a model written by :meth:`SequenceModel.save` (hashes checked).

    Parameters
    ----------
    path : str or Path
        The ``.json`` sidecar, the ``.safetensors`` file or their stem.

    Returns
    -------
    SequenceModel
        With ``info["loaded_from"]`` and ``info["loaded_at"]``.

    Raises
    ------
    ModelError
        Missing files, hash mismatches, another format, bad content.
    """
    from .files import model_path, read_model_pair

    meta, blob, w_path, j_path = read_model_pair(model_path(path), SEQUENCE_FORMAT, _VERSION)
    model = sequence_from_parts(meta, blob, name=w_path.name)
    model.info.update({"loaded_from": str(j_path), "loaded_at": datetime.now(timezone.utc).isoformat()})
    return model


def _with_test_key(metrics: Any) -> Any:
    """A sidecar's metrics with ``"test"`` (the gap-filling ``"test_gaps"``), which models saved before 2026-11-27 lack."""
    if isinstance(metrics, dict) and "test" not in metrics and isinstance(metrics.get("test_gaps"), dict):
        return {"test": dict(metrics["test_gaps"]), **metrics}
    return metrics
