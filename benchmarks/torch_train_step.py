#!/usr/bin/env python3
"""One training step (forward in training mode + softmax cross-entropy + backward) of the networks that
`mtkd bench train` times, built layer for layer in PyTorch from the same spec strings, and timed the same way:
random N(0,1) inputs and random labels, a warm-up, then the median over many repeats (perf_counter around the
step). The optimiser step is left out on both sides. Gradients are reset with set_to_none, as a PyTorch
training loop does, so every step allocates them afresh: that is part of what PyTorch costs.

Spec grammar (MtkdRl.Training.ModelSpec): linear | mlp:W1xW2...[,bn][,dropP] |
cnn:C1xC2...[,fcN][,gap][,nobn][,dropP]; per cnn width conv3x3(pad 1)-BN-ReLU-maxpool2 (no pool once the image
is 1 pixel high or wide), then flatten (or global average pooling) - Linear(fc, default 128) - ReLU, then the
classifier; every mlp width Linear-[BN]-ReLU.

  python3 benchmarks/torch_train_step.py [--model SPEC ...] [--batch 128] [--input 1x28x28] [--classes 10]
                                         [--threads 2] [--repeat 100] [--warmup 20] [--json FILE]
                                         [--mtkd "CMD"] [--rounds 3]

With --mtkd (the command that starts the CLI, e.g. "dotnet src/MtkdRl.Cli/bin/Release/net10.0/mtkd.dll"), the
script alternates rounds of PyTorch timing and `mtkd bench train` runs on the same models and batch, so both
see the same machine load, and prints each side's median, the ratio of step times (mtkd / torch; below 1 means
mtkd is faster) per round, and their median. glibc's allocator returns big tensors to the kernel after each
step unless told otherwise; rerun with
  MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456
in the environment to see PyTorch without that page-fault cost.
"""
import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_MODELS = ["mlp:512x512", "cnn:32x64"]


def parse_spec(text):
    items = [s.strip() for s in text.strip().split(",")]
    head = items[0]
    family, _, widths = head.partition(":")
    family = family.lower()
    spec = {"family": family, "widths": [int(w) for w in widths.split("x")] if widths else [],
            "bn": family == "cnn", "drop": 0.0, "fc": 128 if family == "cnn" else 0, "gap": False}
    if family not in ("linear", "mlp", "cnn"):
        raise SystemExit(f"spec '{text}': unknown architecture '{family}'")
    for option in items[1:]:
        o = option.lower()
        if o.startswith("drop"):
            spec["drop"] = float(o[4:])
        elif o == "bn":
            spec["bn"] = True
        elif o == "nobn":
            spec["bn"] = False
        elif o == "gap":
            spec["gap"] = True
        elif re.fullmatch(r"fc\d+", o):
            spec["fc"] = int(o[2:])
        else:
            raise SystemExit(f"spec '{text}': unknown option '{option}'")
    return spec


def build(spec, shape, classes):
    ch, h, w = shape
    layers = []
    if spec["family"] == "linear":
        layers.append(nn.Flatten())
        width = ch * h * w
    elif spec["family"] == "mlp":
        layers.append(nn.Flatten())
        width = ch * h * w
        for n in spec["widths"]:
            layers.append(nn.Linear(width, n, bias=not spec["bn"]))
            if spec["bn"]:
                layers.append(nn.BatchNorm1d(n))
            layers.append(nn.ReLU())
            width = n
    else:
        for n in spec["widths"]:
            layers.append(nn.Conv2d(ch, n, 3, padding=1, bias=not spec["bn"]))
            if spec["bn"]:
                layers.append(nn.BatchNorm2d(n))
            layers.append(nn.ReLU())
            ch = n
            if h >= 2 and w >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
        if spec["gap"]:
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            width = ch
        else:
            layers.append(nn.Flatten())
            width = ch * h * w
        if spec["fc"] > 0:
            layers += [nn.Linear(width, spec["fc"]), nn.ReLU()]
            width = spec["fc"]
    if spec["drop"] > 0:
        layers.append(nn.Dropout(spec["drop"]))
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def time_torch(model_text, batch, shape, classes, repeat, warmup, seed=1234):
    torch.manual_seed(seed)
    model = build(parse_spec(model_text), shape, classes)
    model.train()
    x = torch.randn(batch, *shape)
    y = torch.randint(0, classes, (batch,))
    params = list(model.parameters())
    fwd, bwd = [], []

    def step():
        for p in params:
            p.grad = None
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    for _ in range(warmup):
        step()
    for _ in range(repeat):
        f, b = step()
        fwd.append(f)
        bwd.append(b)
    steps = [f + b for f, b in zip(fwd, bwd)]
    median = statistics.median(steps)
    return {
        "framework": "torch", "model": model_text, "input": "x".join(map(str, shape)), "classes": classes,
        "batch": batch, "parameters": sum(p.numel() for p in params), "threads": torch.get_num_threads(),
        "repeats": repeat, "step_median_ms": median * 1e3, "forward_median_ms": statistics.median(fwd) * 1e3,
        "backward_median_ms": statistics.median(bwd) * 1e3, "samples_per_s": batch / median,
    }


