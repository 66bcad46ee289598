#!/usr/bin/env bash
# The GPU check in one run (docs: DEVICE.md in the shared notes, docs/PERF.md for the figures it produces):
# the card, `mtkd info`, the self-check of every kernel against the float64 reference, compute-sanitizer
# memcheck of the fused op, `mtkd bench kernels` on cuda and ilgpu-cuda, the same step in PyTorch on the same
# card (eager, then torch.compile when it compiles in time), and a short table last. Logs go to $OUT.
#
# The GPU machine has no .NET: it runs the published single-file CLI, staged by
#   dotnet pwsh build.ps1 publish -Out artifacts/gpu
# and carried with the working tree.
#
# Without a GPU (or with --dry-run) every step that can runs on the CPU stand-ins (cuda-emu, ilgpu-cpu, torch
# on the CPU) at tiny shapes, each labelled "dry run", so this script's own bugs show before GPU time is spent.
# Its figures are not GPU figures.
#
#   tests/gpu/check.sh [--dry-run] [--fast]
#     --fast   dry run only: leave out the slow ILGPU CPU simulator and torch (used by the test suite)
#   environment: OUT (log folder; default artifacts/gpu-check), MTKD (the CLI command; default
#   artifacts/gpu/mtkd, or `dotnet src/MtkdRl.Cli/bin/Release/net10.0/mtkd.dll` in a dry run),
#   PYTHON (default python3), CHECK_BUDGET_S (whole-run budget in seconds, default 540: each step's time
#   limit shrinks to what is left, and steps that no longer fit are skipped, so the table always comes)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

dry=0
fast=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry=1 ;;
    --fast) fast=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown argument '$arg' (known: --dry-run, --fast)" >&2; exit 2 ;;
  esac
