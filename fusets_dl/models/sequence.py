"""The whole-series gap-filling network and the per-date inputs it reads.

Per pixel the network reads its series on the cube's own time axis (the S1
dates of an aligned cube) and returns, at every date, the NDVI mean and the
log-variance of a Gaussian. It is a non-causal dilated 1-D temporal
convolution net (residual layers, kernel 3, dilations 1, 2, 4, ...): each
output sees ``receptive_radius`` dates on both sides, so it may use what
comes after a gap. Because every input channel is 0 outside the series (the
``s1_valid`` flag too), convolving a zero-padded series is the same as
running it window by window; inference pads ``receptive_radius`` dates on
each side and runs the whole series at once.

Input channels per date (:data:`CHANNELS`):

* ``vv_p``, ``vh_p``, ``ratio_p``: VV, VH and VV-VH (dB) minus the pixel's
  median over the dates of the same orbit group
  (:func:`fusets_dl.features.orbits.orbit_groups`), divided by the pixel's
  robust scale (1.4826 x median absolute deviation over the whole series,
  at least :data:`MIN_SCALE_DB`): per-pixel, per-orbit normalisation, the
  same for any chunking since the whole series is one chunk;
* ``vv_g``, ``vh_g``, ``ratio_g``: the same values standardised with the
  training set's mean and standard deviation (the absolute level);
* ``angle``: (incidence angle - 38) / 6 when the cube has one, else 0;
* ``sin_doy``, ``cos_doy``: day of year; ``dt``: days since the previous
  acquisition / 12 (0 at the first date);
* ``ndvi``, ``ndvi_valid``: the clear NDVI standardised (0 where missing)
  and its validity mask;
* ``s1_valid``: 1 where VV and VH are finite (0 outside the series).

Gap channels (:data:`GAP_CHANNELS`, computed from the *visible* clear NDVI
only, so identically in training after spells are hidden and at inference):

* ``ndvi_interp``: the linear interpolation in time of the visible clear
  NDVI (standardised; the nearest value before the first or after the last
  visible date; 0 for a series without visible NDVI);
* ``gap_before``, ``gap_after``: days to the previous and to the next
  visible clear date / :data:`GAP_SCALE_DAYS`, at most :data:`GAP_MAX`
  (:data:`GAP_MAX` where there is none; 0 on a visible date).

A model records its input channels in its architecture (``"inputs"``);
without it, the 13 channels of :data:`CHANNELS` (models saved before the gap
channels).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ModelError

__all__ = [
    "ALL_CHANNELS", "CHANNELS", "DEFAULT_INPUTS", "GAP_CHANNELS", "GAP_MAX", "GAP_SCALE_DAYS", "MIN_SCALE_DB", "RowTCN",
    "SequenceNet", "gap_channels", "input_channels", "receptive_radius", "sequence_inputs",
]

#: The base input channels, in order (all a model saved without ``architecture["inputs"]`` reads).
CHANNELS: tuple[str, ...] = (
    "vv_p", "vh_p", "ratio_p", "vv_g", "vh_g", "ratio_g", "angle",
    "sin_doy", "cos_doy", "dt", "ndvi", "ndvi_valid", "s1_valid",
)
#: Channels computed from the visible clear NDVI: its linear interpolation and the distance to it.
GAP_CHANNELS: tuple[str, ...] = ("ndvi_interp", "gap_before", "gap_after")
#: Every channel :func:`sequence_inputs` can compute, in this order.
ALL_CHANNELS: tuple[str, ...] = CHANNELS + GAP_CHANNELS
#: Input channels of a new model (``TrainConfig.seq_inputs``).
DEFAULT_INPUTS: tuple[str, ...] = ALL_CHANNELS
#: Days per unit of the ``gap_before`` / ``gap_after`` channels.
GAP_SCALE_DAYS = 60.0
#: Largest value of the gap channels (also where there is no visible NDVI on that side).
GAP_MAX = 2.0
#: Floor of the per-pixel robust scale (dB), so a flat series is not blown up.
MIN_SCALE_DB = 0.5
_NDVI, _NDVI_VALID = CHANNELS.index("ndvi"), CHANNELS.index("ndvi_valid")


def input_channels(arch: dict[str, Any] | None) -> tuple[str, ...]:
    """The input channels of an architecture dict (``arch["inputs"]``; absent: :data:`CHANNELS`).

    Parameters
    ----------
    arch : dict, optional
        As stored in :attr:`SequenceModel.architecture`.

    Returns
    -------
    tuple of str
        Channel names, in the network's input order.

    Raises
    ------
    ModelError
        Unknown or repeated names, or none.
    """
    names = (arch or {}).get("inputs")
    if names is None:
        return CHANNELS
    names = tuple(str(n) for n in names)
    bad = [n for n in names if n not in ALL_CHANNELS]
    if bad or not names or len(set(names)) != len(names):
        raise ModelError(f"sequence inputs: expected distinct names among {list(ALL_CHANNELS)}, found {list(names)}")
    return names


def receptive_radius(dilations: tuple[int, ...], kernel: int = 3) -> int:
    """Dates on each side that one output of the network sees.

    Parameters
    ----------
    dilations : tuple of int
        Dilation of each residual layer.
    kernel : int
        Odd kernel size.

    Returns
    -------
    int
        ``sum(dilations) * (kernel - 1) / 2``.
    """
    return int(sum(dilations) * (kernel - 1) // 2)


class _Residual(nn.Module):
    """x + conv1x1(GELU(dilated conv(x)))."""

    def __init__(self, channels: int, dilation: int, kernel: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)  # training only: no weights, the identity in eval mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.drop(self.act(self.conv(x))))


class SequenceNet(nn.Module):
    """Non-causal dilated temporal convolution net: (batch, channels, time) -> (batch, 2, time).

    Parameters
    ----------
    in_channels : int
        Input channels (``len(CHANNELS)``).
    channels : int
        Width of the residual layers.
    dilations : tuple of int
        One residual layer per dilation.
    kernel : int
        Odd kernel size of the dilated convolutions.
    dropout : float
        Dropout on each residual branch's hidden activations while training
        (no weights; the same network in eval mode).

    Raises
    ------
    ModelError
        An even kernel, or a non-positive width or dilation.
    """

    def __init__(
        self, in_channels: int = len(CHANNELS), channels: int = 32, dilations: tuple[int, ...] = (1, 2, 4, 8, 16), kernel: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if kernel % 2 == 0 or kernel < 1 or channels < 1 or not dilations or min(dilations) < 1:
            raise ModelError(f"SequenceNet: expected an odd kernel, channels >= 1 and dilations >= 1, found kernel={kernel}, "
                             f"channels={channels}, dilations={dilations}")
        self.inp = nn.Conv1d(in_channels, channels, 1)
        self.layers = nn.Sequential(*[_Residual(channels, int(d), kernel, dropout) for d in dilations])
        self.out = nn.Conv1d(channels, 2, 1)
        self.radius = receptive_radius(tuple(dilations), kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised NDVI mean and log-variance at every date.

        Parameters
        ----------
        x : torch.Tensor
            (batch, in_channels, time).

        Returns
        -------
        torch.Tensor
            (batch, 2, time): mean and log-variance (clamped to [-9, 4]).
        """
        h = self.out(self.layers(self.inp(x)))
        return torch.cat([h[:, :1], h[:, 1:].clamp(-9.0, 4.0)], dim=1)


