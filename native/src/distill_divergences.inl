// The catalog losses other than kl and mse (docs/DESIGN.md §7), compiled once per SIMD level like the KL kernels.
//
// The driver runs them after the KL kernels (distill_driver.cpp): the stats pass first runs the KL kernel, which
// writes every statistic and the log-sum-exps, then catalog_losses<V> overwrites kl with T^2 D (the selected
// divergence) and mse with the selected feature loss; the gradient pass runs the KL kernel with a_kd (and beta)
// set to 0 for the replaced terms, so it writes the cross-entropy part, then catalog_losses<V> adds the selected
// terms to dzs, dfs and row_loss. Each divergence is a policy with value() and gradient() over one row's
// log-probabilities at T in double, which the float32 inputs fill exactly; their formulas and derivations are
// those of ReferenceLosses (src/MtkdRl.Core/Distill) and docs/DESIGN.md §7. Like the KL kernels, this file lives in an anonymous
// namespace of each SIMD level's translation unit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "kernels.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// One row and teacher: log-probabilities at temperature T of the student (ls) and the teacher (lt), C classes.
struct DivergenceRow {
    const double* ls;
    const double* lt;
    int C, y;
    double alpha, beta;
};

// e^lp (lp - lq), with 0 log 0 = 0.
inline double x_log_ratio_d(double lp, double lq) {
    const double p = std::exp(lp);
    return p == 0.0 ? 0.0 : p * (lp - lq);
}

// log(beta e^lt + (1 - beta) e^ls) without underflow.
inline double log_mixture_d(double beta, double lt, double ls) {
    const double a = std::log(beta) + lt, b = std::log1p(-beta) + ls, hi = std::max(a, b);
    return std::isinf(hi) && hi < 0 ? hi : hi + std::log1p(std::exp(std::min(a, b) - hi));
}

// log(1 - p_y) = log sum_{c != y} e^lp_c.
inline double log_non_target_d(const double* lp, int C, int y) {
    double hi = -INFINITY;
    for (int c = 0; c < C; ++c) if (c != y) hi = std::max(hi, lp[c]);
    if (!std::isfinite(hi)) return hi;
    double sum = 0.0;
    for (int c = 0; c < C; ++c) if (c != y) sum += std::exp(lp[c] - hi);
    return hi + std::log(sum);
}

template <class V>
struct ReverseKl {
    // R = sum ps (log ps - log pt); dR/ds_c = ps_c (rho_c - R).
    static double value(const DivergenceRow& r) {
        double sum = 0.0;
        for (int c = 0; c < r.C; ++c) sum += x_log_ratio_d(r.ls[c], r.lt[c]);
        return sum;
    }
    static void gradient(const DivergenceRow& r, double* g) {
        const double R = value(r);
        for (int c = 0; c < r.C; ++c) g[c] = std::exp(r.ls[c]) * (r.ls[c] - r.lt[c] - R);
    }
};

template <class V>
struct Jsd {
    // J = beta KL(pt || M) + (1 - beta) KL(ps || M), M = beta pt + (1 - beta) ps;
    // dJ/ds_c = (1 - beta) ps_c (rho_c - KL(ps || M)), rho = log ps - log M.
    static double value(const DivergenceRow& r) {
        double sum = 0.0;
        for (int c = 0; c < r.C; ++c) {
            const double lm = log_mixture_d(r.beta, r.lt[c], r.ls[c]);
            sum += r.beta * x_log_ratio_d(r.lt[c], lm) + (1.0 - r.beta) * x_log_ratio_d(r.ls[c], lm);
        }
        return sum;
    }
    static void gradient(const DivergenceRow& r, double* g) {
        double to_mixture = 0.0;
        for (int c = 0; c < r.C; ++c) {
            g[c] = r.ls[c] - log_mixture_d(r.beta, r.lt[c], r.ls[c]);  // rho_c, kept for the second sweep
            to_mixture += x_log_ratio_d(r.ls[c], r.ls[c] - g[c]);
        }
        for (int c = 0; c < r.C; ++c) g[c] = (1.0 - r.beta) * std::exp(r.ls[c]) * (g[c] - to_mixture);
    }
};