def time_mtkd(command, models, batch, shape_text, classes, threads, repeat, warmup):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "mtkd.json")
        args = shlex.split(command) + ["bench", "train", "--model", ";".join(models), "--batch", str(batch),
                                       "--input", shape_text, "--classes", str(classes), "--threads", str(threads),
                                       "--repeat", str(repeat), "--warmup", str(warmup), "--max-seconds", "120",
                                       "--json", out]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return {r["model"]: r for r in json.load(f)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", default=DEFAULT_MODELS)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--input", default="1x28x28")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--json")
    ap.add_argument("--mtkd", help="command that runs the mtkd CLI; enables the side-by-side comparison")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.input.split("x"))
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    malloc = {k: os.environ[k] for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_") if k in os.environ}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, malloc tuning: {malloc or 'none'}")

    rounds = args.rounds if args.mtkd else 1
    torch_runs = {m: [] for m in args.model}
    mtkd_runs = {m: [] for m in args.model}
    for r in range(rounds):
        for m in args.model:
            torch_runs[m].append(time_torch(m, args.batch, shape, args.classes, args.repeat, args.warmup))
        if args.mtkd:
            got = time_mtkd(args.mtkd, args.model, args.batch, args.input, args.classes, args.threads, args.repeat, args.warmup)
            for m in args.model:
                mine = next(v for k, v in got.items() if parse_spec(k) == parse_spec(m))
                if mine["parameters"] != torch_runs[m][-1]["parameters"]:
                    raise SystemExit(f"{m}: mtkd has {mine['parameters']} parameters, the PyTorch build "
                                     f"{torch_runs[m][-1]['parameters']}: not the same network")
                mtkd_runs[m].append(mine)
        print(f"round {r + 1}/{rounds}: " + "; ".join(
            f"{m}: torch {torch_runs[m][-1]['step_median_ms']:.2f} ms"
            + (f", mtkd {mtkd_runs[m][-1]['step_median_ms']:.2f} ms" if args.mtkd else "") for m in args.model), flush=True)

    records = []
    print(f"\n{'model':<16}{'batch':>6}{'torch ms':>11}{'torch samples/s':>17}"
          + (f"{'mtkd ms':>11}{'mtkd samples/s':>16}{'mtkd/torch time':>17}" if args.mtkd else ""))
    for m in args.model:
        t = statistics.median(run["step_median_ms"] for run in torch_runs[m])
        line = f"{m:<16}{args.batch:>6}{t:>11.2f}{args.batch / t * 1e3:>17.0f}"
        record = dict(torch_runs[m][-1], step_median_ms=t, samples_per_s=args.batch / t * 1e3, malloc_tuning=bool(malloc))
        if args.mtkd:
            k = statistics.median(run["step_median_ms"] for run in mtkd_runs[m])
            ratios = [mk["step_median_ms"] / tk["step_median_ms"] for mk, tk in zip(mtkd_runs[m], torch_runs[m])]
            ratio = statistics.median(ratios)
            line += f"{k:>11.2f}{args.batch / k * 1e3:>16.0f}{ratio:>17.3f}"
            record.update(mtkd_step_median_ms=k, mtkd_samples_per_s=args.batch / k * 1e3, mtkd_over_torch=ratio,
                          mtkd_over_torch_per_round=ratios, mtkd_gemm=mtkd_runs[m][-1]["gemm"])
        print(line)
        records.append(record)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