def _taps(h: torch.Tensor, d: int, dtype: torch.dtype) -> torch.Tensor:
    """(b * n, 3c) in ``dtype``: dates ``t``, ``t + d``, ``t + 2d`` of ``h`` (b, n + 2d, c) side by side (a valid convolution's input)."""
    b, length, c = h.shape
    n = length - 2 * d
    h = h.to(dtype)
    out = torch.empty((b, n, 3 * c), dtype=dtype, device=h.device)
    for k in range(3):
        out[:, :, k * c : (k + 1) * c] = h[:, k * d : k * d + n]
    return out.view(b * n, 3 * c)


class RowTCN(nn.Module):
    """The inference form of a :class:`SequenceNet` on CPU: time-major rows, each dilated convolution one matrix product.

    Activations are kept time-major (batch, dates, channels) and every
    convolution with kernel 3 and dilation ``d`` is computed "valid" (only
    where all three taps exist) as one product of the rows
    ``[h(t - d), h(t), h(t + d)]`` with the stacked kernel taps: each layer
    drops ``d`` dates at each end, which the network's output on the series
    never needs, and after the last layer exactly the series' own dates are
    left, with the network's result (float32: equal to rounding). ``torch.conv1d`` on CPU
    spends most of its time in layout handling at 32 channels; these
    products run 1.5 times faster in float32 on one thread, and about 3
    times in bfloat16, where oneDNN fuses bias and GELU into the product
    (:func:`torch.ops.mkldnn._linear_pointwise`, as
    :class:`~fusets_dl.models.fused.OneDNNStack`); the residual stream, the
    input layer and the output layer stay in float32.

    Parameters
    ----------
    net : SequenceNet
        The trained network (kernel 3 only; see :meth:`supports`).
    dtype : torch.dtype
        ``torch.float32`` or ``torch.bfloat16`` (needs :meth:`supports`
        with ``bf16=True``).

    Raises
    ------
    ModelError
        A network this form cannot run, or bfloat16 without oneDNN's
        fused bfloat16 product on this CPU.
    """

    def __init__(self, net: SequenceNet, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        bf16 = dtype == torch.bfloat16
        if not self.supports(net, bf16=bf16):
            raise ModelError(f"RowTCN: expected a SequenceNet with kernel 3{' and oneDNN bfloat16 on this CPU' if bf16 else ''}, "
                             f"found {type(net).__name__} (dtype {dtype})")
        self.bf16 = bf16
        self.radius = net.radius
        wt = torch.bfloat16 if bf16 else torch.float32
        with torch.no_grad():
            self.register_buffer("w_in", net.inp.weight[:, :, 0].T.contiguous().float())
            self.register_buffer("b_in", net.inp.bias.detach().float().clone())
            self.register_buffer("w_out", net.out.weight[:, :, 0].T.contiguous().float())
            self.register_buffer("b_out", net.out.bias.detach().float().clone())
            self.dilations: list[int] = []
            self.gelu: list[str] = []
            for i, lay in enumerate(net.layers):
                taps = torch.cat([lay.conv.weight[:, :, k].T for k in range(3)], dim=0)  # (3c, c): [t - d, t, t + d]
                mix = lay.mix.weight[:, :, 0].T
                if bf16:  # oneDNN takes (out, in)
                    taps, mix = taps.T, mix.T
                self.register_buffer(f"taps{i}", taps.contiguous().to(wt))
                self.register_buffer(f"tb{i}", lay.conv.bias.detach().to(wt).clone())
                self.register_buffer(f"mix{i}", mix.contiguous().to(wt))
                self.register_buffer(f"mb{i}", lay.mix.bias.detach().to(wt).clone())
                self.dilations.append(int(lay.conv.dilation[0]))
                self.gelu.append(lay.act.approximate)

    @staticmethod
    def supports(net: nn.Module, *, bf16: bool = False) -> bool:
        """Whether ``net`` can run as a RowTCN here.

        Parameters
        ----------
        net : torch.nn.Module
            The network.
        bf16 : bool
            In bfloat16 (needs oneDNN's fused bfloat16 product on this CPU).

        Returns
        -------
        bool
            True for a :class:`SequenceNet` with kernel-3 layers (and, with
            ``bf16``, a CPU that computes bfloat16 natively).
        """
        if not isinstance(net, SequenceNet) or any(lay.conv.kernel_size[0] != 3 for lay in net.layers):
            return False
        if not bf16:
            return True
        from .fused import _onednn_bf16

        return _onednn_bf16()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's output on the series inside the padding.

        Parameters
        ----------
        x : torch.Tensor
            (batch, in_channels, radius + T + radius) float32: series padded
            with ``radius`` zero dates on each side.

        Returns
        -------
        torch.Tensor
            float32 (batch, 2, T): mean and log-variance (clamped to [-9, 4]),
            equal to ``net(x)[:, :, radius:-radius]`` (to rounding).
        """
        b, _, length = x.shape
        c = self.w_in.shape[1]
        h = torch.addmm(self.b_in, x.float().transpose(1, 2).reshape(b * length, -1), self.w_in).view(b, length, c)
        for i, (d, algo) in enumerate(zip(self.dilations, self.gelu, strict=True)):
            taps, tb, mix, mb = (getattr(self, f"{k}{i}") for k in ("taps", "tb", "mix", "mb"))
            n = h.shape[1] - 2 * d
            if self.bf16:
                g = torch.ops.mkldnn._linear_pointwise(_taps(h, d, torch.bfloat16), taps, tb, "gelu", [], algo)
                upd = torch.ops.mkldnn._linear_pointwise(g, mix, mb, "none", [], "")
            else:
                g = nn.functional.gelu(torch.addmm(tb, _taps(h, d, torch.float32), taps), approximate=algo)
                upd = torch.addmm(mb, g, mix)
            h = h[:, d : d + n] + upd.view(b, n, c)
        t = h.shape[1]
        out = torch.addmm(self.b_out, h.reshape(b * t, c), self.w_out).view(b, t, 2).transpose(1, 2)
        return torch.cat([out[:, :1], out[:, 1:].clamp(-9.0, 4.0)], dim=1)


def build_sequence_net(arch: dict[str, Any]) -> SequenceNet:
    """The network of an architecture dict (``channels``, ``dilations``, ``kernel``, optional ``inputs``).

    Parameters
    ----------
    arch : dict
        As stored in :attr:`SequenceModel.architecture`.

    Returns
    -------
    SequenceNet
        Freshly initialised.
    """
    return SequenceNet(len(input_channels(arch)), int(arch["channels"]), tuple(int(d) for d in arch["dilations"]), int(arch["kernel"]))


def _row_nanmedian(a: np.ndarray) -> np.ndarray:
    """(P, 1) median of each row's finite values (NaN for none), as ``np.nanmedian(a, axis=1, keepdims=True)``.

    One sort (NaN last) and two picks per row: ``np.nanmedian`` goes through
    masked arrays below 600 columns, several times slower on (pixels, dates).
    """
    srt = np.sort(a, axis=1)
    n = np.isfinite(a).sum(axis=1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[:, None], axis=1)
    hi = np.take_along_axis(srt, (n // 2)[:, None], axis=1)
    med = (lo + hi) / 2
    med[n == 0] = np.nan
    return med


def _robust_norm(v: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(P, T) minus the per-pixel median of each orbit group, over the per-pixel robust scale."""
    out = np.full_like(v, np.nan)
    for g in np.unique(groups):
        sel = groups == g
        sub = v[:, sel]
        with warnings_off():
            med = _row_nanmedian(sub)
        out[:, sel] = sub - med
    with warnings_off():
        mad = _row_nanmedian(np.abs(out)) * 1.4826
    scale = np.maximum(np.nan_to_num(mad, nan=MIN_SCALE_DB), MIN_SCALE_DB)
    return out / scale


@contextlib.contextmanager
def warnings_off() -> Iterator[None]:
    """Silence NumPy's all-NaN slice warnings (a pixel without radar gives NaN, then 0 with ``s1_valid`` 0).

    Yields
    ------
    None
        Inside, RuntimeWarnings are ignored.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def time_channels(days: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """(3, T): sin and cos of the day of year and days since the previous acquisition / 12.

    Parameters
    ----------
    days : numpy.ndarray
        Days since any origin, increasing (T,).
    doy : numpy.ndarray
        Day of year (T,).

    Returns
    -------
    numpy.ndarray
        float32 (3, T).
    """
    ang = 2 * np.pi * np.asarray(doy, dtype=np.float64) / 365.25
    dt = np.diff(np.asarray(days, dtype=np.float64), prepend=days[0] if len(days) else 0.0) / 12.0
    return np.stack([np.sin(ang), np.cos(ang), np.minimum(dt, 5.0)]).astype(np.float32)


def gap_channels(ndvi: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(P, 3, T): the linear interpolation of the visible values and the scaled days to the previous and next one.

    Parameters
    ----------
    ndvi : numpy.ndarray
        (P, T) visible values (any units), NaN where hidden or not clear.
    days : numpy.ndarray
        (T,) increasing days.

    Returns
    -------
    numpy.ndarray
        float32 (P, 3, T): ``ndvi_interp`` (linear in days between the
        visible values around each date, the nearest one beyond the first or
        last, 0 without any), ``gap_before`` and ``gap_after`` (days to the
        previous / next visible date over :data:`GAP_SCALE_DAYS`, at most
        :data:`GAP_MAX`, which is also the value where there is none).
    """
    v = np.asarray(ndvi, dtype=np.float32)
    p, t = v.shape
    d = np.asarray(days, dtype=np.float32)
    ok = np.isfinite(v)
    ar = np.arange(t, dtype=np.int32)
    prev = np.where(ok, ar, -1)
    np.maximum.accumulate(prev, axis=1, out=prev)
    nxt = np.minimum.accumulate(np.where(ok, ar, t)[:, ::-1], axis=1)[:, ::-1]
    has_p, has_n = prev >= 0, nxt < t
    both = has_p & has_n
    np.maximum(prev, 0, out=prev)
    nxt = np.minimum(nxt, t - 1)
    vf = np.where(ok, v, np.float32(0))
    vp = np.take_along_axis(vf, prev, axis=1)
    vn = np.take_along_axis(vf, nxt, axis=1)
    dp = d - d[prev]  # >= 0 where has_p
    dn = d[nxt] - d
    span = dp + dn
    w = np.divide(dn, span, out=np.ones_like(span), where=both & (span > 0))  # the weight of the previous value
    out = np.empty((p, 3, t), dtype=np.float32)
    out[:, 0] = np.where(both, vn + w * (vp - vn), np.where(has_p, vp, np.where(has_n, vn, np.float32(0))))
    top, scale = np.float32(GAP_MAX), np.float32(1.0 / GAP_SCALE_DAYS)
    out[:, 1] = np.where(has_p, np.minimum(dp * scale, top), top)
    out[:, 2] = np.where(has_n, np.minimum(dn * scale, top), top)
    return out


def sequence_inputs(
    vv: np.ndarray,
    vh: np.ndarray,
    ndvi: np.ndarray,
    angle: np.ndarray | None,
    tchan: np.ndarray,
    groups: np.ndarray,
    stats: dict[str, float],
    *,
    inputs: tuple[str, ...] = CHANNELS,
    days: np.ndarray | None = None,
) -> np.ndarray:
    """The network's input (P, C, T) for P pixel series.

    Parameters
    ----------
    vv, vh : numpy.ndarray
        Backscatter in dB (P, T), NaN where missing.
    ndvi : numpy.ndarray
        Clear NDVI (P, T), NaN where not clear (or hidden).
    angle : numpy.ndarray, optional
        Incidence angle in degrees (P, T) or None.
    tchan : numpy.ndarray
        (3, T) from :func:`time_channels`.
    groups : numpy.ndarray
        Orbit group of each date (T,).
    stats : dict
        ``vv_mean``, ``vv_std``, ``vh_mean``, ``vh_std``, ``ratio_mean``,
        ``ratio_std``, ``ndvi_mean``, ``ndvi_std`` of the training set.
    inputs : tuple of str
        The channels, in order (names of :data:`ALL_CHANNELS`; a model's
        :func:`input_channels`).
    days : numpy.ndarray, optional
        (T,) days of the dates; needed by the :data:`GAP_CHANNELS`.

    Returns
    -------
    numpy.ndarray
        float32 (P, len(inputs), T), no NaN.

    Raises
    ------
    ModelError
        Gap channels asked without ``days`` of length T, or unknown names.
    """
    vv = np.asarray(vv, dtype=np.float32)
    vh = np.asarray(vh, dtype=np.float32)
    p, t = vv.shape
    names = input_channels({"inputs": list(inputs)})
    need_gap = any(n in GAP_CHANNELS for n in names)
    if need_gap and (days is None or np.shape(days) != (t,)):
        raise ModelError(f"sequence_inputs: the gap channels need the days of the {t} dates, found {None if days is None else np.shape(days)}")
    ratio = vv - vh
    s1_ok = np.isfinite(vv) & np.isfinite(vh)
    x = np.zeros((p, len(ALL_CHANNELS) if need_gap else len(CHANNELS), t), dtype=np.float32)
    need_p = any(n.endswith("_p") for n in names)
    for k, (name, v) in enumerate((("vv", vv), ("vh", vh), ("ratio", ratio))):
        v = np.where(s1_ok, v, np.nan)
        if need_p:
            x[:, k] = _robust_norm(v, groups)
        x[:, 3 + k] = (v - stats[f"{name}_mean"]) / stats[f"{name}_std"]
    if angle is not None:
        x[:, 6] = (np.asarray(angle, dtype=np.float32) - 38.0) / 6.0
    x[:, 7:10] = tchan[None]
    ok = np.isfinite(ndvi)
    std_ndvi = (ndvi - stats["ndvi_mean"]) / stats["ndvi_std"]
    x[:, _NDVI] = np.where(ok, std_ndvi, 0.0)
    x[:, _NDVI_VALID] = ok
    x[:, 12] = s1_ok
    x[:, :7] *= s1_ok[:, None]
    np.nan_to_num(x[:, :7], copy=False, nan=0.0, posinf=0.0, neginf=0.0)  # the other channels are finite by construction
    if need_gap:
        x[:, len(CHANNELS):] = gap_channels(std_ndvi, days)  # type: ignore[arg-type]  # NaN where not clear
    if names == ALL_CHANNELS[: len(names)] and x.shape[1] == len(names):
        return x
    return np.ascontiguousarray(x[:, [ALL_CHANNELS.index(n) for n in names]])


def hide_ndvi(x: np.ndarray | torch.Tensor, hide: np.ndarray | torch.Tensor, inputs: tuple[str, ...] = CHANNELS) -> np.ndarray | torch.Tensor:
    """Inputs with the NDVI channels zeroed where ``hide`` (P, T) is true (in place, returned).

    Only ``ndvi`` and ``ndvi_valid``: the gap channels depend on the whole
    series and are recomputed from the visible values (:func:`gap_channels`).

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        (P, C, T) inputs.
    hide : numpy.ndarray or torch.Tensor
        Boolean (P, T).
    inputs : tuple of str
        The channels of ``x``.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        ``x``.
    """
    keep = ~hide
    for name in ("ndvi", "ndvi_valid"):
        if name in inputs:
            k = inputs.index(name)
            x[:, k] = x[:, k] * keep
    return x
