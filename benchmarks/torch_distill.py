#!/usr/bin/env python3
"""The fused multi-teacher distillation step written in PyTorch, as a competent PyTorch user would write it
(all teachers stacked in one tensor, autograd for the gradients), timed for comparison with `mtkd bench
kernels`. Same math as docs/DESIGN.md §2 and MtkdRl.Core.Distill.ReferenceDistill:

  stats   KL[b,k] = T^2 KL(pt^T || ps^T), CEt, Ht, conf, hit (T = 1), cos, mse, CEs
  loss    L = 1/B' sum_b [a_ce CEs + a_kd sum_k wl KL + beta sum_k wf mse]   (rows with y = -1 ignored)
  grads   dL/dzs, dL/dfs by autograd

One timed step = stats + weighted loss + both gradients: the work the native backend does in its stats
and gradient passes. Inputs are fresh Gaussian data (never zeros). Each sample is --launches steps issued back
to back, timed as a whole and divided by their number: between two CUDA events on a GPU (as `mtkd bench kernels`
times its GPU backends), by perf_counter on the CPU. Medians over many samples, after a warm-up. With --json
the records so far are rewritten after each shape, so a run cut short still leaves what it measured.

  python3 benchmarks/torch_distill.py [--device cpu|cuda] [--shape B,K,C,D ...] [--repeat N] [--launches N]
                                      [--threads N] [--compile] [--json FILE] [--mtkd-json FILE]

With --mtkd-json (the JSON of `mtkd bench kernels`) it also prints, per shape and backend, the ratio of the
PyTorch step time to the backend's stats + gradient time measured in the same session.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DEFAULT_SHAPES = ["256,4,100,256", "256,16,100,256", "1024,8,1000,512", "256,64,100,128"]


def make_inputs(B, K, C, D, device, dtype=torch.float32, seed=1234):
    g = torch.Generator(device="cpu").manual_seed(seed)
    zs = 3 * torch.randn(B, C, generator=g)
    zt = 3 * torch.randn(K, B, C, generator=g)
    fs = torch.randn(B, K * D, generator=g)
    ft = torch.randn(B, K * D, generator=g)
    y = torch.randint(0, C, (B,), generator=g)
    y[torch.rand(B, generator=g) < 0.1] = -1
    wl = torch.softmax(torch.randn(B, K, generator=g), dim=1)
    wf = torch.softmax(torch.randn(B, K, generator=g), dim=1)
    return [t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype) for t in (zs, zt, fs, ft, y, wl, wf)]


def distill_step(zs, zt, fs, ft, y, wl, wf, T=4.0, a_ce=1.0, a_kd=1.0, beta=5.0, eps=1e-8):
    """Statistics, weighted loss and gradients for one batch. zt: [K,B,C]; fs, ft: [B,K*D]."""
    K, B, C = zt.shape
    D = fs.shape[1] // K
    zs = zs.detach().requires_grad_(True)
    fs = fs.detach().requires_grad_(True)
    mask = (y >= 0).to(zs.dtype)
    counted = mask.sum().clamp(min=1.0)
    y0 = y.clamp(min=0)

    # Logit KD at temperature T (needs the graph: it is in the loss).
    log_ps_t = F.log_softmax(zs / T, dim=-1)                      # [B,C]
    log_pt_t = F.log_softmax(zt / T, dim=-1)                      # [K,B,C]
    kl = (T * T) * (log_pt_t.exp() * (log_pt_t - log_ps_t.unsqueeze(0))).sum(-1).t()  # [B,K]

    # Feature KD.
    fs3, ft3 = fs.view(B, K, D), ft.view(B, K, D)
    mse = ((fs3 - ft3) ** 2).mean(-1)                             # [B,K]
    ce_s = F.cross_entropy(zs, y0, reduction="none") * mask       # [B]

    # Teacher competence and agreement: statistics only, no graph.
    with torch.no_grad():
        log_pt = F.log_softmax(zt, dim=-1)                        # [K,B,C]
        pt = log_pt.exp()
        h_t = -(pt * log_pt).sum(-1).t()
        conf, argmax = pt.max(-1)
        ce_t = -log_pt.gather(-1, y0.view(1, B, 1).expand(K, B, 1)).squeeze(-1).t() * mask[:, None]
        hit = (argmax.t() == y[:, None]).to(zs.dtype)
        cos = (fs3 * ft3).sum(-1) / (fs3.norm(dim=-1) * ft3.norm(dim=-1) + eps)

    row = a_ce * ce_s + a_kd * (wl * kl).sum(1) + beta * (wf * mse).sum(1)
    loss = (row * mask).sum() / counted
    loss.backward()
    stats = (kl.detach(), ce_t, h_t, conf.t(), hit, cos, mse.detach(), ce_s.detach())
    return loss.detach(), zs.grad, fs.grad, stats


def time_step(step, args_, device, repeat, warmup, launches=1):
    """Median, p20 and p80 of `repeat` samples, each the time of `launches` back-to-back steps divided by their number."""
    for _ in range(warmup):
        step(*args_)
    times = []
    if device == "cuda":
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(repeat):
            start.record()
            for _ in range(launches):
                step(*args_)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / launches)
    else:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(launches):
                step(*args_)
            times.append((time.perf_counter() - t0) * 1e3 / launches)
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(round(p * (len(times) - 1))))]
    return statistics.median(times), q(0.2), q(0.8)


def self_check(device):
    """The float32 step agrees with the same code in float64 (so the timed code computes what it claims)."""
    B, K, C, D = 7, 3, 11, 5
    x32 = make_inputs(B, K, C, D, device)
    x64 = [t.double() if t.is_floating_point() else t for t in x32]
    l32, gz32, gf32, _ = distill_step(*x32)
    l64, gz64, gf64, _ = distill_step(*x64)
    err = max(((gz32.double() - gz64).abs().max() / gz64.abs().max()).item(),
              ((gf32.double() - gf64).abs().max() / gf64.abs().max()).item(),
              abs(l32.item() - l64.item()) / abs(l64.item()))
    if err > 1e-4:
        sys.exit(f"torch_distill.py: float32 step disagrees with float64 ({err:.2e})")
    return err


def write_records(path, records):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(records, f, indent=2)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--shape", nargs="*", default=DEFAULT_SHAPES)
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--launches", type=int, default=10, help="steps per timed sample, issued back to back")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (CPU)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile(distill_step)")
    ap.add_argument("--json", help="write the records here")
    ap.add_argument("--mtkd-json", help="`mtkd bench kernels --json` output to compare against")
    ap.add_argument("--label", default="", help="tag stored in each record (e.g. 'tuned-malloc')")
    a = ap.parse_args()

    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_distill.py: --device cuda but torch sees no CUDA device")
    torch.set_num_threads(a.threads)
    err = self_check(a.device)
    print(f"torch {torch.__version__}, device {a.device}, threads {torch.get_num_threads()}, "
          f"float32-vs-float64 check {err:.1e}, label '{a.label}'")

    steps = [("eager", distill_step)]
    if a.compile:
        try:
            steps.append(("compile", torch.compile(distill_step)))
        except Exception as e:  # older torch or no compiler: report, keep eager figures
            print(f"torch.compile unavailable: {e}")

    records = []
    if a.json:
        write_records(a.json, records)
    for text in a.shape:
        B, K, C, D = (int(v) for v in text.split(","))
        inputs = make_inputs(B, K, C, D, a.device)
        for mode, fn in steps:
            try:
                med, p20, p80 = time_step(fn, inputs, a.device, a.repeat, a.warmup, max(1, a.launches))
            except Exception as e:
                print(f"{mode} failed at {text}: {e}")
                continue
            rec = dict(op="step", backend="torch", mode=mode, label=a.label, device=a.device,
                       threads=torch.get_num_threads(), torch=torch.__version__,
                       B=B, K=K, C=C, D=D, median_ms=med, p20_ms=p20, p80_ms=p80, launches=max(1, a.launches))
            records.append(rec)
            print(f"{text:>18} torch {mode:8} median {med:9.3f} ms  (p20 {p20:.3f}, p80 {p80:.3f})", flush=True)
            if a.json:
                write_records(a.json, records)

    if a.mtkd_json:
        with open(a.mtkd_json) as f:
            mtkd = json.load(f)
        print("\nstats+gradient vs the PyTorch step (same shapes, same session):")
        print(f"{'shape':>18} {'backend':>14} {'stats+grad ms':>14} {'fused ms':>10} {'torch ms':>10} {'speed-up':>9}")
        for rec in records:
            key = (rec["B"], rec["K"], rec["C"], rec["D"])
            by_variant = {}
            for m in mtkd:
                if (m["B"], m["K"], m["C"], m["D"]) == key:
                    by_variant.setdefault(m["variant"], {})[m["op"]] = m["median_ms"]
            for variant, ops in by_variant.items():
                if "stats" in ops and "gradient" in ops:
                    two = ops["stats"] + ops["gradient"]
                    print(f"{','.join(map(str, key)):>18} {variant:>14} {two:14.3f} {ops.get('fused', float('nan')):10.3f} "
                          f"{rec['median_ms']:10.3f} {rec['median_ms'] / two:8.1f}x")


if __name__ == "__main__":
    main()
