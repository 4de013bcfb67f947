"""A network's weights as saved: safetensors bytes, their SHA-256, and a key that changes when they do."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Any

from torch import nn

__all__ = ["cached_weights", "serialise", "weights_digest", "weights_key"]


def weights_key(network: nn.Module) -> Hashable:
    """A key that changes whenever a tensor of the network's state changes or is replaced.

    Every parameter and buffer contributes its name, storage address, shape,
    dtype, device and autograd version counter (bumped by every in-place
    operation: optimiser steps, ``load_state_dict``, BatchNorm running
    statistics). Edits through ``tensor.data`` bypass the version counter;
    assign a new network (or call ``load_state_dict``) instead.

    Parameters
    ----------
    network : torch.nn.Module
        The network.

    Returns
    -------
    hashable
        Equal for unchanged weights.
    """
    return tuple(
        (name, t.data_ptr(), t._version, tuple(t.shape), str(t.dtype), str(t.device))
        for name, t in network.state_dict(keep_vars=True).items()
    )


def serialise(network: nn.Module) -> bytes:
    """The network's state as safetensors bytes (on the CPU, contiguous).

    Parameters
    ----------
    network : torch.nn.Module
        The network.

    Returns
    -------
    bytes
        What :meth:`FusionModel.save <fusets_dl.models.FusionModel.save>` writes.
    """
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    return save(state)


def weights_digest(blob: bytes) -> str:
    """SHA-256 of serialised weights.

    Parameters
    ----------
    blob : bytes
        As returned by :func:`serialise`.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    return hashlib.sha256(blob).hexdigest()


def cached_weights(holder: Any, network: nn.Module) -> tuple[bytes, str]:
    """The network's safetensors bytes and their SHA-256, cached on ``holder`` while the weights stay the same.

    The cache (``holder.__dict__["_weights_cache"]``) is keyed on the network
    object and :func:`weights_key`, so an optimiser step, ``load_state_dict``
    or a new network invalidates it.

    Parameters
    ----------
    holder : object
        The model that owns ``network`` (a ``FusionModel`` or ``SequenceModel``).
    network : torch.nn.Module
        Its network.

    Returns
    -------
    tuple of (bytes, str)
        The serialised weights and their SHA-256.
    """
    key = weights_key(network)
    hit = holder.__dict__.get("_weights_cache")
    if hit is not None and hit[0] is network and hit[1] == key:
        return hit[2], hit[3]
    blob = serialise(network)
    sha = weights_digest(blob)
    holder.__dict__["_weights_cache"] = (network, key, blob, sha)
    return blob, sha