template <class V>
struct Dkd {
    // alpha TCKD + beta NCKD with target t = y: TCKD = KL([pt_t, 1 - pt_t] || [ps_t, 1 - ps_t]), NCKD = KL over the
    // classes != t of the renormalised distributions. Gradient: alpha (ps_t - pt_t) at t; elsewhere
    // -alpha (ps_t - pt_t) ps^_c + beta (ps^_c - pt^_c). A row without a label is ignored (0).
    static double value(const DivergenceRow& r) {
        if (r.y < 0) return 0.0;
        const double ls_not = log_non_target_d(r.ls, r.C, r.y), lt_not = log_non_target_d(r.lt, r.C, r.y);
        const double tckd = x_log_ratio_d(r.lt[r.y], r.ls[r.y]) + x_log_ratio_d(lt_not, ls_not);
        double nckd = 0.0;
        for (int c = 0; c < r.C; ++c)
            if (c != r.y) nckd += x_log_ratio_d(r.lt[c] - lt_not, r.ls[c] - ls_not);
        return r.alpha * tckd + r.beta * nckd;
    }
    static void gradient(const DivergenceRow& r, double* g) {
        if (r.y < 0) {
            std::fill(g, g + r.C, 0.0);
            return;
        }
        const double ls_not = log_non_target_d(r.ls, r.C, r.y), lt_not = log_non_target_d(r.lt, r.C, r.y);
        const double dt = std::exp(r.ls[r.y]) - std::exp(r.lt[r.y]);
        for (int c = 0; c < r.C; ++c) {
            if (c == r.y) {
                g[c] = r.alpha * dt;
                continue;
            }
            const double ps_hat = std::exp(r.ls[c] - ls_not), pt_hat = std::exp(r.lt[c] - lt_not);
            g[c] = -r.alpha * dt * ps_hat + r.beta * (ps_hat - pt_hat);
        }
    }
};

// Plain KL, for a run that replaces only the feature loss: the KL kernel already did this divergence.
template <class V>
struct KeepKl {};

template <class V>
struct CosineLoss {
    // 1 - <a,t> / (|a||t| + eps); d/da = -t / den + <a,t> |t| a / (|a| den^2), the second term 0 at a = 0.
    static double value(const float* a, const float* t, int d, double eps) {
        double dot = 0.0, aa = 0.0, tt = 0.0;
        for (int j = 0; j < d; ++j) {
            dot += static_cast<double>(a[j]) * t[j];
            aa += static_cast<double>(a[j]) * a[j];
            tt += static_cast<double>(t[j]) * t[j];
        }
        return 1.0 - dot / (std::sqrt(aa) * std::sqrt(tt) + eps);
    }
    static void gradient(const float* a, const float* t, int d, double eps, double* g) {
        double dot = 0.0, aa = 0.0, tt = 0.0;
        for (int j = 0; j < d; ++j) {
            dot += static_cast<double>(a[j]) * t[j];
            aa += static_cast<double>(a[j]) * a[j];
            tt += static_cast<double>(t[j]) * t[j];
        }
        const double n = std::sqrt(aa), m = std::sqrt(tt), den = n * m + eps;
        const double radial = n > 0.0 ? dot * m / (n * den * den) : 0.0;
        for (int j = 0; j < d; ++j) g[j] = -t[j] / den + radial * a[j];
    }
};

template <class V>
struct SmoothL1Loss {
    // (1/D) sum huber_1(a - t); d/da = clamp(a - t, -1, 1) / D.
    static double value(const float* a, const float* t, int d, double) {
        double sum = 0.0;
        for (int j = 0; j < d; ++j) {
            const double e = static_cast<double>(a[j]) - t[j];
            sum += std::abs(e) < 1.0 ? 0.5 * e * e : std::abs(e) - 0.5;
        }
        return sum / d;
    }
    static void gradient(const float* a, const float* t, int d, double, double* g) {
        for (int j = 0; j < d; ++j) g[j] = std::clamp(static_cast<double>(a[j]) - t[j], -1.0, 1.0) / d;
    }
};

template <class V>
struct KeepMse {};

// log softmax(z / T) in double; NaN everywhere when a z is not finite (the KL kernel reports that row).
inline void log_probs_d(const float* z, int C, double T, double* out) {
    double m = -INFINITY, probe = 0.0;
    for (int c = 0; c < C; ++c) {
        m = std::max(m, static_cast<double>(z[c]));
        probe += static_cast<double>(z[c]) - z[c];
    }
    double sum = 0.0;
    for (int c = 0; c < C; ++c) sum += std::exp((z[c] - m) / T);
    const double lse = m / T + std::log(sum) + probe;
    for (int c = 0; c < C; ++c) out[c] = z[c] / T - lse;
}

