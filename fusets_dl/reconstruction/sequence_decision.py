"""What a sequence model's reconstruction decided on a cube, as a value another call can be given.

On a cube a :class:`~fusets_dl.models.SequenceModel` was not trained on,
:func:`~fusets_dl.reconstruction.reconstruct` decides two things from the
cube's own clear views: whether the model's fill is used at all (its S1-only
skill; at or below 0 the gaps are filled from the clear views alone) and the
factor on the model's std (refitted on held-out spells). Tiles of one job
(openEO's ``apply_neighborhood``, a batch over parts of a region) each decide
anew and disagree at their borders. The reconstruction's attrs record the
decision (``model_kind``, ``model_sha256``, ``std_scale``, ``s1_only``,
``sequence_fill``, ``std_refit_factor``); given back as ``weights``
(``dict(rec.attrs)``, or a dict holding just those keys) every tile fills as
that call did, with no check or refit of its own. ``std_scale`` is the
model's std calibration the factor was decided on: the same network
recalibrated since (:func:`~fusets_dl.training.sequence.calibrate_sequence`)
keeps its ``model_sha256`` and refuses the decision.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..validate import is_finite_positive

__all__ = ["SEQUENCE_FILLS", "SequenceDecision", "is_sequence_decision", "sequence_decision"]

#: ``sequence_fill`` values: the model's mean and std, or the clear views interpolated (the model's S1 reading has no skill).
SEQUENCE_FILLS = ("model", "clear_views")

_SHA = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class SequenceDecision:
    """How a sequence model fills a cube: ``fill`` (:data:`SEQUENCE_FILLS`) and the factor on its std.

    Attributes
    ----------
    fill : str
        ``"model"`` or ``"clear_views"``.
    std_factor : float
        Factor on the model's std (1: its own).
    s1_only : bool
        The mode it was decided for (the factor is the mode's).
    model_sha256 : str
        The model it was decided for.
    std_scale : float
        That model's std calibration in that mode (``model.std_scale(s1_only)``)
        when it was decided: the factor is relative to it.
    """

    fill: str
    std_factor: float
    s1_only: bool
    model_sha256: str
    std_scale: float

    def to_attrs(self) -> dict[str, Any]:
        """The decision as attrs.

        Returns
        -------
        dict
            ``model_kind``, ``model_sha256``, ``std_scale``, ``s1_only``,
            ``sequence_fill`` and ``std_refit_factor``, plain JSON values
            that :func:`sequence_decision` reads back.
        """
        return {"model_kind": "sequence", "model_sha256": self.model_sha256, "std_scale": float(self.std_scale),
                "s1_only": int(self.s1_only), "sequence_fill": self.fill, "std_refit_factor": float(self.std_factor)}


def is_sequence_decision(value: Any) -> bool:
    """Whether ``value`` is meant as a sequence model's decision: a :class:`SequenceDecision`, or attrs with ``model_kind`` ``"sequence"`` or ``sequence_fill``.

    Parameters
    ----------
    value : object
        A ``weights`` argument of :func:`~fusets_dl.reconstruction.reconstruct`.

    Returns
    -------
    bool
        True for a decision in any of its forms (not checked: see :func:`sequence_decision`).
    """
    return isinstance(value, SequenceDecision) or (isinstance(value, Mapping) and (value.get("model_kind") == "sequence" or "sequence_fill" in value))


def sequence_decision(value: Any, where: str = "reconstruct: weights") -> SequenceDecision:
    """``value`` (a decision or a sequence reconstruction's attrs) as a checked :class:`SequenceDecision`.

    Parameters
    ----------
    value : SequenceDecision or mapping
        The attrs of a sequence model's reconstruction (``dict(rec.attrs)``;
        other keys are ignored) or a dict with ``model_sha256``,
        ``std_scale``, ``s1_only``, ``sequence_fill``, optionally
        ``std_refit_factor`` (default 1) and ``model_kind`` (``"sequence"``
        when given).
    where : str
        The caller, for the messages.

    Returns
    -------
    SequenceDecision
        The checked decision.

    Raises
    ------
    ConfigError
        A key missing (attrs of a prediction, or of a reconstruction made
        before the decision was recorded, lack ``sequence_fill``), a
        ``model_kind`` other than ``"sequence"``, or a value of the wrong kind.
    """
    if isinstance(value, SequenceDecision):
        value = value.to_attrs()
    if not is_sequence_decision(value):
        raise ConfigError(f"{where}: expected a sequence model's decision (attrs with model_kind 'sequence'), found {value!r}")
    if "sequence_fill" not in value:
        raise ConfigError(f"{where}: expected the attrs of a sequence model's reconstruction with its decision (the key "
                          "'sequence_fill'), found none: the attrs of a prediction, or of a reconstruction made by fusets_dl "
                          "before 2026-11-28; reconstruct that part (again) and pass its attrs")
    problems = []
    if value.get("model_kind", "sequence") != "sequence":
        problems.append(f"model_kind: expected 'sequence' (a sequence model's decision), found {value['model_kind']!r}")
    sha = value.get("model_sha256")
    if not (isinstance(sha, str) and _SHA.match(sha)):
        problems.append(f"model_sha256: expected the model's SHA-256 (64 hex digits), found {sha!r}")
    s1 = value.get("s1_only")
    if isinstance(s1, (bool, np.bool_)) or s1 in (0, 1):
        s1 = bool(s1)
    else:
        problems.append(f"s1_only: expected 0 or 1, found {s1!r}")
    fill = value["sequence_fill"]
    if fill not in SEQUENCE_FILLS:
        problems.append(f"sequence_fill: expected one of {list(SEQUENCE_FILLS)}, found {fill!r}")
    factor = value.get("std_refit_factor", 1.0)
    if isinstance(factor, (bool, np.bool_)) or not is_finite_positive(factor):
        problems.append(f"std_refit_factor: expected a finite number > 0, found {factor!r}")
    scale = value.get("std_scale")
    if isinstance(scale, (bool, np.bool_)) or not is_finite_positive(scale):
        problems.append(f"std_scale: expected the model's std calibration when it decided (a finite number > 0), found {scale!r}")
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    return SequenceDecision(fill=str(fill), std_factor=float(factor), s1_only=bool(s1), model_sha256=str(sha), std_scale=float(scale))
