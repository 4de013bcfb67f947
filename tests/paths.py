"""Where the tests find the repository and the real Sentinel samples (../shared/data beside the repo)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
WC = SHARED_DATA / "worldcereal_patch_flanders_2018"
WC_S1 = WC / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
WC_S2_10 = WC / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
WC_S2_20 = WC / "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
GF_S1 = SHARED_DATA / "gfmap_apr2023" / "cdse_sentinel1_grd.nc"
GF_S2 = SHARED_DATA / "gfmap_apr2023" / "cdse_sentinel2_l2a.nc"
MONTHLY = SHARED_DATA / "worldcereal_monthly" / "worldcereal_preprocessed_inputs.nc"
FIELD_S2 = SHARED_DATA / "fusets_field" / "raw_s2_ndvi_field.nc"
FIELD_CSV = SHARED_DATA / "fusets_field" / "mogpr_input.csv"
