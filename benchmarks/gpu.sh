#!/usr/bin/env bash
# GPU measurements in one go, for a machine with a CUDA GPU and the project's
# dependencies importable (``pip install -e .`` with a CUDA build of torch).
#
#     bash benchmarks/gpu.sh [OUTDIR]
#
# Runs, each under its own time limit so that one slow step cannot starve the
# others (at most about 8 minutes with STEPS="cuda_test core scale public mogpr sequence"): the CUDA tests (staged pinned-buffer
# inference against the CPU result, device resolution), the core benchmark table
# on CUDA (features, training, network, predict_ndvi, reconstruct, phenology),
# the Demak-sized pipeline run end to end (tiles computed concurrently), and the
# public-API Demak path when benchmarks/public.py exists. The batched MOGPR fit
# and the sequence model's throughput on CUDA run when asked: add mogpr and
# sequence to STEPS.
# Logs and JSON land in OUTDIR (default outputs/gpu).
#
# Dependencies the 'cuda' device image lacks (they travel as wheels): dask,
# distributed, zarr (numcodecs), rioxarray (rasterio, pyproj), netCDF4 (cftime).
set -u
out=${1:-outputs/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
nproc | tee -a "$out/gpu.txt"
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee -a "$out/gpu.txt"
$py -c "
import importlib, importlib.metadata as md
print('versions:', ', '.join(f'{m} {md.version(m)}' for m in ('numpy', 'pandas', 'xarray', 'dask', 'zarr', 'numba', 'scipy')))" | tee -a "$out/gpu.txt"
$py -c "
import importlib.util as u
need = ['numpy', 'pandas', 'scipy', 'xarray', 'dask', 'distributed', 'rioxarray', 'zarr', 'netCDF4', 'torch', 'safetensors', 'yaml', 'matplotlib', 'tqdm']
print('missing modules:', [m for m in need if u.find_spec(m) is None] or 'none')" | tee -a "$out/gpu.txt"
uptime | tee -a "$out/gpu.txt"

step() {  # step NAME SECONDS COMMAND...   (STEPS="core scale" runs only those)
    local name=$1 limit=$2
    shift 2
    case " ${STEPS:-cuda_test core scale public} " in *" $name "*) ;; *) return 0 ;; esac
    echo "=== $name (limit ${limit}s)"
    local t0=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    tail -n 40 "$out/$name.log"
    echo "=== $name: exit $rc after $((SECONDS - t0)) s"
}

step cuda_test "${T_TEST:-60}" $py -m pytest -q -p no:cacheprovider tests/models/test_model.py tests/test_runtime.py -k "cuda or device or staged"
step core "${T_CORE:-150}" $py -m benchmarks --device cuda --json "$out/core.json"
step scale "${T_SCALE:-150}" $py -m benchmarks.scale --verbose
if [ -f benchmarks/public.py ]; then
    step public "${T_PUBLIC:-110}" $py -m benchmarks.public ${PUBLIC_ARGS:---size demak}
fi
# the MOGPR benchmark reads the FuseTS field series from ../shared/data; a copy may travel in .gpu/
field=../shared/data/fusets_field/mogpr_input.csv
if [ ! -f "$field" ] && [ -f .gpu/mogpr_input.csv ]; then mkdir -p "$(dirname "$field")" && cp .gpu/mogpr_input.csv "$field"; fi
# the torch filter serves on CUDA (the compiled lane kernels are CPU code); its Adam and 30-iteration rows are left out for time
step mogpr "${T_MOGPR:-80}" $py -m benchmarks.mogpr --pixels 2048 --gpy-fits 0 --device cuda --skip "state-space, Adam" "30 iterations"
step sequence "${T_SEQ:-40}" $py -m benchmarks.sequence_speed --device cuda
