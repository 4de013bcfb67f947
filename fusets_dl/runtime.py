"""The torch runtime shared by every network: device, precision, batching, the fast dropout, the weights payload.

``device``, ``precision`` and ``batch_size`` left at None take
``fdl.set_options(...)`` (:mod:`fusets_dl.options`); an explicit value wins.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from .errors import ModelError
from .options import option

__all__ = [
    "Dropout",
    "Payload",
    "cpu_pool",
    "default_batch_size",
    "from_payload",
    "make_payload",
    "payload_sha256",
    "predict_rows",
    "resolve_device",
    "resolve_precision",
]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The torch device for ``device``: ``"auto"`` gives CUDA when present, CPU otherwise.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``; None takes
        ``fdl.set_options(device=...)`` (default ``"auto"``).

    Returns
    -------
    torch.device
        The device to run on.

    Raises
    ------
    ModelError
        An unknown device name, or CUDA asked for where there is none.
    """
    if isinstance(device, torch.device):
        return device
    device = option("device", device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"device: expected 'auto', 'cpu' or 'cuda[:n]', found {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available here; use device='auto'")
    return dev


_BF16_CPU: bool | None = None


def _cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512-BF16 or AMX-BF16 flags, Linux)."""
    global _BF16_CPU
    if _BF16_CPU is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
                flags = next((line for line in fh if line.startswith("flags")), "").split()
        except OSError:
            flags = []
        _BF16_CPU = "avx512_bf16" in flags or "amx_bf16" in flags
    return _BF16_CPU


def resolve_precision(precision: str | None, device: torch.device) -> torch.dtype:
    """Inference dtype: ``"auto"`` is bfloat16 on CUDA and on CPUs with native bf16, else float32.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"} or None
        None takes ``fdl.set_options(precision=...)``.
    device : torch.device
        The device the network runs on.

    Returns
    -------
    torch.dtype
        ``torch.bfloat16`` or ``torch.float32``.
    """
    precision = option("precision", precision)
    if precision == "float32":
        return torch.float32
    if precision == "bfloat16":
        return torch.bfloat16
    if precision != "auto":
        raise ModelError(f"precision: expected 'auto', 'float32' or 'bfloat16', found {precision!r}")
    if device.type == "cuda" or (device.type == "cpu" and _cpu_has_bf16()):
        return torch.bfloat16
    return torch.float32


def default_batch_size(device: torch.device) -> int:
    """Pixel-dates per forward pass when neither the argument nor ``fdl.set_options(batch_size=...)`` sets it.

    Parameters
    ----------
    device : torch.device
        Where the network runs.

    Returns
    -------
    int
        16,384 on CPU (the default network's widest activations, 16,384 x 256
        in bf16, stay within the caches: a quarter less time per row than
        65,536; 4,096 and 8,192 rows were no faster with one batch per core,
        see :func:`predict_rows`), 1,048,576 on CUDA (fills the GPU).
    """
    return 1 << 20 if device.type == "cuda" else 1 << 14


#: Thread pools for CPU batches by size; each worker runs torch with one intra-op thread.
_CPU_POOLS: dict[int, ThreadPoolExecutor] = {}
_CPU_POOL_LOCK = threading.Lock()
_IN_CPU_POOL = threading.local()


def _forget_cpu_pools() -> None:
    """In a forked child: the parent's pool threads do not exist there, so start afresh (a submit would wait forever)."""
    global _CPU_POOL_LOCK
    _CPU_POOLS.clear()
    _CPU_POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_cpu_pools)


def _one_thread_worker(barrier: threading.Barrier) -> None:
    """Initialise a pool thread: torch runs one intra-op thread in it (set after its own lazy thread setup)."""
    torch.get_num_threads()  # torch's per-thread setup first, or it would later reset this thread's count
    torch.set_num_threads(1)
    _IN_CPU_POOL.active = True
    barrier.wait()  # every worker a thread of its own


