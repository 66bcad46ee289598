"""The native distillation op (libmtkd_native, native/include/mtkd.h) called from Python through ctypes, on torch
tensors' memory: what `torch_distill.py --paired` times in the same process as the PyTorch step, sample by sample.

    op = NativeOp("artifacts/native/libmtkd_native.so", simd=0, threads=2)
    run = op.session(zs, zt, fs, ft, y, wl, wf, T=4.0, ...)   # float32 contiguous tensors, zt [K,B,C], fs [B,K*D]
    run.stats(); run.gradient(); run.fused()                     # each one call of the op; run.dzs, run.dfs

A dense step of N images (fs, ft [N,K*D]) is two sessions as `mtkd bench kernels` runs it (docs/DESIGN.md §6,
MtkdRl.Core.Distill.DenseStepSessions): the B pixel rows with no features (D = 0, the feature term off) and the N image
rows with two zero logits, label 0, the feature term only, each image's feature weight the sum of its valid pixels' wf.
"""
import ctypes
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import torch

ABI_VERSION = 2  # MTKD_ABI_VERSION of native/include/mtkd.h
DIVERGENCES = {"kl": 0, "reverse-kl": 1, "jsd": 2, "dkd": 3}
FEATURE_LOSSES = {"mse": 0, "cosine": 1, "smooth-l1": 2}
_P = ctypes.c_void_p


class _Shape(ctypes.Structure):
    _fields_ = [("B", ctypes.c_int32), ("K", ctypes.c_int32), ("C", ctypes.c_int32), ("D", _P), ("feat_off", _P)]


class _Inputs(ctypes.Structure):
    _fields_ = [(name, _P) for name in ("zs", "zt", "fs", "ft", "y", "wl", "wf")]


class _Hyper(ctypes.Structure):
    _fields_ = [("temperature", ctypes.c_float), ("a_ce", ctypes.c_float), ("a_kd", ctypes.c_float),
                ("beta", ctypes.c_float), ("cos_eps", ctypes.c_float), ("inv_counted_rows", ctypes.c_float),
                ("divergence", ctypes.c_int32), ("div_alpha", ctypes.c_float), ("div_beta", ctypes.c_float),
                ("feature_loss", ctypes.c_int32)]


class _Stats(ctypes.Structure):
    _fields_ = [(name, _P) for name in ("kl", "ce_t", "h_t", "conf", "hit", "cos", "mse", "lse_t", "ce_s", "lse_s1",
                                        "lse_st")]


class _Grads(ctypes.Structure):
    _fields_ = [(name, _P) for name in ("dzs", "dfs", "row_loss")]


def _ptr(t):
    return ctypes.c_void_p(t.data_ptr())


def copy_gbps(threads, size=256 << 20, repeats=7):
    """The host's copy bandwidth as `mtkd bench kernels` measures it (MtkdRl.Core.HostCopyBandwidth): a buffer far larger
    than the caches copied in `threads` parts at once (libc memmove, which ctypes calls without the GIL), the median of
    `repeats`, counted as bytes read plus bytes written, in GB/s."""
    src, dst = torch.ones(size, dtype=torch.uint8), torch.zeros(size, dtype=torch.uint8)
    parts = max(1, threads)
    chunk = size // parts
    spans = [(p * chunk, size - p * chunk if p == parts - 1 else chunk) for p in range(parts)]
    seconds = []
    with ThreadPoolExecutor(parts) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(lambda s: ctypes.memmove(dst.data_ptr() + s[0], src.data_ptr() + s[0], s[1]), spans))
            seconds.append(time.perf_counter() - t0)
    return 2.0 * size / statistics.median(seconds) / 1e9


def pass_megabytes(B, K, C, D, images=0):
    """The minimum bytes of each pass (MtkdRl.Core.Distill.DistillTraffic, docs/PERF.md): every input read once, every
    output written once; for a dense step the sum of its two sessions. Returns (stats, gradient, fused) in MB."""
    def session(B, C, F):
        common = 4 * (B * C + K * B * C) + 8 * B * F + 4 * B
        stats_out, weights, stats_in = 4 * (8 * B * K + 3 * B), 8 * B * K, 4 * (3 * B * K + 3 * B)
        grads_out = 4 * (B * C + B * F + B)
        return (common + stats_out, common + weights + stats_in + grads_out, common + weights + stats_out + grads_out)
    if not images:
        return tuple(x / 1e6 for x in session(B, C, K * D))
    return tuple((p + i) / 1e6 for p, i in zip(session(B, C, 0), session(images, 2, K * D)))


