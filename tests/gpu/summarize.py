#!/usr/bin/env python3
"""The short table that ends tests/gpu/check.sh, from the files it left in its log folder:

  steps.tsv            every step's status and duration
  selfcheck-*.jsonl    `mtkd selfcheck --jsonl`: one {backend, name, passed, detail} per line, as each check ends
  bench-*.jsonl        `mtkd bench kernels --jsonl`: one {op, variant, B, K, C, D, median_ms, gbps, copy_gbps,
                       roofline, ...} per line, as each pass is measured
  torch-*.json         benchmarks/torch_distill.py --json: [{mode, B, K, C, D, median_ms, ...}], rewritten per shape
  (selfcheck-*.json and bench-*.json arrays are read too)

A step cut short by its time limit leaves the lines it wrote, so the table shows what finished.

Per shape and backend: stats+gradient and fused times, GB/s of the fused pass, its fraction of the measured
device copy bandwidth, and the PyTorch step (eager, compiled) divided by the backend's stats+gradient time.
Targets of the bandwidth shape (B=4096, K=16, C=1000, D=512): fused >= 70% of copy bandwidth, >= 5x eager.
Markdown, so the table can go into docs/PERF.md as it is.

  python3 tests/gpu/summarize.py LOG_FOLDER
"""
import glob
import json
import os
import sys

TARGET_SHAPE = (4096, 16, 1000, 512)
TARGET_FRACTION = 0.70
TARGET_SPEEDUP = 5.0


def load(path):
    """A JSON array, or JSON lines (a last line cut off mid-write is left out)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        print(f"(unreadable {os.path.basename(path)}: {e})")
        return []
    if path.endswith(".jsonl"):
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                print(f"({os.path.basename(path)} line {n} is incomplete: left out)")
        return records
    try:
        return json.loads(text)
    except ValueError as e:
        print(f"(unreadable {os.path.basename(path)}: {e})")
        return []


def files(out, stem):
    return sorted(glob.glob(os.path.join(out, f"{stem}-*.json")) + glob.glob(os.path.join(out, f"{stem}-*.jsonl")))


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    mode = "?"
    run = os.path.join(out, "run.txt")
    if os.path.exists(run):
        with open(run) as f:
            lines = f.read().splitlines()
        mode = next((l[len("mode: "):] for l in lines if l.startswith("mode: ")), mode)
        print("\n".join(f"    {l}" for l in lines))
    print(f"\n## GPU check: {mode}\n")

    print("| step | status | s |\n|---|---|---:|")
    with open(os.path.join(out, "steps.tsv")) as f:
        for row in list(f)[1:]:
            name, status, seconds, _ = row.rstrip("\n").split("\t")
            print(f"| {name} | {status} | {seconds} |")

    for path in files(out, "selfcheck"):
        checks = load(path)
        failed = [c for c in checks if not c["passed"]]
        backends = ", ".join(sorted({c["backend"] for c in checks})) or f"({os.path.basename(path)}: no result recorded)"
        print(f"\nself-check {backends}: {len(checks) - len(failed)} of {len(checks)} passed")
        for c in failed:
            print(f"  FAIL {c['backend']} {c['name']}: {c['detail']}")

    bench = [r for p in files(out, "bench") for r in load(p)]
    torch = [r for p in files(out, "torch") for r in load(p)]
    torch_ms = {}
    for r in torch:  # eager from either file, compile from the compile run
        torch_ms.setdefault((r["B"], r["K"], r["C"], r["D"], r.get("images", 0), r["mode"]), r["median_ms"])

    groups = {}
    for r in bench:
        groups.setdefault((r["B"], r["K"], r["C"], r["D"], r.get("images", 0), r["variant"]), {})[r["op"]] = r
    print("\n| B,K,C,D | backend | device | stats+grad ms | fused ms | fused GB/s | copy GB/s | of copy | torch eager ms | x eager | torch compile ms | x compile | max rel err |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for key, ops in groups.items():
        shape, variant = key[:5], key[5]  # B,K,C,D and N (images of a dense step "B,K,C,D/N", 0 otherwise)
        label = ",".join(map(str, shape[:4])) + (f"/{shape[4]}" if shape[4] else "")
        two = ops["stats"]["median_ms"] + ops["gradient"]["median_ms"] if "stats" in ops and "gradient" in ops else None
        fused = ops.get("fused")
        eager, compiled = torch_ms.get(shape + ("eager",)), torch_ms.get(shape + ("compile",))
        x_eager = eager / two if eager and two else None
        x_compile = compiled / two if compiled and two else None
        err = max((o["max_rel_err"] for o in ops.values() if o["max_rel_err"] is not None), default=None)
        device = next(iter(ops.values()))["device"]
        print(f"| {label} | {variant} | {device} | {fmt(two, '.4f')} | {fmt(fused and fused['median_ms'], '.4f')} "
              f"| {fmt(fused and fused['gbps'], '.1f')} | {fmt(fused and fused['copy_gbps'], '.1f')} "
              f"| {fmt(fused and 100 * fused['roofline'], '.1f')}% | {fmt(eager, '.4f')} | {fmt(x_eager, '.1f')} "
              f"| {fmt(compiled, '.4f')} | {fmt(x_compile, '.1f')} | {fmt(err, '.1e')} |")
        if shape[:4] == TARGET_SHAPE and not shape[4] and fused:
            verdicts.append(f"{variant}: fused at {100 * fused['roofline']:.1f}% of copy bandwidth "
                            f"({'meets' if fused['roofline'] >= TARGET_FRACTION else 'misses'} {100 * TARGET_FRACTION:.0f}%), "
                            + (f"{x_eager:.1f}x the PyTorch eager step ({'meets' if x_eager >= TARGET_SPEEDUP else 'misses'} {TARGET_SPEEDUP:.0f}x)"
                               if x_eager else "no PyTorch eager figure"))
    if not groups:
        print("| (no benchmark records) |")
    print()
    for v in verdicts:
        print(f"target {','.join(map(str, TARGET_SHAPE))}, {v}")
    if not verdicts:
        print(f"target {','.join(map(str, TARGET_SHAPE))}: not measured in this run")


if __name__ == "__main__":
    main()
