"""Which calendar months a model's training samples cover, and which of a cube's dates fall outside them.

Clear views are scarce in the cloudiest season: in a tropical rice area with
a wet season from November to April, 53-91 clear pixel-dates a month trained
the model there against 4,855-6,722 in May-October. The network then
predicts those months from what it learnt in others (its day-of-year
features most of all), and every held-out score (test blocks, ``compare``'s
spells, the calibration) hides clear values, so those months are hardly
scored: a synthetic Demak-like scene scored 0.44 x linear interpolation while
the wet-season prediction was 0.42 NDVI too low. Training records each
month's share of its samples, and warns; prediction warns on a cube whose
dates fall in the months the model hardly saw. A model in memory gives each
such text once: ``reconstruct(cube, train(cube))`` warned twice, the same
words from training and from its prediction on the same dates.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd

__all__ = ["THIN_MONTH_SHARE", "MonthShares", "month_names", "month_shares", "months_quiet", "months_told", "thin_months",
           "thin_months_message"]

#: A month is thin when it holds less than this fraction of an even share (1/12) of the training samples (a synthetic scene
#: with a rainy season: 0.7 % in March, not thin; the Demak-like walkthrough: 0.15-0.26 % a month from January to April).
THIN_MONTH_SHARE = 0.05

#: Set while a caller that has given the months warning runs predictions of its own (``train``'s calibration).
_TOLD: ContextVar[bool] = ContextVar("fusets_dl_months_told", default=False)

_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class MonthShares(list[float]):
    """:func:`month_shares`' twelve shares, a plain list to JSON and to ``==``, remembering the months warnings given for them.

    A model keeps this very object in ``info["training_months"]`` while in
    memory, so :func:`thin_months_message` gives its training's text once,
    not again at the prediction on the same dates; a model loaded from disk
    holds a plain list and warns again.
    """

    def __init__(self, shares: Sequence[float] = ()) -> None:
        super().__init__(shares)
        self.told: set[str] = set()


def month_shares(times: np.ndarray, weights: np.ndarray | None = None) -> list[float]:
    """Each calendar month's share of ``times`` (the dates of the training samples, one per sample).

    Parameters
    ----------
    times : numpy.ndarray
        datetime64 values.
    weights : numpy.ndarray, optional
        The number of samples at each of ``times`` (a whole-series model: the
        clear values of its training pixels on each date); one each when None.

    Returns
    -------
    list of float
        Twelve shares (January first) summing to 1 (all 0 without dates), rounded to 5 decimals: a
        :class:`MonthShares`.
    """
    months = pd.DatetimeIndex(np.asarray(times).ravel()).month.to_numpy()
    w = None if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    counts = np.bincount(months - 1, weights=w, minlength=12).astype(np.float64) if months.size else np.zeros(12)
    return MonthShares(round(float(c), 5) for c in counts / max(counts.sum(), 1.0))


def thin_months(shares: Sequence[float], times: np.ndarray) -> list[int]:
    """The months (1-12) of ``times`` whose share of the training samples is under :data:`THIN_MONTH_SHARE` of an even share.

    Parameters
    ----------
    shares : sequence of float
        :func:`month_shares` of the training samples.
    times : numpy.ndarray
        The dates of a cube (datetime64).

    Returns
    -------
    list of int
        The thin months that hold at least one of ``times``, in calendar order.
    """
    present = set(pd.DatetimeIndex(np.asarray(times).ravel()).month.tolist())
    return [m for m in range(1, 13) if m in present and float(shares[m - 1]) < THIN_MONTH_SHARE / 12]


def month_names(months: Sequence[int]) -> str:
    """``"Jan, Feb, Mar"`` for ``[1, 2, 3]``.

    Parameters
    ----------
    months : sequence of int
        Months 1-12.

    Returns
    -------
    str
        Their short names, joined.
    """
    return ", ".join(_NAMES[m - 1] for m in months)


def thin_months_message(shares: Sequence[float], times: np.ndarray, doy: bool, *, sequence: bool = False) -> str | None:
    """The warning for a cube whose dates fall in months the training samples hardly cover; None when none do.

    The same text at training and at prediction on the same cube; with
    :class:`MonthShares` (a model in memory) None the second time, so that
    ``reconstruct(cube, train(cube))`` shows it once.

    Parameters
    ----------
    shares : sequence of float
        :func:`month_shares` of the training samples.
    times : numpy.ndarray
        The cube's dates.
    doy : bool
        Whether the model reads day-of-year features (then named as the
        likeliest cause, with the remedy).
    sequence : bool
        A whole-series model (its remedy is another ``seq_inputs``, not a
        ``FeatureSpec``).

    Returns
    -------
    str or None
        The message; None when no date is in a thin month, or when these
        ``shares`` gave this text before.
    """
    thin = thin_months(shares, times)
    if not thin:
        return None
    months = pd.DatetimeIndex(np.asarray(times).ravel()).month.to_numpy()
    n = int(np.isin(months, thin).sum())
    held = 100 * sum(float(shares[m - 1]) for m in thin)
    how = ("TrainConfig(model='sequence', seq_inputs=...) without 'sin_doy' and 'cos_doy' (models.sequence.ALL_CHANNELS less those "
           "two)" if sequence else "FeatureSpec(doy=False)")
    remedy = (" Its day-of-year features carry what it learnt in the other months into them, which can be far off where those "
              "months differ (a synthetic rice scene trained on its dry season: 0.42 NDVI too low in the wet season); "
              f"{how} predicts from the radar alone there" if doy else "")
    msg = (f"the model's training samples hardly cover {month_names(thin)} ({held:.1f} % of them, against "
           f"{100 / 12:.1f} % a month if even: clouds or snow hid them, or the training cubes did not reach them), and {n} of this "
           f"cube's {months.size} dates fall in them: the prediction there is extrapolated from other months, and the held-out "
           f"scores (test blocks, compare's spells, the calibration), which hide clear values, hardly score them; read those "
           f"months with care, or leave them out where the question does not need them.{remedy}")
    told = getattr(shares, "told", None)
    if told is not None:
        if msg in told:
            return None
        told.add(msg)
    return msg


@contextmanager
def months_told() -> Iterator[None]:
    """Within it, :func:`months_quiet` is True: the months warning was given, the predictions inside do not repeat it.

    Yields
    ------
    None
    """
    token = _TOLD.set(True)
    try:
        yield
    finally:
        _TOLD.reset(token)


def months_quiet() -> bool:
    """Whether a caller has given the months warning already (:func:`months_told`).

    Returns
    -------
    bool
        True inside :func:`months_told`.
    """
    return _TOLD.get()