class NativeOp:
    """One context of the op (a SIMD level, a thread count); fails with the library's own message."""

    def __init__(self, path, simd=0, threads=0):
        self.lib = lib = ctypes.CDLL(path)
        lib.mtkd_last_error.restype = ctypes.c_char_p
        lib.mtkd_abi_version.restype = ctypes.c_int32
        if lib.mtkd_abi_version() != ABI_VERSION:
            raise RuntimeError(f"{path}: ABI version {lib.mtkd_abi_version()}, this binding knows {ABI_VERSION}")
        for name in ("mtkd_distill_stats", "mtkd_distill_gradient", "mtkd_distill_fused", "mtkd_context_create",
                     "mtkd_context_describe"):
            getattr(lib, name).restype = ctypes.c_int
        lib.mtkd_context_destroy.restype = None
        self.ctx = ctypes.c_void_p()
        self._check(lib.mtkd_context_create(simd, threads, ctypes.byref(self.ctx)), "context")
        level, count = ctypes.c_int32(), ctypes.c_int32()
        self._check(lib.mtkd_context_describe(self.ctx, ctypes.byref(level), ctypes.byref(count)), "describe")
        self.simd = {1: "scalar", 2: "avx2", 3: "avx512"}.get(level.value, str(level.value))
        self.threads = count.value

    def _check(self, status, what):
        if status != 0:
            raise RuntimeError(f"mtkd {what}: {self.lib.mtkd_last_error().decode()}")

    def close(self):
        if self.ctx:
            self.lib.mtkd_context_destroy(self.ctx)
            self.ctx = ctypes.c_void_p()

    def session(self, zs, zt, fs, ft, y, wl, wf, T=4.0, a_ce=1.0, a_kd=1.0, beta=5.0, eps=1e-8, kd="kl",
                kd_params=None, feature="mse"):
        """The op's calls for one batch: a row session, or the two sessions of a dense step when fs has fewer rows
        than zs (N images of B/N pixel rows each)."""
        K, B, C = zt.shape
        N = fs.shape[0]
        D = fs.shape[1] // K
        kd_params = kd_params or {}
        hyper = dict(T=T, a_ce=a_ce, a_kd=a_kd, beta=beta, eps=eps, divergence=DIVERGENCES[kd],
                     alpha=kd_params.get("alpha", 0.0), div_beta=kd_params.get("beta", 0.0),
                     feature=FEATURE_LOSSES[feature])
        mask = (y >= 0).to(torch.float32)
        inv_counted = 1.0 / max(1.0, mask.sum().item())
        if N == B:
            return _Run([_Session(self, zs, zt, fs, ft, y, wl, wf, D, dict(hyper, inv=inv_counted))], "rows")
        # The pixel rows: every logit term, no features, beta = 0.
        none = torch.zeros(1)  # F = 0: never read, but the API takes no null pointer
        pixels = _Session(self, zs, zt, none, none, y, wl, wf, 0, dict(hyper, beta=0.0, inv=inv_counted))
        # The image rows: two zero logits, label 0, only the feature term, weights summed over valid pixels.
        wf_images = (wf * mask[:, None]).view(N, B // N, K).sum(1).contiguous()
        images = _Session(self, torch.zeros(N, 2), torch.zeros(K, N, 2), fs, ft, torch.zeros(N, dtype=torch.int32),
                          torch.zeros(N, K), wf_images, D, dict(hyper, a_ce=0.0, a_kd=0.0, inv=inv_counted))
        return _Run([pixels, images], "dense")


class _Session:
    """One call's arguments, kept alive with every buffer they point to."""

    def __init__(self, op, zs, zt, fs, ft, y, wl, wf, D, h):
        K, B, C = zt.shape
        self.op = op
        f32 = lambda t: t.to(torch.float32).contiguous()
        self.keep = [f32(zs), f32(zt), f32(fs), f32(ft), y.to(torch.int32).contiguous(), f32(wl), f32(wf)]
        self.widths = torch.full((K,), D, dtype=torch.int32)
        self.offsets = torch.arange(K + 1, dtype=torch.int32) * D
        self.shape = _Shape(B, K, C, _ptr(self.widths), _ptr(self.offsets))
        self.inputs = _Inputs(*[_ptr(t) for t in self.keep])
        self.hyper = _Hyper(h["T"], h["a_ce"], h["a_kd"], h["beta"], h["eps"], h["inv"], h["divergence"], h["alpha"],
                            h["div_beta"], h["feature"])
        self.pair_stats = [torch.zeros(B, K) for _ in range(8)]
        self.row_stats = [torch.zeros(B) for _ in range(3)]
        self.stats_out = _Stats(*[_ptr(t) for t in self.pair_stats + self.row_stats])
        self.dzs, self.row_loss = torch.zeros(B, C), torch.zeros(B)
        self.dfs = torch.zeros(B, K * D) if D > 0 else torch.zeros(1)
        self.grads_out = _Grads(_ptr(self.dzs), _ptr(self.dfs), _ptr(self.row_loss))
        self.refs = [ctypes.byref(x) for x in (self.shape, self.inputs, self.hyper, self.stats_out, self.grads_out)]

    def call(self, name):
        lib, ctx = self.op.lib, self.op.ctx
        shape, inputs, hyper, stats, grads = self.refs
        if name == "stats":
            status = lib.mtkd_distill_stats(ctx, shape, inputs, hyper, stats)
        elif name == "gradient":
            status = lib.mtkd_distill_gradient(ctx, shape, inputs, hyper, stats, grads)
        else:
            status = lib.mtkd_distill_fused(ctx, shape, inputs, hyper, stats, grads)
        self.op._check(status, name)


class _Run:
    """The calls of one batch: stats(), gradient(), fused(); dzs and dfs as the step's gradients."""

    def __init__(self, sessions, kind):
        self.sessions, self.kind = sessions, kind

    def _call(self, name):
        for s in self.sessions:
            s.call(name)

    def stats(self):
        self._call("stats")

    def gradient(self):
        self._call("gradient")

    def fused(self):
        self._call("fused")

    @property
    def dzs(self):
        return self.sessions[0].dzs

    @property
    def dfs(self):
        return self.sessions[-1].dfs