done
why_dry="--dry-run"
if [ $dry -eq 0 ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  dry=1
  why_dry="no nvidia-smi on this machine"
fi
if [ $fast -eq 1 ] && [ $dry -eq 0 ]; then
  echo "check.sh: --fast only applies to a dry run" >&2
  exit 2
fi

OUT=${OUT:-$root/artifacts/gpu-check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PYTHON=${PYTHON:-python3}
budget=${CHECK_BUDGET_S:-540}

if [ -n "${MTKD:-}" ]; then
  read -r -a mtkd <<< "$MTKD"
elif [ -x "$root/artifacts/gpu/mtkd" ]; then
  mtkd=("$root/artifacts/gpu/mtkd")
elif [ $dry -eq 1 ] && [ -f "$root/src/MtkdRl.Cli/bin/Release/net10.0/mtkd.dll" ]; then
  mtkd=(dotnet "$root/src/MtkdRl.Cli/bin/Release/net10.0/mtkd.dll")
else
  echo "check.sh: no mtkd: stage it with 'dotnet pwsh build.ps1 publish -Out artifacts/gpu' (or set MTKD)" >&2
  exit 2
fi

# What each mode runs. The GPU shapes: the bandwidth target first, then the shapes of `mtkd bench kernels`.
if [ $dry -eq 0 ]; then
  mode="GPU"
  label=""
  cuda_backend="cuda"
  ilgpu_backend="ilgpu-cuda"
  shapes="4096,16,1000,512;256,4,100,256;256,16,100,256;1024,8,1000,512;256,64,100,128"
  torch_device="cuda"
  bench_args=(--repeat 100 --warmup 10 --max-seconds 10)
  selfcheck_shapes="4096,16,1000,512;256,64,100,128"
else
  mode="DRY RUN on the CPU ($why_dry): CPU stand-ins, tiny shapes; no figure here is a GPU figure"
  label=" (dry run)"
  cuda_backend="cuda-emu"
  ilgpu_backend="ilgpu-cpu"
  shapes="8,3,40,16;5,2,33,7"
  torch_device="cpu"
  bench_args=(--repeat 3 --warmup 0 --max-seconds 2)
  selfcheck_shapes="8,3,40,16"
fi
first_shape=${shapes%%;*}

steps="$OUT/steps.tsv"
printf 'step\tstatus\tseconds\tlog\n' > "$steps"
failures=0
n=0

# step NAME TIMEOUT_S COMMAND...: runs it with its output in $OUT/NN-NAME.log, records status and time.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - SECONDS - 15))
  if [ $left -lt 20 ]; then skip "$name" "out of the ${budget}s budget"; return; fi
  [ $limit -gt $left ] && limit=$left
  n=$((n + 1))
  local log
  log=$(printf '%s/%02d-%s.log' "$OUT" "$n" "$name")
  echo "== $name$label: $*" | tee "$log"
  local start=$SECONDS rc
  timeout --kill-after=15 "$limit" "$@" >> "$log" 2>&1
  rc=$?
  local took=$((SECONDS - start)) status=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMEOUT after ${limit}s"; failures=$((failures + 1))
  elif [ $rc -ne 0 ]; then status="FAIL (exit $rc)"; failures=$((failures + 1)); fi
  tail -n 25 "$log" | sed 's/^/   /'
  echo "   -> $status in ${took}s"
  printf '%s%s\t%s\t%s\t%s\n' "$name" "$label" "$status" "$took" "$(basename "$log")" >> "$steps"
}

skip() {
  local name=$1 reason=$2
  echo "== $name$label: skipped ($reason)"
  printf '%s%s\tskipped: %s\t0\t-\n' "$name" "$label" "$reason" >> "$steps"
}

echo "mtkd GPU check: $mode"
echo "logs: $OUT"
echo "mtkd: ${mtkd[*]}"
{
  echo "mode: $mode"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "host: $(uname -n), $(nproc) cores"
} > "$OUT/run.txt"

# 1. The card.
if [ $dry -eq 0 ]; then
  step nvidia-smi 60 bash -c 'nvidia-smi && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,driver_version --format=csv'
else
  skip nvidia-smi "$why_dry"
fi

# 2. What the CLI finds, and why a backend is missing.
step info 120 "${mtkd[@]}" info

# 3. Every kernel against the float64 reference, poisoned outputs, plus the CUDA plumbing checks.
step selfcheck 180 "${mtkd[@]}" selfcheck --backend "$cuda_backend" --shape "$selfcheck_shapes" --json "$OUT/selfcheck-cuda.json"

# 4. The fused op timed per pass, with bytes moved and the measured device copy bandwidth.
step bench-cuda 240 "${mtkd[@]}" bench kernels --backend "$cuda_backend" --shape "$shapes" "${bench_args[@]}" --json "$OUT/bench-cuda.json"

# 5. The same step in PyTorch eager on the same device and shapes.
IFS=';' read -r -a torch_shapes <<< "$shapes"
if [ $fast -eq 1 ]; then
  skip torch-eager "--fast leaves out torch"
elif ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
  skip torch-eager "no torch in $PYTHON"
else
  step torch-eager 180 "$PYTHON" benchmarks/torch_distill.py --device "$torch_device" --repeat 100 --warmup 10 \
    --json "$OUT/torch-eager.json" --shape "${torch_shapes[@]}"
fi

# 6. The ILGPU kernels at the same shapes.
if [ $fast -eq 1 ]; then
  skip bench-ilgpu "--fast leaves out the ILGPU CPU simulator"
else
  step bench-ilgpu 240 "${mtkd[@]}" bench kernels --backend "$ilgpu_backend" --shape "$shapes" "${bench_args[@]}" --json "$OUT/bench-ilgpu.json"
fi

# 7. The ILGPU kernels against the reference (after the timings: on the CPU simulator a non-finite case has been seen to hang).
if [ $fast -eq 1 ]; then
  skip selfcheck-ilgpu "--fast leaves out the ILGPU CPU simulator"
else
  step selfcheck-ilgpu 180 "${mtkd[@]}" selfcheck --backend "$ilgpu_backend" --shape "$selfcheck_shapes" --json "$OUT/selfcheck-ilgpu.json"
fi

# 8. Out-of-bounds and uninitialised accesses of the .cu kernels (the plumbing checks fail driver calls on purpose, so they stay out).
if [ $dry -eq 0 ] && command -v compute-sanitizer >/dev/null 2>&1; then
  step memcheck 240 compute-sanitizer --tool memcheck --error-exitcode 3 --leak-check no \
    "${mtkd[@]}" selfcheck --backend cuda --kernels-only --small --shape "256,16,1000,512;33,5,1001,100"
elif [ $dry -eq 0 ]; then
  skip memcheck "compute-sanitizer not found"
else
  skip memcheck "needs a GPU"
fi

# 9. torch.compile of the same step on the target shape, when it compiles within what is left of the budget.
if [ $fast -eq 1 ]; then
  skip torch-compile "--fast leaves out torch"
elif ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
  skip torch-compile "no torch in $PYTHON"
else
  step torch-compile 240 "$PYTHON" benchmarks/torch_distill.py --device "$torch_device" --compile --repeat 100 --warmup 10 \
    --json "$OUT/torch-compile.json" --shape "$first_shape"
fi

# 10. The table.
echo
"$PYTHON" "$root/tests/gpu/summarize.py" "$OUT" | tee "$OUT/summary.md"
summary_rc=${PIPESTATUS[0]}
if [ "$summary_rc" -ne 0 ]; then
  echo "check.sh: the summary failed (exit $summary_rc)" >&2
  failures=$((failures + 1))
fi
echo "$failures step(s) failed; logs in $OUT"
[ $failures -eq 0 ]
