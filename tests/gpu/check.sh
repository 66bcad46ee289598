#!/usr/bin/env bash
# The GPU check in one run of about 300 s (what it measures and how to run it: docs/PERF.md, section "GPU"):
# the card, the driver and every libcuda.so* the loader can see, `mtkd info`, the self-check of every kernel
# against the float64 reference, compute-sanitizer memcheck, racecheck and synccheck of the .cu kernels on small
# shapes, then `mtkd bench kernels` on cuda and ilgpu-cuda, the same step in PyTorch on the same card (eager, then
# torch.compile when it compiles in time), and a short table last. Correctness comes first, timings after.
# Logs go to $OUT; every self-check and benchmark result is appended there (JSON lines) as soon as it exists,
# and the table is written even when a step or the whole run is cut short (SIGTERM/SIGINT included).
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
#     --fast   dry run only: leave out the slow ILGPU CPU simulator and torch
#   environment: OUT (log folder; default artifacts/gpu-check), MTKD (the CLI command; default
#   artifacts/gpu/mtkd, or `dotnet src/MtkdRl.Cli/bin/Release/net10.0/mtkd.dll` in a dry run),
#   PYTHON (the python for torch; default the first of python3, /usr/bin/python3, /usr/local/bin/python3 that
#   can `import torch`), CHECK_BUDGET_S (whole-run budget in seconds, default 300: each step's time limit
#   shrinks to what is left, and steps that no longer fit are skipped, so the table always comes),
#   CHECK_STEP_TIMEOUT_S (caps every step's limit; to rehearse timeouts)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

dry=0
fast=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry=1 ;;
    --fast) fast=1 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
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
budget=${CHECK_BUDGET_S:-300}
step_cap=${CHECK_STEP_TIMEOUT_S:-}

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

# The python that has torch: PyPI's torch is often in a virtual environment or pyenv, Debian's python3-torch only
# under /usr/bin/python3, so the first python on PATH is not necessarily it.
torch_python=""
if [ -n "${PYTHON:-}" ]; then
  candidates=("$PYTHON")
else
  candidates=(python3 /usr/bin/python3 /usr/local/bin/python3)
fi
if [ $fast -eq 0 ]; then
  for p in "${candidates[@]}"; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' >/dev/null 2>&1; then torch_python=$p; break; fi
  done
fi
summary_python=${torch_python:-${PYTHON:-python3}}

# compute-sanitizer ships with the CUDA toolkit, which is often installed without being on PATH.
sanitizer=$(command -v compute-sanitizer 2>/dev/null || true)
if [ -z "$sanitizer" ]; then
  for s in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda-*/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer/compute-sanitizer; do
    if [ -x "$s" ]; then sanitizer=$s; break; fi
  done
fi

# What each mode runs. Small shapes for the checks; the bandwidth target first among the timed shapes, a dense
# (segmentation) shape of many short rows last: 16 images of 64x64 pixels, K=4, C=11. A dry run stands in 6 such
# rows, and the dense step 8 rows of 2 images: the CPU simulator of the GPU takes seconds per row there, and the
# dry run must end well inside its budget on a 2-core machine running other work.
if [ $dry -eq 0 ]; then
  mode="GPU"
  label=""
  cuda_backend="cuda"
  ilgpu_backend="ilgpu-cuda"
  selfcheck_shapes="256,16,1000,512;64,64,100,128;4100,4,11,16"
  selfcheck_losses=(--losses)
  sanitizer_shapes="33,5,1001,100;64,8,256,64;2100,3,11,16"
  shapes="4096,16,1000,512;256,4,100,256;256,16,100,256;1024,8,1000,512;256,64,100,128;8192,4,11,16;65536,4,11,16;65536,4,11,16/16"
  torch_device="cuda"
  bench_args=(--repeat 50 --warmup 5 --max-seconds 2)
  ilgpu_bench_limit=90
else
  mode="DRY RUN on the CPU ($why_dry): CPU stand-ins, tiny shapes; no figure here is a GPU figure"
  label=" (dry run)"
  cuda_backend="cuda-emu"
  ilgpu_backend="ilgpu-cpu"
  selfcheck_shapes="8,3,40,16"
  selfcheck_losses=() # every catalog loss on the emulator takes minutes; the test suite runs them there
  sanitizer_shapes=""
  shapes="8,3,40,16;5,2,33,7;6,4,11,16;8,4,11,16/4"
  torch_device="cpu"
  bench_args=(--repeat 2 --warmup 0 --max-seconds 1)
  # The CPU simulator runs 256 threads (32 a warp, 8 warps) and slows more than the rest under load: on 2 cores its
  # four dry-run shapes took 47 s beside one other CPU-bound job, 74 s beside two, over 90 s beside four. The budget
  # still bounds the whole run.
  ilgpu_bench_limit=150
