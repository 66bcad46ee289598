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

  python3 benchmarks/torch_distill.py [--device cpu|cuda] [--shape B,K,C,D[/N] ...] [--repeat N] [--launches N]
                                      [--threads N] [--compile] [--json FILE] [--mtkd-json FILE]
                                      [--kd-loss NAME[:params]] [--feature-loss NAME]

--kd-loss and --feature-loss select the loss of the catalog (docs/DESIGN.md §7), with the names and parameters of
`mtkd bench kernels --kd-loss`: kl, reverse-kl, jsd[:beta], dkd[:alpha,beta]; mse, cosine, smooth-l1. The kl slot of
the statistics then holds the selected divergence (times T^2) and the mse slot the selected feature loss, as in the op.

With --mtkd-json (the JSON of `mtkd bench kernels`) it also prints, per shape and backend, the ratio of the
PyTorch step time to the backend's stats + gradient time measured in the same session.

With --paired LIB (a libmtkd_native, e.g. artifacts/native/libmtkd_native.so; --simd 0 auto, 2 AVX2, 3 AVX-512) the
native op is called in this process on the same tensors (benchmarks/mtkd_native.py), after checking that its
gradients agree with the PyTorch step's, and every round times one PyTorch sample, one stats + gradient sample and one
fused sample back to back, each of --launches steps (the eager step only; --compile is not paired). The speed-ups are
the medians of the rounds' own ratios: on a shared machine whose speed drifts over minutes, two measurements seconds
apart share the drift that separate runs minutes apart do not. Before the rounds of each shape it measures the copy
bandwidth as `mtkd bench kernels` does, and prints the speed-ups the passes would have at that bandwidth with their
minimum bytes ("at copy"): the most an implementation that reads every input once per pass could show in that moment
(more only where the caches hold the working set between calls).

  python3 benchmarks/torch_distill.py --paired artifacts/native/libmtkd_native.so [--simd 3] [--threads 2] ...
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# The last two are 16 images of 64x64 pixels as rows, 4 teachers, 11 classes: the op with 16 features on every row,
# and the dense (segmentation) step with the 16 features per teacher once per image (`mtkd bench kernels`'s defaults).
DEFAULT_SHAPES = ["256,4,100,256", "256,16,100,256", "1024,8,1000,512", "256,64,100,128", "65536,4,11,16", "65536,4,11,16/16"]


DIVERGENCES = {"kl": [], "reverse-kl": [], "jsd": [("beta", 0.5)], "dkd": [("alpha", 1.0), ("beta", 8.0)]}
FEATURE_LOSSES = ["mse", "cosine", "smooth-l1"]


def parse_kd_loss(text):
    """NAME[:params] as DistillLossCatalog.ParseDivergence reads it: values by position or name=value."""
    name, _, args = text.partition(":")
    if name not in DIVERGENCES:
        sys.exit(f"torch_distill.py: --kd-loss: unknown divergence '{name}' (known: {', '.join(DIVERGENCES)})")
    params = dict(DIVERGENCES[name])
    keys = [k for k, _ in DIVERGENCES[name]]
    parts = [p for p in args.split(",") if p] if args else []
    if len(parts) > len(keys):
        sys.exit(f"torch_distill.py: --kd-loss {name}: takes {len(keys)} parameter(s), got {len(parts)}")
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        key, value = (key, value) if eq else (keys[i], part)
        if key not in params:
            sys.exit(f"torch_distill.py: --kd-loss {name}: unknown parameter '{key}'")
        params[key] = float(value)
    return name, params


def loss_name(kd, params, feature):
    """The loss as `mtkd bench kernels` records it (DistillLoss.ToString)."""
    kd_text = kd + (":" + ",".join(f"{k}={v:.9g}" for k, v in params.items()) if params else "")
    return f"{kd_text} + {feature}"


