#!/usr/bin/env bash
# Compares builds of the .cu kernels on a GPU, in one run: for every folder under VARIANTS that holds <module>.ptx
# files (say artifacts/ptx-variants/<name>/distill.ptx, built with other -D switches), the published CLI loads them
# in place of its embedded modules (MTKD_PTX_DIR) and runs the small self-check against the float64 reference (its
# `jit` line gives each build's registers and spills),
# then `bench kernels` at SHAPES. Results: $OUT/<name>.selfcheck.jsonl, $OUT/<name>.bench.jsonl, and $OUT/variants.md,
# one table with every variant's stats, gradient and fused medians per shape (the first variant is the baseline
# the ratios divide by). Variants run in the same process order each time: compare them as ratios within one run.
#
#   VARIANTS=artifacts/ptx-variants OUT=/tmp/variants SHAPES="4096,16,1000,512;65536,4,11,16" tests/gpu/variants.sh [name...]
#
# With names, only those folders, in that order; otherwise every folder, sorted. A variant whose self-check fails
# is reported and not timed. MTKD (the CLI command, default the published artifacts/gpu/mtkd), BACKEND (cuda),
# SELFCHECK_SHAPES and BENCH_ARGS change the rest; the test suite rehearses the script with BACKEND=cuda-emu, which
# runs the emulator library and so ignores the PTX folders (it checks the plumbing and the table, not the builds).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
VARIANTS=${VARIANTS:-$root/artifacts/ptx-variants}
OUT=${OUT:-$root/artifacts/gpu-variants}
SHAPES=${SHAPES:-4096,16,1000,512;1024,8,1000,512;256,64,100,128;65536,4,11,16}
SELFCHECK_SHAPES=${SELFCHECK_SHAPES:-256,16,1000,512;33,5,1001,100;4100,4,11,16}
BACKEND=${BACKEND:-cuda}
read -r -a bench_args <<< "${BENCH_ARGS:---repeat 50 --warmup 5 --max-seconds 2}"
read -r -a mtkd <<< "${MTKD:-$root/artifacts/gpu/mtkd}"
mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl "$OUT/variants.md"

if [ $# -gt 0 ]; then
  names=("$@")
else
  mapfile -t names < <(find "$VARIANTS" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
fi
[ ${#names[@]} -gt 0 ] || { echo "variants.sh: no variant folders under $VARIANTS" >&2; exit 2; }

# Every folder is checked before any runs: a typo must not cost the time of the variants before it.
for name in "${names[@]}"; do
  if ! ls "$VARIANTS/$name"/*.ptx >/dev/null 2>&1; then
    echo "variants.sh: $VARIANTS/$name holds no .ptx file" >&2
    exit 2
  fi
done

for name in "${names[@]}"; do
  dir="$VARIANTS/$name"
  echo "== $name"
  if ! MTKD_PTX_DIR="$dir" timeout 120 "${mtkd[@]}" selfcheck --backend "$BACKEND" --small \
      --shape "$SELFCHECK_SHAPES" --jsonl "$OUT/$name.selfcheck.jsonl" > "$OUT/$name.selfcheck.log" 2>&1; then
    echo "   self-check FAILED (see $name.selfcheck.log); not timed"
    tail -n 5 "$OUT/$name.selfcheck.log" | sed 's/^/   /'
    continue
  fi
  MTKD_PTX_DIR="$dir" timeout 150 "${mtkd[@]}" bench kernels --backend "$BACKEND" --shape "$SHAPES" "${bench_args[@]}" \
    --jsonl "$OUT/$name.bench.jsonl" > "$OUT/$name.bench.log" 2>&1 || echo "   bench failed (see $name.bench.log)"
done

python3 - "$OUT" "${names[@]}" <<'EOF' | tee "$OUT/variants.md"
import json, os, sys
out, names = sys.argv[1], sys.argv[2:]
rows = {}  # (shape, op) -> {name: (median ms, fraction of copy)}
passed = {}
for name in names:
    checks = os.path.join(out, f"{name}.selfcheck.jsonl")
    if os.path.exists(checks):
        results = [json.loads(l) for l in open(checks) if l.strip()]
        passed[name] = f"{sum(1 for r in results if r.get('passed'))} of {len(results)}"
    bench = os.path.join(out, f"{name}.bench.jsonl")
    if not os.path.exists(bench):
        continue
    for line in open(bench):
        if not line.strip():
            continue
        r = json.loads(line)
        shape = f"{r['B']},{r['K']},{r['C']},{r['D']}" + (f"/{r['images']}" if r.get("images") else "")
        rows.setdefault((shape, r["op"]), {})[name] = (r["median_ms"], r.get("roofline"))
print("| variant | self-check |\n|---|---|")
for name in names:
    print(f"| {name} | {passed.get(name, 'not run')} |")
print("\n| B,K,C,D | pass | " + " | ".join(f"{n} ms (of copy, x {names[0]})" for n in names) + " |")
print("|---|---|" + "---:|" * len(names))
for (shape, op), by in rows.items():
    base = by.get(names[0], (None,))[0]
    cells = []
    for n in names:
        if n not in by:
            cells.append("-")
            continue
        ms, roof = by[n]
        ratio = f", {base / ms:.2f}x" if base else ""
        cells.append(f"{ms:.4f} ({100 * roof:.1f}%{ratio})" if roof is not None else f"{ms:.4f}{ratio}")
    print(f"| {shape} | {op} | " + " | ".join(cells) + " |")
EOF
