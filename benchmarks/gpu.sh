#!/usr/bin/env bash
# GPU measurements in one go, for a machine with a CUDA GPU and the project's
# dependencies importable (``pip install -e .`` with a CUDA build of torch).
#
#     bash benchmarks/gpu.sh [OUTDIR]
#
# Runs, each under its own time limit so that one slow step cannot starve the
# others: the CUDA test (overlapped host/device copies against the CPU result),
# the core benchmark table on CUDA (features, training, network, predict_ndvi,
# reconstruct, phenology), the Demak-sized pipeline run end to end, and the
# batched MOGPR fit on CUDA. Logs and JSON land in OUTDIR (default outputs/gpu).
set -u
out=${1:-outputs/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python3}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
nproc | tee -a "$out/gpu.txt"
$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" | tee -a "$out/gpu.txt"

step() {  # step NAME SECONDS COMMAND...   (STEPS="core scale" runs only those)
    local name=$1 limit=$2
    shift 2
    case " ${STEPS:-cuda_test core scale mogpr} " in *" $name "*) ;; *) return 0 ;; esac
    echo "=== $name (limit ${limit}s)"
    local t0=$SECONDS
    timeout "$limit" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    tail -n 40 "$out/$name.log"
    echo "=== $name: exit $rc after $((SECONDS - t0)) s"
}

step cuda_test "${T_TEST:-60}" $py -m pytest -q -p no:cacheprovider tests/models/test_model.py -k "cuda or device"
step core "${T_CORE:-170}" $py -m benchmarks --device cuda --json "$out/core.json"
step scale "${T_SCALE:-170}" $py -m benchmarks.scale --verbose
# the MOGPR benchmark reads the FuseTS field series from ../shared/data; a copy may travel in .gpu/
field=../shared/data/fusets_field/mogpr_input.csv
if [ ! -f "$field" ] && [ -f .gpu/mogpr_input.csv ]; then mkdir -p "$(dirname "$field")" && cp .gpu/mogpr_input.csv "$field"; fi
step mogpr "${T_MOGPR:-50}" $py -m benchmarks.mogpr --pixels 2048 --gpy-fits 0 --device cuda