fi
first_shape=${shapes%%;*}

# A rerun into the same folder starts clean: the table must not mix two runs.
rm -f "$OUT"/selfcheck-*.json* "$OUT"/bench-*.json* "$OUT"/torch-*.json* "$OUT"/[0-9][0-9]-*.log "$OUT/summary.md"
steps="$OUT/steps.tsv"
printf 'step\tstatus\tseconds\tlog\n' > "$steps"
failures=0
not_run=0
n=0
child=""
finished=0

# step NAME TIMEOUT_S COMMAND...: runs it with its output in $OUT/NN-NAME.log, records status and time.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((budget - SECONDS - 10))
  if [ $left -lt 10 ]; then skip "$name" "out of the ${budget}s budget"; return; fi
  [ $limit -gt $left ] && limit=$left
  [ -n "$step_cap" ] && [ $limit -gt "$step_cap" ] && limit=$step_cap
  n=$((n + 1))
  local log
  log=$(printf '%s/%02d-%s.log' "$OUT" "$n" "$name")
  echo "== $name$label (limit ${limit}s): $*" | tee "$log"
  local start=$SECONDS rc
  # In the background so a SIGTERM to this script is handled at once, not after the step.
  timeout --kill-after=5 "$limit" "$@" >> "$log" 2>&1 &
  child=$!
  wait "$child"
  rc=$?
  child=""
  local took=$((SECONDS - start)) status=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMEOUT after ${limit}s"; failures=$((failures + 1))
  elif [ $rc -ne 0 ]; then status="FAIL (exit $rc)"; failures=$((failures + 1)); fi
  tail -n 20 "$log" | sed 's/^/   /'
  echo "   -> $status in ${took}s"
  printf '%s%s\t%s\t%s\t%s\n' "$name" "$label" "$status" "$took" "$(basename "$log")" >> "$steps"
}

skip() {
  local name=$1 reason=$2
  echo "== $name$label: skipped ($reason)"
  printf '%s%s\tskipped: %s\t0\t-\n' "$name" "$label" "$reason" >> "$steps"
}

# missing NAME REASON: a check that should have run and could not (counted, unlike a skip).
missing() {
  local name=$1 reason=$2
  echo "== $name$label: NOT RUN ($reason)"
  printf '%s%s\tNOT RUN: %s\t0\t-\n' "$name" "$label" "$reason" >> "$steps"
  not_run=$((not_run + 1))
}

# The table, from whatever the steps left; also on the way out of an interrupted run.
finish() {
  [ $finished -eq 1 ] && return
  finished=1
  echo
  "$summary_python" "$root/tests/gpu/summarize.py" "$OUT" | tee "$OUT/summary.md"
  local summary_rc=${PIPESTATUS[0]}
  if [ "$summary_rc" -ne 0 ]; then
    echo "check.sh: the summary failed (exit $summary_rc)" >&2
    failures=$((failures + 1))
  fi
  echo "$failures step(s) failed, $not_run check(s) could not run; logs in $OUT"
}

interrupted() {
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
    printf 'interrupted%s\tINTERRUPTED after %ss of the run\t0\t-\n' "$label" "$SECONDS" >> "$steps"
    failures=$((failures + 1))
  fi
  finish
  exit 124
}
trap interrupted TERM INT

echo "mtkd GPU check: $mode"
echo "logs: $OUT"
echo "mtkd: ${mtkd[*]}"
libcuda=$( { ldconfig -p 2>/dev/null | grep -o '/[^ ]*libcuda\.so[^ ]*'; \
             ls /usr/lib/x86_64-linux-gnu/libcuda.so* /usr/lib64/libcuda.so* /usr/lib/wsl/lib/libcuda.so* \
                /usr/local/cuda*/compat/libcuda.so* 2>/dev/null; } | sort -u | tr '\n' ' ')
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)
[ -z "$driver" ] && driver=$(head -n 1 /proc/driver/nvidia/version 2>/dev/null)
{
  echo "mode: $mode"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  # The published CLI's own record of its source (build.ps1 publish), which the table's figures belong to.
  mtkd_dir=$(dirname "${mtkd[-1]}")
  if [ -f "$mtkd_dir/build.txt" ]; then
    echo "build: $(sed -n 's/^commit: //p' "$mtkd_dir/build.txt" | head -n 1), published $(sed -n 's/^published: //p' "$mtkd_dir/build.txt" | head -n 1)"
  else
    echo "build: not a published build (${mtkd[*]})"
  fi
  echo "host: $(uname -n), $(nproc) cores"
  echo "driver: ${driver:-none found}"
  echo "libcuda: ${libcuda:-none found}"
  echo "compute-sanitizer: ${sanitizer:-not found}"
  echo "torch python: ${torch_python:-none (--fast, or none of ${candidates[*]} can import torch)}"
  echo "budget: ${budget}s"
} > "$OUT/run.txt"
sed 's/^/  /' "$OUT/run.txt"

