"""Standardisation of features and target: what a model subtracts and divides by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Scaler"]


@dataclass
class Scaler:
    """Standardisation of features and target (mean and standard deviation).

    Parameters
    ----------
    feature_mean, feature_std : numpy.ndarray
        Per feature (f,), float32 (:meth:`fit` gives a constant feature a
        standard deviation of 1).
    target_mean, target_std : float
        Of the NDVI target.
    """

    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float
    target_std: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form.

        Returns
        -------
        dict
            ``feature_mean``, ``feature_std`` (lists of float), ``target_mean``, ``target_std``.
        """
        return {
            "feature_mean": [float(v) for v in self.feature_mean],
            "feature_std": [float(v) for v in self.feature_std],
            "target_mean": float(self.target_mean),
            "target_std": float(self.target_std),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        """Inverse of :meth:`to_dict`.

        Parameters
        ----------
        d : dict
            As written by :meth:`to_dict`.

        Returns
        -------
        Scaler
            With float32 feature arrays.
        """
        return cls(
            np.asarray(d["feature_mean"], dtype=np.float32),
            np.asarray(d["feature_std"], dtype=np.float32),
            float(d["target_mean"]),
            float(d["target_std"]),
        )

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Scaler:
        """Fit on training samples; NaN (absent optional features) is skipped.

        Parameters
        ----------
        x : numpy.ndarray
            Features (n, f).
        y : numpy.ndarray
            Target (n,).

        Returns
        -------
        Scaler
            Means and standard deviations over the finite values.
        """
        ok = np.isfinite(x)
        cnt = ok.sum(axis=0)
        mean = np.where(cnt > 0, np.where(ok, x, 0.0).sum(axis=0) / np.maximum(cnt, 1), 0.0)
        std = np.sqrt(np.where(ok, (x - mean) ** 2, 0.0).sum(axis=0) / np.maximum(cnt, 1))
        return cls(
            mean.astype(np.float32),
            np.where(std > 1e-6, std, 1.0).astype(np.float32),
            float(y.mean()),
            float(max(y.std(), 1e-6)),
        )
