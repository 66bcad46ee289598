#include "distill_refine.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "context.h"

namespace mtkd {
namespace {

double max_of(const float* z, int n) {
    double m = z[0];
    for (int c = 1; c < n; ++c) m = std::max(m, static_cast<double>(z[c]));
    return m;
}

// Same formula as the kernels (see distill_kernels.inl), every operation in double.
void refine_row(const DistillProblem& p, int b) {
    const int C = p.C;
    const double T = p.T;
    const float* s = p.zs + static_cast<std::size_t>(b) * C;
    if (!std::isfinite(p.stats.lse_st[b])) return;  // a non-finite student row keeps what the kernel wrote
    const double ms = max_of(s, C);
    double Ss = 0.0;
    for (int c = 0; c < C; ++c) Ss += std::exp((s[c] - ms) / T);
    for (int k = 0; k < p.K; ++k) {
        const std::size_t i = static_cast<std::size_t>(b) * p.K + k;
        if (!std::isfinite(p.stats.lse_t[i])) continue;
        const float* z = p.zt + (static_cast<std::size_t>(k) * p.B + b) * C;
        const double mt = max_of(z, C);
        double St = 0.0, A = 0.0;
        for (int c = 0; c < C; ++c) {
            const double u = (z[c] - mt) / T, v = (s[c] - ms) / T, e = std::exp(u);
            St += e;
            A += e * (u - v);
        }
        p.stats.kl[i] = static_cast<float>(T * T * (A / St + std::log(Ss / St)));
    }
    if (p.grads.row_loss != nullptr) {
        if (p.y[b] < 0) return;
        double loss = static_cast<double>(p.a_ce) * p.stats.ce_s[b];
        for (int k = 0; k < p.K; ++k) {
            const std::size_t i = static_cast<std::size_t>(b) * p.K + k;
            loss += static_cast<double>(p.a_kd) * p.wl[i] * p.stats.kl[i] + static_cast<double>(p.beta) * p.wf[i] * p.stats.mse[i];
        }
        p.grads.row_loss[b] = static_cast<float>(p.inv_counted_rows * loss);
    }
}

}  // namespace

void refine_small_kl(mtkd_context& ctx, DistillPass pass, const DistillProblem& p) {
    if (pass == DistillPass::Gradient) return;
    const std::size_t n = static_cast<std::size_t>(p.B) * p.K;
    const float limit = static_cast<float>(kRefineBelow * p.T * p.T);
    for (std::size_t i = 0; i < n; ++i)
        if (p.stats.kl[i] >= limit) return;  // NaN compares false: non-finite entries do not count
    DistillProblem q = p;
    if (pass != DistillPass::Fused) q.grads.row_loss = nullptr;
    const int threads = std::max(1, std::min(ctx.threads, p.B));
    parallel_region(threads, [&](int thread, int team) {
        const int first = static_cast<int>(static_cast<long long>(p.B) * thread / team);
        const int last = static_cast<int>(static_cast<long long>(p.B) * (thread + 1) / team);
        for (int b = first; b < last; ++b) refine_row(q, b);
    });
}

}  // namespace mtkd