def divergence(kd, params, log_ps_t, log_pt_t, y):
    """[B,K] divergence without T^2: log_ps_t [B,C], log_pt_t [K,B,C] at temperature T."""
    ls, lt = log_ps_t.unsqueeze(0), log_pt_t
    if kd == "kl":
        return (lt.exp() * (lt - ls)).sum(-1).t()
    if kd == "reverse-kl":
        return (ls.exp() * (ls - lt)).sum(-1).t()
    if kd == "jsd":
        b = params["beta"]
        lm = torch.logaddexp(lt + torch.log(torch.tensor(b, dtype=lt.dtype, device=lt.device)),
                             ls + torch.log(torch.tensor(1 - b, dtype=lt.dtype, device=lt.device)))
        return (b * lt.exp() * (lt - lm) + (1 - b) * ls.exp() * (ls - lm)).sum(-1).t()
    # dkd: target class vs the rest (Zhao et al., CVPR 2022); rows with y = -1 give 0.
    K, B, C = lt.shape
    y0 = y.clamp(min=0)
    target = F.one_hot(y0, C).to(torch.bool).unsqueeze(0)               # [1,B,C]
    ls, lt = ls.expand(K, B, C), lt
    ls_t, lt_t = ls.masked_select(target).view(K, B), lt.masked_select(target).view(K, B)
    ls_not = torch.logsumexp(ls.masked_fill(target, float("-inf")), -1)
    lt_not = torch.logsumexp(lt.masked_fill(target, float("-inf")), -1)
    tckd = lt_t.exp() * (lt_t - ls_t) + lt_not.exp() * (lt_not - ls_not)
    lth, lsh = (lt - lt_not.unsqueeze(-1)), (ls - ls_not.unsqueeze(-1))
    nckd = (lth.exp() * (lth - lsh)).masked_fill(target, 0.0).sum(-1)
    return ((params["alpha"] * tckd + params["beta"] * nckd) * (y >= 0).to(ls.dtype)).t()


def feature_loss(feature, fs3, ft3, eps):
    if feature == "mse":
        return ((fs3 - ft3) ** 2).mean(-1)
    if feature == "cosine":
        return 1 - (fs3 * ft3).sum(-1) / (fs3.norm(dim=-1) * ft3.norm(dim=-1) + eps)
    return F.smooth_l1_loss(fs3, ft3, reduction="none", beta=1.0).mean(-1)


def parse_shape(text):
    """B,K,C,D, or B,K,C,D/N for a dense step: B pixel rows of N images, the D features per teacher once per image."""
    rows, _, images = text.partition("/")
    B, K, C, D = (int(v) for v in rows.split(","))
    N = int(images) if images else 0
    if N and (N < 1 or B % N):
        sys.exit(f"torch_distill.py: --shape {text}: B must be a multiple of the image count N")
    return B, K, C, D, N


def make_inputs(B, K, C, D, device, dtype=torch.float32, seed=1234, images=0, near=0.0):
    """Gaussian inputs; with near > 0 the teachers' logits are the student's plus Gaussian noise of that width, as
    student and teachers come to agree in training (where the native op's precise forms take over)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    zs = 3 * torch.randn(B, C, generator=g)
    zt = 3 * torch.randn(K, B, C, generator=g)
    if near > 0:
        zt = zs.unsqueeze(0) + near * torch.randn(K, B, C, generator=torch.Generator(device="cpu").manual_seed(seed + 1))
    fs = torch.randn(images or B, K * D, generator=g)
    ft = torch.randn(images or B, K * D, generator=g)
    y = torch.randint(0, C, (B,), generator=g)
    y[torch.rand(B, generator=g) < 0.1] = -1
    wl = torch.softmax(torch.randn(B, K, generator=g), dim=1)
    wf = torch.softmax(torch.randn(B, K, generator=g), dim=1)
    return [t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype) for t in (zs, zt, fs, ft, y, wl, wf)]


def distill_step(zs, zt, fs, ft, y, wl, wf, T=4.0, a_ce=1.0, a_kd=1.0, beta=5.0, eps=1e-8, kd="kl", kd_params=None,
                 feature="mse"):
    """Statistics, weighted loss and gradients for one batch. zt: [K,B,C]; fs, ft: [B,K*D], or [N,K*D] for a dense
    step of N images of B/N pixel rows each: the feature term once per image, with the image's weight the sum of
    its valid pixels' wf (the dense step's, docs/DESIGN.md §6), cos and mse per image."""
    K, B, C = zt.shape
    N = fs.shape[0]
    D = fs.shape[1] // K
    zs = zs.detach().requires_grad_(True)
    fs = fs.detach().requires_grad_(True)
    mask = (y >= 0).to(zs.dtype)
    counted = mask.sum().clamp(min=1.0)
    y0 = y.clamp(min=0)

    # Logit KD at temperature T (needs the graph: it is in the loss).
    log_ps_t = F.log_softmax(zs / T, dim=-1)                      # [B,C]
    log_pt_t = F.log_softmax(zt / T, dim=-1)                      # [K,B,C]
    kl = (T * T) * divergence(kd, kd_params or {}, log_ps_t, log_pt_t, y)  # [B,K]

    # Feature KD, per row or per image.
    fs3, ft3 = fs.view(N, K, D), ft.view(N, K, D)
    mse = feature_loss(feature, fs3, ft3, eps)                    # [N,K]
    wf_rows = wf if N == B else (wf * mask[:, None]).view(N, B // N, K).sum(1)
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

    if N == B:
        row = a_ce * ce_s + a_kd * (wl * kl).sum(1) + beta * (wf * mse).sum(1)
        loss = (row * mask).sum() / counted
    else:
        row = a_ce * ce_s + a_kd * (wl * kl).sum(1)
        loss = ((row * mask).sum() + beta * (wf_rows * mse).sum()) / counted
    loss.backward()
    stats = (kl.detach(), ce_t, h_t, conf.t(), hit, cos, mse.detach(), ce_s.detach())
    return loss.detach(), zs.grad, fs.grad, stats


def percentile(values, p):
    """The value at fraction p of the sorted values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def cpu_sample(fn, launches):
    """Milliseconds per call of `launches` calls of fn back to back, timed as a whole."""
    t0 = time.perf_counter()
    for _ in range(launches):
        fn()
    return (time.perf_counter() - t0) * 1e3 / launches


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
        times = [cpu_sample(lambda: step(*args_), launches) for _ in range(repeat)]
    return statistics.median(times), percentile(times, 0.2), percentile(times, 0.8)


