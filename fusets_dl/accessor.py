"""The ``fusion`` accessor: a thin front over the stage functions.

Each method shows the real parameters of the function it calls (no
``**kwargs`` pass-through), imports that stage on first use (so registering
the accessor costs nothing), and documents itself by pointing at the function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import xarray as xr

from .validate import check_cube

if TYPE_CHECKING:
    from .baselines.gp import GPConfig
    from .evaluation.comparison import CompareConfig, CompareResult
    from .features import FeatureSpec
    from .models import FusionModel
    from .reconstruction import Calibration
    from .segmentation import SegmentConfig, Segmenter
    from .training import TrainConfig

__all__ = ["FusionDataArrayAccessor", "FusionDatasetAccessor"]


def _phenology(
    self: FusionDatasetAccessor | FusionDataArrayAccessor,
    *,
    max_seasons: int = 3,
    method: str = "threshold",
    amplitude_fraction: float = 0.5,
    min_amplitude: float = 0.1,
    min_length: float = 30.0,
    smooth: float | None = 200.0,
    step_days: float | None = None,
    period: tuple[Any, Any] | None = None,
    min_valid: int = 6,
    by: xr.DataArray | None = None,
    noise_factor: float = 3.0,
    noise: xr.DataArray | float | None = None,
    std: xr.DataArray | None = None,
    min_separation: float | None = None,
    min_span: float | None = None,
    start_threshold: float | None = None,
    end_threshold: float | None = None,
    threshold_type: str = "fraction",
    pos_level: float = 0.8,
    extrapolate: bool | float = False,
    by_year: bool | int = False,
    envelope: bool | int = False,
    main_fraction: float = 0.5,
    main_months: tuple[int, int] | None = None,
    year_start: int = 1,
    classes: xr.DataArray | None = None,
    params: dict[Any, dict[str, Any]] | None = None,
    observed: xr.DataArray | bool | None = None,
) -> xr.Dataset:
    """Multi-season phenometrics of the NDVI series (a Dataset's ``NDVI``); see :func:`fusets_dl.phenology`.

    Parameters
    ----------
    max_seasons, method, amplitude_fraction, min_amplitude, min_length, smooth, step_days, period, min_valid, by
        As in :func:`fusets_dl.phenology`.
    noise_factor, noise, std, min_separation, min_span, start_threshold, end_threshold, threshold_type
        As in :func:`fusets_dl.phenology`.
    pos_level, extrapolate, by_year, envelope, main_fraction, main_months, year_start, classes, params
        As in :func:`fusets_dl.phenology`.
    observed : xarray.DataArray or bool, optional
        As in :func:`fusets_dl.phenology`; None on a Dataset with a
        ``source`` variable (a reconstruction): its ``source`` flags, which
        add ``observed_fraction`` and ``longest_gap`` per season; False:
        not used.

    Returns
    -------
    xarray.Dataset
        Phenometrics per season and pixel (``sos``, ``pos``, ``eos``, ...) and ``n_seasons``.
    """
    from .phenometrics import phenology

    if observed is None:
        observed = None if by is not None else self._source()
    elif observed is False:
        observed = None

    return phenology(self._ndvi(), max_seasons=max_seasons, method=method, amplitude_fraction=amplitude_fraction,
                     min_amplitude=min_amplitude, min_length=min_length, smooth=smooth, step_days=step_days,
                     period=period, min_valid=min_valid, by=by, noise_factor=noise_factor, noise=noise, std=std,
                     min_separation=min_separation, min_span=min_span, start_threshold=start_threshold,
                     end_threshold=end_threshold, threshold_type=threshold_type, pos_level=pos_level,
                     extrapolate=extrapolate, by_year=by_year, envelope=envelope, main_fraction=main_fraction,
                     main_months=main_months, year_start=year_start, classes=classes, params=params, observed=observed)


@xr.register_dataset_accessor("fusion")
class FusionDatasetAccessor:
    """``ds.fusion``: fusion-cube operations on a Dataset (see DESIGN: the fusion cube)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def validate(self, *, need_target: bool = False) -> xr.Dataset:
        """Check the Dataset against the fusion-cube data model and return it unchanged.

        Parameters
        ----------
        need_target : bool
            Also require the ``NDVI`` target variable.

        Returns
        -------
        xarray.Dataset
            The same Dataset.
        """
        check_cube(self._ds, need_target=need_target)
        return self._ds

    def summary(self) -> dict[str, Any]:
        """What survived each step of building the cube; see :func:`fusets_dl.alignment.summarise`.

        Returns
        -------
        dict
            The data funnel (pixel-dates per mask) and the alignment settings.
        """
        from .alignment import summarise

        return summarise(self._ds)

    def features(self, spec: FeatureSpec | None = None) -> xr.DataArray:
        """The feature cube; see :func:`fusets_dl.compute_features`.

        Parameters
        ----------
        spec : FeatureSpec, optional
            Which features; the default spec when None.

        Returns
        -------
        xarray.DataArray
            ``features(time, y, x, feature)``, lazy on Dask input.
        """
        from .features import compute_features

        return compute_features(self._ds, spec)

    def speckle_filter(self, *, window: int = 5, by_orbit: bool = True, variables: tuple[str, ...] = ("VV", "VH")) -> xr.Dataset:
        """The cube with its S1 backscatter speckle-filtered (Quegan and Yu); see :func:`fusets_dl.speckle_filter`.

        Parameters
        ----------
        window, by_orbit, variables
            Boxcar side, orbit-group averaging and the variables filtered, as in :func:`fusets_dl.speckle_filter`.

        Returns
        -------
        xarray.Dataset
            A copy with the filtered variables, lazy on Dask input.
        """
        from .features.speckle import speckle_filter

        return speckle_filter(self._ds, window=window, by_orbit=by_orbit, variables=variables)

    def predict_ndvi(
        self,
        model: FusionModel,
        *,
        batch_size: int | None = None,
        device: str | None = None,
        precision: str | None = None,
    ) -> xr.DataArray:
        """NDVI predicted from S1 by ``model``, lazy on Dask input; see :func:`fusets_dl.predict_ndvi`.

        Parameters
        ----------
        model : FusionModel
            A trained model; its feature spec decides the features.
        batch_size, device, precision
            Inference settings; None takes :func:`fusets_dl.set_options`.

        Returns
        -------
        xarray.DataArray
            ``NDVI_pred(time, y, x)`` float32.
        """
        from .inference import predict_ndvi

        return predict_ndvi(self._ds, model, batch_size=batch_size, device=device, precision=precision)

    def reconstruct(
        self,
        model: FusionModel,
        *,
        freq: str | None = None,
        smooth: bool | None = None,
        lam: float | None = None,
        obs_std: float = 0.03,
        weights: dict[str, Any] | Calibration | str | None = "model",
        predicted: xr.DataArray | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        precision: str | None = None,
        pred_gap_days: float | None = None,
        calibration: dict[str, Any] | None = None,
        debias_days: float | None = None,
        s1_only: bool | None = None,
    ) -> xr.Dataset:
        """Gap-filled NDVI with ``NDVI_std`` and ``source``; see :func:`fusets_dl.reconstruct`.

        Parameters
        ----------
        model : FusionModel
            The model whose predictions fill the gaps.
        freq, smooth, lam, obs_std, weights, predicted, pred_gap_days, debias_days
            Output grid, smoothing and weighting, as in :func:`fusets_dl.reconstruct`
            (``weights="model"``: the setting the model chose on its validation blocks).
        calibration : dict, optional
            Options of the calibration for ``weights="auto"`` (``grid``, ``gap_days``,
            ``n_gaps``, ``max_pixels``, ``seed``, ``period``), as in :func:`fusets_dl.reconstruct`.
        s1_only : bool, optional
            A sequence model's S1-only reading (the clear views hidden from it),
            as in :func:`fusets_dl.reconstruct`; refused for a per-date model.
        batch_size, device, precision
            Inference settings; None takes :func:`fusets_dl.set_options`.

        Returns
        -------
        xarray.Dataset
            ``NDVI``, ``NDVI_std`` and ``source`` on the output dates.
        """
        from .reconstruction import reconstruct

        return reconstruct(self._ds, model, freq=freq, smooth=smooth, lam=lam, obs_std=obs_std, weights=weights,
                           predicted=predicted, pred_gap_days=pred_gap_days, calibration=calibration,
                           debias_days=debias_days, s1_only=s1_only, batch_size=batch_size, device=device, precision=precision)

    def mogpr(
        self,
        target: str = "NDVI",
        times: Any = None,
        *,
        sar: str = "rvi",
        split_orbits: bool = True,
        variables: list[str] | None = None,
        config: GPConfig | None = None,
        **config_kwargs: Any,
    ) -> xr.Dataset:
        """MOGPR gap filling of the target plus the S1 RVI of each relative orbit.

        See :func:`fusets_dl.mogpr` and :func:`fusets_dl.baselines.mogpr_inputs`.
        A Dataset that is not a fusion cube (no ``VV``/``VH``) goes to
        :func:`~fusets_dl.mogpr` as it is; ``config_kwargs`` are fields of
        :class:`~fusets_dl.baselines.GPConfig` (as in ``mogpr``).

        Parameters
        ----------
        target : str
            The variable to gap-fill.
        times : optional
            Output dates; the input dates when None.
        sar, split_orbits
            How the S1 outputs are formed (``"rvi"`` or ``"vv_vh"``; one per relative orbit).
        variables, config, **config_kwargs
            As in :func:`fusets_dl.mogpr`.

        Returns
        -------
        xarray.Dataset
            The gap-filled target and its ``<target>_std``.
        """
        from .baselines import mogpr, mogpr_inputs

        ds = self._ds
        if "VV" in ds.data_vars and "VH" in ds.data_vars:
            ds = mogpr_inputs(ds, sar=sar, split_orbits=split_orbits, target=target)
        return mogpr(ds, target=target, times=times, variables=variables, config=config, **config_kwargs)

    def compare(
        self,
        *,
        config: CompareConfig | None = None,
        model: FusionModel | None = None,
        features: FeatureSpec | None = None,
        train_config: TrainConfig | None = None,
        models: dict[str, FusionModel] | None = None,
    ) -> CompareResult:
        """The gap-filling comparison on this cube; see :func:`fusets_dl.compare`.

        Parameters
        ----------
        config : CompareConfig, optional
            Spells, pixels, methods.
        model, features, train_config, models
            The fusion model(s) compared, or how to train one.

        Returns
        -------
        CompareResult
            Scores per method, the hidden values and example series.
        """
        from .evaluation.comparison import compare

        return compare(self._ds, config=config, model=model, features=features, train_config=train_config, models=models)

    def segment(
        self,
        n_classes: int | None = None,
        *,
        segmenter: Segmenter | None = None,
        config: SegmentConfig | None = None,
        **config_kwargs: Any,
    ) -> xr.DataArray:
        """Unsupervised land-cover classes of the cube's pixels; see :func:`fusets_dl.segmentation.segment`.

        Parameters
        ----------
        n_classes : int, optional
            Number of classes when a segmenter is trained here (default 8);
            with ``segmenter`` or ``config``, only their number (another is refused).
        segmenter : Segmenter, optional
            A trained segmenter; trained on this cube when None.
        config : SegmentConfig, optional
            Training settings; ``config_kwargs`` are fields of
            :class:`~fusets_dl.segmentation.SegmentConfig` (as in ``segment``).

        Returns
        -------
        xarray.DataArray
            ``class(y, x)`` int16, -1 where there is too little S1.
        """
        from .segmentation import segment

        return segment(self._ds, n_classes, segmenter=segmenter, config=config, **config_kwargs)

    def _ndvi(self) -> xr.DataArray:
        if "NDVI" not in self._ds.data_vars:
            from .errors import MissingVariableError

            raise MissingVariableError(
                f"phenology: expected an 'NDVI' variable in the Dataset, found {sorted(map(str, self._ds.data_vars))}; "
                "reconstruct first (cube.fusion.reconstruct(model)) or call it on an NDVI DataArray (da.fusion.phenology())"
            )
        return self._ds["NDVI"]

    def _source(self) -> xr.DataArray | None:
        """The reconstruction's ``source`` flags, when the Dataset has them (another ``source`` is left, with a warning)."""
        from .phenometrics.observed import reconstruction_source

        return reconstruction_source(self._ds, self._ndvi())

    phenology = _phenology


@xr.register_dataarray_accessor("fusion")
class FusionDataArrayAccessor:
    """``da.fusion``: operations on an NDVI DataArray."""

    def __init__(self, da: xr.DataArray) -> None:
        self._da = da

    def _ndvi(self) -> xr.DataArray:
        return self._da

    def _source(self) -> None:
        """A DataArray carries no ``source`` flags: pass ``observed`` to use them."""
        return None

    phenology = _phenology