def cpu_pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads, each running torch with one intra-op thread, for CPU batches.

    One batch per core instead of each batch split over all cores: no
    OpenMP barrier per layer, each core's batch in its own cache, and
    callers that already run in parallel (Dask's threads, each predicting
    its chunk) share these workers instead of starting a team of intra-op
    threads each (2 Dask threads x 2 torch threads on 2 cores). On the
    shared 2-core machine (load average 7 to 8) this gave 3.4 to 3.9 times
    the throughput of 2-thread batches; the CPU time per row is that of one
    thread (the idle 2-core gain is not measured). torch's thread count
    outside the pool is left as it was. Forked children build their own.

    Parameters
    ----------
    workers : int
        Number of threads (the caller's ``torch.get_num_threads()``).

    Returns
    -------
    concurrent.futures.ThreadPoolExecutor
        Created once per size and process, then reused.
    """
    with _CPU_POOL_LOCK:
        pool = _CPU_POOLS.get(workers)
        if pool is None:
            caller = torch.get_num_threads()
            pool = ThreadPoolExecutor(workers, thread_name_prefix="fusets-cpu")
            barrier = threading.Barrier(workers)
            try:
                for f in [pool.submit(_one_thread_worker, barrier) for _ in range(workers)]:
                    f.result()
            finally:
                torch.set_num_threads(caller)  # the workers' setting also changed torch's default for new threads: restore it
            _CPU_POOLS[workers] = pool
        return pool


def predict_rows(net: nn.Module, xs: np.ndarray, *, batch_size: int | None, device: torch.device, staged: bool | None = None) -> np.ndarray:
    """NDVI of the raw feature rows ``xs`` (n, f) through ``net.predict`` (an :class:`~fusets_dl.models.fused.InferenceNet`), batch by batch.

    Nothing passes over the whole chunk on the host: each batch is
    standardised, checked for missing features and masked by the network
    itself, on its device. On CPU the batches are zero-copy views of ``xs``.
    On CUDA (``staged``) each batch is copied into one of two page-locked
    host buffers that are allocated once per thread and reused by every
    later chunk (no pinning of whole chunks), uploaded asynchronously, and
    its result copied back into a second pair of pinned buffers; the host
    fills the next batch while the GPU computes the previous one and waits
    only for a buffer's batch from two steps back. On CPU with more than
    one torch thread and more than one batch, the batches go to
    :func:`cpu_pool`: one batch per core, each computed with one thread
    (the same batches and kernels, so the same numbers as one thread
    computing them in turn).

    Parameters
    ----------
    net : torch.nn.Module
        An inference network with a ``predict(x)`` method, on ``device``, in eval mode.
    xs : numpy.ndarray
        float32 rows (n, f).
    batch_size : int or None
        Rows per forward pass; None takes ``fdl.set_options(batch_size=...)``,
        then :func:`default_batch_size`.
    device : torch.device
        Where ``net`` runs.
    staged : bool, optional
        Use the staged (reusable host buffer) path; None: on CUDA only.
        Forcing it on CPU runs the same buffer logic without page-locking.

    Returns
    -------
    numpy.ndarray
        float32 (n,) NDVI in [-1, 1], NaN where a required feature is missing.

    Raises
    ------
    ModelError
        A batch size below 1.
    """
    n = xs.shape[0]
    bs = int(option("batch_size", batch_size) or default_batch_size(device))
    if bs < 1:
        raise ModelError(f"batch_size: expected a positive number of rows, found {batch_size}")
    out = np.empty(n, dtype=np.float32)
    staged = device.type == "cuda" if staged is None else staged
    if not staged and device.type == "cpu" and n > bs and not getattr(_IN_CPU_POOL, "active", False):
        workers = torch.get_num_threads()
        if workers > 1:
            list(cpu_pool(workers).map(lambda i: _cpu_batch(net, xs, out, i, bs), range(0, n, bs)))
            return out
    with torch.inference_mode():
        if not staged:
            for i in range(0, n, bs):
                out[i : i + bs] = net.predict(torch.from_numpy(xs[i : i + bs]).to(device)).cpu().numpy()
            return out
        _staged_rows(net, xs, out, bs, device)
    return out


def _cpu_batch(net: nn.Module, xs: np.ndarray, out: np.ndarray, i: int, bs: int) -> None:
    """Rows ``i:i+bs`` of ``xs`` through ``net.predict`` into ``out``, in a :func:`cpu_pool` worker."""
    with torch.inference_mode():  # thread-local: set in the worker
        out[i : i + bs] = net.predict(torch.from_numpy(xs[i : i + bs])).numpy()


#: Free host buffer sets per (device, rows, width): a set is taken by one chunk at a time and given back after it.
_HOST_POOL: dict[tuple[str, int, int], list[tuple[list[torch.Tensor], list[torch.Tensor]]]] = {}
_HOST_LOCK = threading.Lock()


def _take_buffers(rows: int, width: int, device: torch.device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A set of two input (rows, width) and two output (rows,) host buffers, page-locked for CUDA: a free one, or a new one."""
    with _HOST_LOCK:
        free = _HOST_POOL.setdefault((str(device), rows, width), [])
        if free:
            return free.pop()
    pin = device.type == "cuda"
    ins = [torch.empty((rows, width), dtype=torch.float32, pin_memory=pin) for _ in range(2)]
    outs = [torch.empty(rows, dtype=torch.float32, pin_memory=pin) for _ in range(2)]
    return ins, outs


def _give_buffers(bufs: tuple[list[torch.Tensor], list[torch.Tensor]], device: torch.device) -> None:
    """Return a buffer set taken by :func:`_take_buffers` for the next chunk."""
    rows, width = bufs[0][0].shape
    with _HOST_LOCK:
        _HOST_POOL.setdefault((str(device), rows, width), []).append(bufs)


def _staged_rows(net: nn.Module, xs: np.ndarray, out: np.ndarray, bs: int, device: torch.device) -> None:
    """Fill ``out`` with ``net.predict`` of ``xs`` through two reusable host buffers (see :func:`predict_rows`)."""
    bufs = _take_buffers(bs, xs.shape[1], device)
    try:
        _staged_batches(net, xs, out, bufs, device)
    finally:
        if device.type == "cuda":  # after an error copies may still be in flight: never hand out a buffer in use
            torch.cuda.synchronize(device)
        _give_buffers(bufs, device)


def _staged_batches(net: nn.Module, xs: np.ndarray, out: np.ndarray, bufs: tuple[list[torch.Tensor], list[torch.Tensor]], device: torch.device) -> None:
    """The batches of :func:`_staged_rows`, alternating between the two buffers of ``bufs``."""
    (ins, outs), n, bs = bufs, xs.shape[0], bufs[0][0].shape[0]
    cuda = device.type == "cuda"
    pending: list[tuple[Any, int, int] | None] = [None, None]

    def _drain(slot: int) -> None:
        job = pending[slot]
        if job is not None:
            ev, j, m = job
            if ev is not None:
                ev.synchronize()  # this buffer's upload, compute and download are done
            out[j : j + m] = outs[slot][:m].numpy()
            pending[slot] = None

    for k, i in enumerate(range(0, n, bs)):
        slot = k % 2
        _drain(slot)
        m = min(bs, n - i)
        ins[slot][:m].copy_(torch.from_numpy(xs[i : i + m]))  # the host fills this while the GPU works on the other buffer
        xb = ins[slot][:m].to(device, non_blocking=True)
        yb = net.predict(xb)
        outs[slot][:m].copy_(yb, non_blocking=cuda)
        ev = None
        if cuda:
            ev = torch.cuda.Event()
            ev.record()
        pending[slot] = (ev, i, m)
    for slot in (0, 1):
        _drain(slot)


class Dropout(nn.Module):
    """Dropout whose CPU masks come from 16-bit random words (keep probability quantised to 1/65536).

    ``torch.nn.Dropout`` draws one random number per element with a
    generator that is slow on CPU (it costs about four times a 256-wide
    Linear layer's forward pass there and halved training throughput). Here
    one 64-bit draw gives four 16-bit words, one per element, which raises
    training throughput of the default MLP from 125,000 to 200,000 samples/s
    on 2 cores. The expectation is the same (kept values scaled by
    ``1 / (1 - p)``), and so is the generator: the global torch one
    (``torch.manual_seed``).
    On CUDA it is ``torch.nn.functional.dropout``. Identity in eval mode.

    Parameters
    ----------
    p : float
        Drop probability, 0 <= p < 1.

    Raises
    ------
    ModelError
        ``p`` outside [0, 1).
    """

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ModelError(f"dropout: expected 0 <= p < 1, found {p}")
        self.p = float(p)
        self._threshold = round(self.p * 65536) - 32768  # keep where the signed 16-bit word >= threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drop elements with probability ``p`` in training mode.

        Parameters
        ----------
        x : torch.Tensor
            Any shape.

        Returns
        -------
        torch.Tensor
            ``x`` itself in eval mode (or with ``p == 0``), else a new tensor
            with dropped elements 0 and kept ones scaled by ``1 / P(keep)``.
        """
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return nn.functional.dropout(x, self.p, True)
        n = x.numel()
        words = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64).view(torch.int16)[:n].view(x.shape)
        keep = 1.0 - (self._threshold + 32768) / 65536
        return x * (words >= self._threshold).to(x.dtype).mul_(1.0 / keep)

    def extra_repr(self) -> str:
        """``p=...`` in the module's repr.

        Returns
        -------
        str
            The dropout probability as torch prints it.
        """
        return f"p={self.p}"


# --------------------------------------------------------------------------- weights travelling to Dask workers

T = TypeVar("T")
#: (JSON sidecar, safetensors bytes, SHA-256 of both): what a Dask graph carries of a model.
Payload = tuple[str, bytes, str]
_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def payload_sha256(meta_json: str, blob: bytes) -> str:
    """SHA-256 over the weights and the JSON sidecar together (a change to either is another model).

    Parameters
    ----------
    meta_json : str
        The sidecar as JSON text.
    blob : bytes
        The safetensors weights.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    h = hashlib.sha256(blob)
    h.update(b"\0")
    h.update(meta_json.encode("utf-8"))
    return h.hexdigest()


def make_payload(meta: dict[str, Any], blob: bytes) -> Payload:
    """The payload of a model: its sidecar as JSON, its weights, and their joint hash.

    Parameters
    ----------
    meta : dict
        The sidecar content.
    blob : bytes
        The safetensors weights.

    Returns
    -------
    Payload
        ``(meta_json, blob, sha256)``: what a Dask graph carries (as one key).
    """
    meta_json = json.dumps(meta, sort_keys=True, default=str)
    return meta_json, blob, payload_sha256(meta_json, blob)


def from_payload(payload: Payload, build: Callable[[dict[str, Any], bytes], T], kind: str) -> T:
    """Rebuild a model from its payload once per process and ``kind`` (cached by the joint hash).

    Parameters
    ----------
    payload : Payload
        As returned by :func:`make_payload`.
    build : callable
        ``build(meta, blob)`` returning the model (e.g.
        :func:`fusets_dl.models.io.model_from_parts`).
    kind : str
        What is built (so two model classes never share a cache entry).

    Returns
    -------
    object
        The model, shared by every task of this process with the same payload.
    """
    meta_json, blob, sha = payload
    key = (kind, sha)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is None:
            hit = _CACHE[key] = build(json.loads(meta_json), blob)
        return hit