def self_check(device, step):
    """The float32 step agrees with the same code in float64 (so the timed code computes what it claims)."""
    err = 0.0
    for B, K, C, D, N in ((7, 3, 11, 5, 0), (12, 3, 11, 5, 3)):
        x32 = make_inputs(B, K, C, D, device, images=N)
        x64 = [t.double() if t.is_floating_point() else t for t in x32]
        l32, gz32, gf32, _ = step(*x32)
        l64, gz64, gf64, _ = step(*x64)
        err = max(err, ((gz32.double() - gz64).abs().max() / gz64.abs().max()).item(),
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
    ap.add_argument("--kd-loss", default="kl", help="logit divergence: kl, reverse-kl, jsd[:beta], dkd[:alpha,beta]")
    ap.add_argument("--feature-loss", default="mse", choices=FEATURE_LOSSES)
    ap.add_argument("--near", type=float, default=0.0, metavar="WIDTH",
                    help="teachers = the student's logits + Gaussian noise of this width (0: independent teachers)")
    ap.add_argument("--paired", metavar="LIB", help="time libmtkd_native's op in this process, round by round")
    ap.add_argument("--simd", type=int, default=0, help="--paired: 0 auto, 1 scalar, 2 AVX2, 3 AVX-512")
    a = ap.parse_args()
    kd, kd_params = parse_kd_loss(a.kd_loss)
    loss = loss_name(kd, kd_params, a.feature_loss)

    def step_with_loss(*inputs):
        return distill_step(*inputs, kd=kd, kd_params=kd_params, feature=a.feature_loss)

    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_distill.py: --device cuda but torch sees no CUDA device")
    torch.set_num_threads(a.threads)
    err = self_check(a.device, step_with_loss)
    print(f"torch {torch.__version__}, device {a.device}, threads {torch.get_num_threads()}, "
          f"float32-vs-float64 check {err:.1e}, label '{a.label}', loss {loss}")

    steps = [("eager", step_with_loss)]
    if a.compile:
        try:
            steps.append(("compile", torch.compile(step_with_loss)))
        except Exception as e:  # older torch or no compiler: report, keep eager figures
            print(f"torch.compile unavailable: {e}")

    if a.paired:
        return paired(a, step_with_loss, kd, kd_params, loss)

    records = []
    if a.json:
        write_records(a.json, records)
    for text in a.shape:
        B, K, C, D, N = parse_shape(text)
        inputs = make_inputs(B, K, C, D, a.device, images=N, near=a.near)
        for mode, fn in steps:
            try:
                med, p20, p80 = time_step(fn, inputs, a.device, a.repeat, a.warmup, max(1, a.launches))
            except Exception as e:
                print(f"{mode} failed at {text}: {e}")
                continue
            rec = dict(op="step", backend="torch", mode=mode, label=a.label, device=a.device, near=a.near,
                       threads=torch.get_num_threads(), torch=torch.__version__,
                       B=B, K=K, C=C, D=D, images=N, loss=loss, median_ms=med, p20_ms=p20, p80_ms=p80, launches=max(1, a.launches))
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
            key = (rec["B"], rec["K"], rec["C"], rec["D"], rec["images"])
            by_variant = {}
            for m in mtkd:
                if (m["B"], m["K"], m["C"], m["D"], m.get("images", 0)) == key and m.get("loss", "kl + mse") == loss:
                    by_variant.setdefault(m["variant"], {})[m["op"]] = m["median_ms"]
            for variant, ops in by_variant.items():
                if "stats" in ops and "gradient" in ops:
                    two = ops["stats"] + ops["gradient"]
                    print(f"{','.join(map(str, key[:4])) + (f'/{key[4]}' if key[4] else ''):>18} {variant:>14} {two:14.3f} {ops.get('fused', float('nan')):10.3f} "
                          f"{rec['median_ms']:10.3f} {rec['median_ms'] / two:8.1f}x")


def paired(a, step, kd, kd_params, loss):
    """--paired: the PyTorch step and the native op in alternation, round by round, on the same tensors."""
    if a.device != "cpu" or a.compile:
        sys.exit("torch_distill.py: --paired times the CPU op against the eager step: no --device cuda, no --compile")
    from mtkd_native import NativeOp, copy_gbps, pass_megabytes
    try:
        op = NativeOp(a.paired, a.simd, a.threads)
    except (OSError, RuntimeError) as e:
        sys.exit(f"torch_distill.py: --paired {a.paired}: {e}")
    n = max(1, a.launches)
    print(f"native {a.paired}: {op.simd}, {op.threads} threads; {a.repeat} rounds of {n} steps per side\n")
    print(f"{'shape':>18} {'torch ms':>9} {'two-pass ms':>11} {'fused ms':>9} {'two-pass speed-up (p20-p80)':>28} "
          f"{'fused speed-up':>14} {'grad err':>9} {'copy GB/s':>9} {'speed-up at copy: two-pass':>26} {'fused':>6}")

    records = []
    for text in a.shape:
        B, K, C, D, N = parse_shape(text)
        inputs = make_inputs(B, K, C, D, "cpu", images=N, near=a.near)
        run = op.session(*inputs, kd=kd, kd_params=kd_params, feature=a.feature_loss)
        _, gz, gf, _ = step(*inputs)
        err = 0.0
        for passes in ((run.stats, run.gradient), (run.fused,)):
            for p in passes:
                p()
            err = max(err, ((run.dzs - gz).abs().max() / gz.abs().max()).item(),
                      ((run.dfs - gf).abs().max() / gf.abs().max()).item() if D else 0.0)
        if not err <= 1e-3:
            sys.exit(f"torch_distill.py: --paired {text}: the native gradients differ from PyTorch's ({err:.1e})")

        def two_pass():
            run.stats()
            run.gradient()

        torch_step = lambda: step(*inputs)
        for _ in range(a.warmup):
            torch_step(), two_pass(), run.fused()
        copy = copy_gbps(op.threads)
        rounds = [(cpu_sample(torch_step, n), cpu_sample(two_pass, n), cpu_sample(run.fused, n)) for _ in range(a.repeat)]
        med = statistics.median
        two_ratio = [t / w for t, w, _ in rounds]
        fused_ratio = [t / f for t, _, f in rounds]
        rec = dict(op="paired", backend="torch", mode="eager", label=a.label, device="cpu", near=a.near,
                   threads=torch.get_num_threads(),
                   torch=torch.__version__, native=a.paired, simd=op.simd, native_threads=op.threads, B=B, K=K, C=C,
                   D=D, images=N, loss=loss, launches=n, rounds=a.repeat, gradient_rel_err=err,
                   torch_ms=med([r[0] for r in rounds]), two_pass_ms=med([r[1] for r in rounds]),
                   fused_ms=med([r[2] for r in rounds]), two_pass_speedup=med(two_ratio),
                   two_pass_speedup_p20=percentile(two_ratio, 0.2), two_pass_speedup_p80=percentile(two_ratio, 0.8),
                   fused_speedup=med(fused_ratio), copy_gbps=copy)
        # The same passes at the copy bandwidth measured just before the rounds: the fastest any implementation that
        # moves their minimum bytes could run here, and the speed-up that would give against this PyTorch time.
        mb_stats, mb_grad, mb_fused = pass_megabytes(B, K, C, D, N)
        rec["two_pass_at_copy_ms"] = (mb_stats + mb_grad) / copy
        rec["fused_at_copy_ms"] = mb_fused / copy
        records.append(rec)
        print(f"{text:>18} {rec['torch_ms']:9.3f} {rec['two_pass_ms']:11.3f} {rec['fused_ms']:9.3f} "
              f"{rec['two_pass_speedup']:12.1f}x ({rec['two_pass_speedup_p20']:.1f}-{rec['two_pass_speedup_p80']:.1f}x)"
              f"{rec['fused_speedup']:13.1f}x {err:9.1e} {copy:9.1f} "
              f"{rec['torch_ms'] / rec['two_pass_at_copy_ms']:25.1f}x {rec['torch_ms'] / rec['fused_at_copy_ms']:5.1f}x",
              flush=True)
        if a.json:
            write_records(a.json, records)
    op.close()


if __name__ == "__main__":
    main()