template <class V, template <class> class Div>
void divergence_rows(const DistillProblem& p, bool stats, bool grads, int b0, int b1) {
    if constexpr (std::is_same_v<Div<V>, KeepKl<V>>) {
        return;
    } else {
        const int C = p.C, K = p.K;
        const double T = p.T;
        thread_local std::vector<double> buf;
        buf.resize(4 * static_cast<std::size_t>(C));
        double *ls = buf.data(), *lt = ls + C, *g = lt + C, *acc = g + C;
        for (int b = b0; b < b1; ++b) {
            const int y = p.y[b];
            if (!stats && y < 0) continue;  // the KL kernel wrote the ignored row's zeros
            log_probs_d(p.zs + static_cast<std::size_t>(b) * C, C, T, ls);
            std::fill(acc, acc + C, 0.0);
            double loss = 0.0;
            for (int k = 0; k < K; ++k) {
                const std::size_t i = static_cast<std::size_t>(b) * K + k;
                log_probs_d(p.zt + (static_cast<std::size_t>(k) * p.B + b) * C, C, T, lt);
                const DivergenceRow row{ls, lt, C, y, p.div_alpha, p.div_beta};
                if (stats) p.stats.kl[i] = static_cast<float>(T * T * Div<V>::value(row));
                if (grads && y >= 0) {
                    loss += static_cast<double>(p.a_kd) * p.wl[i] * p.stats.kl[i];
                    Div<V>::gradient(row, g);
                    const double coef = static_cast<double>(p.a_kd) * T * p.wl[i];
                    for (int c = 0; c < C; ++c) acc[c] += coef * g[c];
                }
            }
            if (grads && y >= 0) {
                float* dzs = p.grads.dzs + static_cast<std::size_t>(b) * C;
                for (int c = 0; c < C; ++c) dzs[c] = static_cast<float>(dzs[c] + p.inv_counted_rows * acc[c]);
                p.grads.row_loss[b] = static_cast<float>(p.grads.row_loss[b] + p.inv_counted_rows * loss);
            }
        }
    }
}

template <class V, template <class> class Feat>
void feature_rows(const DistillProblem& p, bool stats, bool grads, int b0, int b1) {
    if constexpr (std::is_same_v<Feat<V>, KeepMse<V>>) {
        return;
    } else {
        thread_local std::vector<double> g;
        for (int b = b0; b < b1; ++b) {
            const int y = p.y[b];
            double loss = 0.0;
            for (int k = 0; k < p.K; ++k) {
                const std::size_t i = static_cast<std::size_t>(b) * p.K + k;
                const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
                const int d = p.D[k];
                const float *a = p.fs + off, *t = p.ft + off;
                if (stats) {
                    double probe = 0.0;  // NaN when an element is not finite, as the contract requires
                    for (int j = 0; j < d; ++j) probe += (static_cast<double>(a[j]) - a[j]) + (static_cast<double>(t[j]) - t[j]);
                    p.stats.mse[i] = static_cast<float>(Feat<V>::value(a, t, d, p.cos_eps) + probe);
                }
                if (grads && y >= 0) {
                    loss += static_cast<double>(p.beta) * p.wf[i] * p.stats.mse[i];
                    g.resize(static_cast<std::size_t>(d));
                    Feat<V>::gradient(a, t, d, p.cos_eps, g.data());
                    const double coef = static_cast<double>(p.inv_counted_rows) * p.beta * p.wf[i];
                    float* dfs = p.grads.dfs + off;
                    for (int j = 0; j < d; ++j) dfs[j] = static_cast<float>(coef * g[j]);
                }
            }
            if (grads && y >= 0) p.grads.row_loss[b] = static_cast<float>(p.grads.row_loss[b] + p.inv_counted_rows * loss);
        }
    }
}

// Rows [b0, b1) of the selected divergence and feature loss (Kernels::distill_losses).
template <class V>
void catalog_losses(const DistillProblem& p, bool stats, bool grads, int b0, int b1) {
    switch (p.divergence) {
        case MTKD_DIVERGENCE_REVERSE_KL: divergence_rows<V, ReverseKl>(p, stats, grads, b0, b1); break;
        case MTKD_DIVERGENCE_JSD: divergence_rows<V, Jsd>(p, stats, grads, b0, b1); break;
        case MTKD_DIVERGENCE_DKD: divergence_rows<V, Dkd>(p, stats, grads, b0, b1); break;
        default: divergence_rows<V, KeepKl>(p, stats, grads, b0, b1); break;
    }
    switch (p.feature_loss) {
        case MTKD_FEATURE_COSINE: feature_rows<V, CosineLoss>(p, stats, grads, b0, b1); break;
        case MTKD_FEATURE_SMOOTH_L1: feature_rows<V, SmoothL1Loss>(p, stats, grads, b0, b1); break;
        default: feature_rows<V, KeepMse>(p, stats, grads, b0, b1); break;
    }
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