# 1. The card and the driver library (a missing libcuda.so.1 leaves ILGPU without a device).
if [ $dry -eq 0 ]; then
  step card 20 bash -c 'nvidia-smi && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem,driver_version --format=csv; ls -l /usr/lib/x86_64-linux-gnu/libcuda.so* /usr/lib64/libcuda.so* 2>/dev/null; true'
else
  skip card "$why_dry"
fi

# 2. What the CLI finds, and why a backend is missing.
step info 30 "${mtkd[@]}" info

# 3. Every kernel against the float64 reference (on a GPU every catalog loss too: kernels/distill_catalog.cu),
#    poisoned outputs, plus the CUDA plumbing checks.
step selfcheck 60 "${mtkd[@]}" selfcheck --backend "$cuda_backend" --small "${selfcheck_losses[@]}" --shape "$selfcheck_shapes" --jsonl "$OUT/selfcheck-cuda.jsonl"

# 4. The .cu kernels under compute-sanitizer, small shapes: out-of-bounds and uninitialised accesses, shared-memory
#    races, barrier misuse (the plumbing checks fail driver calls on purpose, so they stay out).
for tool in memcheck racecheck synccheck; do
  if [ $dry -eq 1 ]; then
    skip "$tool" "needs a GPU"
  elif [ -z "$sanitizer" ]; then
    missing "$tool" "compute-sanitizer not found (PATH, /usr/local/cuda*/bin)"
  else
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check no)
    step "$tool" 60 "$sanitizer" --tool "$tool" --error-exitcode 3 "${extra[@]}" \
      "${mtkd[@]}" selfcheck --backend cuda --kernels-only --small --shape "$sanitizer_shapes"
  fi
done

# 5. The ILGPU kernels against the reference.
if [ $fast -eq 1 ]; then
  skip selfcheck-ilgpu "--fast leaves out the ILGPU CPU simulator"
else
  step selfcheck-ilgpu 60 "${mtkd[@]}" selfcheck --backend "$ilgpu_backend" --small --shape "$selfcheck_shapes" --jsonl "$OUT/selfcheck-ilgpu.jsonl"
fi

# 6. The fused op timed per pass (back-to-back launches between CUDA events), bytes moved, device copy bandwidth.
step bench-cuda 90 "${mtkd[@]}" bench kernels --backend "$cuda_backend" --shape "$shapes" "${bench_args[@]}" --jsonl "$OUT/bench-cuda.jsonl"

# 7. The same step in PyTorch eager on the same device and shapes, timed the same way.
IFS=';' read -r -a torch_shapes <<< "$shapes"
if [ $fast -eq 1 ]; then
  skip torch-eager "--fast leaves out torch"
elif [ -z "$torch_python" ]; then
  skip torch-eager "no python here can import torch (${candidates[*]})"
else
  step torch-eager 60 "$torch_python" benchmarks/torch_distill.py --device "$torch_device" --repeat 30 --warmup 5 --launches 10 \
    --json "$OUT/torch-eager.json" --shape "${torch_shapes[@]}"
fi

# 8. The ILGPU kernels at the same shapes.
if [ $fast -eq 1 ]; then
  skip bench-ilgpu "--fast leaves out the ILGPU CPU simulator"
else
  step bench-ilgpu $ilgpu_bench_limit "${mtkd[@]}" bench kernels --backend "$ilgpu_backend" --shape "$shapes" "${bench_args[@]}" --jsonl "$OUT/bench-ilgpu.jsonl"
fi

# 9. torch.compile of the same step on the target shape, when it compiles within what is left of the budget.
if [ $fast -eq 1 ]; then
  skip torch-compile "--fast leaves out torch"
elif [ -z "$torch_python" ]; then
  skip torch-compile "no python here can import torch (${candidates[*]})"
else
  step torch-compile 120 "$torch_python" benchmarks/torch_distill.py --device "$torch_device" --compile --repeat 30 --warmup 5 --launches 10 \
    --json "$OUT/torch-compile.json" --shape "$first_shape"
fi

# 10. The table.
trap - TERM INT
finish
[ $failures -eq 0 ] && [ $not_run -eq 0 ]
