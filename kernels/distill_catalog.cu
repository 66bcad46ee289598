/*
 * distill_catalog.cu - the catalog losses other than kl and mse (docs/DESIGN.md §7) as two kernels,
 * mtkd_catalog_stats (pass 1) and mtkd_catalog_gradient (pass 2), which run after distill.cu's KL kernels in the
 * order every backend uses (src/MtkdRl.Gpu/Cuda/CudaDistillSession.cs launches them):
 *   stats:    mtkd_distill_stats writes every statistic and the log-sum-exps, then mtkd_catalog_stats overwrites
 *             kl with T^2 D (the selected divergence D) and mse with the selected feature loss;
 *   gradient: mtkd_distill_gradient with a_kd (beta) at 0 for a replaced term writes the cross-entropy part, then
 *             mtkd_catalog_gradient adds the selected terms:
 *                 dL/dzs[c]  += (1/B') a_kd T sum_k wl_k dD_k/ds_c       row_loss += (1/B') sum_k a_kd wl_k kl_k
 *                 dL/dfs_k[j] = (1/B') beta wf_k d loss_k / dfs_k[j]     row_loss += (1/B') sum_k beta wf_k mse_k
 *   fused:    the two in turn.
 * With kl as the divergence (kl + mse included) the gradient kernel runs after the KL gradient or fused kernel only
 * to write again the rows where teacher and student nearly agree, cross-entropy part and all, with kl_gradient's
 * ps - pt = -ps expm1(-d) from the shift-free d (docs/DESIGN.md §2); every other row returns after reading its K
 * weights and divergences.
 * Ignored rows (y = -1) keep the gradient kernel's zeros; their statistics are computed (dkd's is 0: no target).
 *
 * The math is that of native/src/distill_divergences.inl, in float: for row b the student's log-probabilities at T,
 * ls = (s - max s)/T - log Ss, and ps = e^ls are formed once (ps in shared memory, ls recomputed from the row);
 * teacher k enters through d_c = log ps_c - log pt_c = (s_c - z_c)/T - (lse_st - lse_t,k), from the log-sum-exps
 * the KL stats kernel stored. The difference s_c - z_c keeps its digits when teacher and student agree, and the
 * rounding of the two log-sum-exps shifts every d_c by the same e, which the stats measure and remove:
 * q = sum ps expm1(-d) (a sum without cancellation), then d + log1p(q) and pt / (1 + q). Each divergence is a
 * sum of non-negative terms p phi(x), phi(x) = x - 1 + e^-x (a series for |x| < 1/2), and each gradient is
 * written so that a shift of d leaves it unchanged:
 *   reverse-kl  R = sum ps phi(d);                        dR/ds_c = ps_c (d_c - sum ps d)
 *   jsd         J = beta sum pt phi(u) + (1 - beta) sum ps phi(v), u = log pt - log M, v = log ps - log M,
 *               M / pt = 1 + (1 - beta) expm1(d) for d <= 0, M / ps = 1 + beta expm1(-d) for d > 0;
 *               dJ/ds_c = (1 - beta) ps_c (v_c - sum ps v)
 *   dkd         alpha TCKD + beta NCKD over the target t = y, with Sn = sum_{c != t} ps_c, St = sum_{c != t} pt_c
 *               summed without the target (1 - p_t by subtraction would lose a confident distribution's digits),
 *               lambda = log(St/Sn) = log1p(A/Sn), A = sum_{c != t} ps expm1(-d); NCKD = sum pt^ phi(-d - lambda);
 *               gradient alpha dt at t, -alpha dt ps^_c + beta (ps^_c - pt^_c) elsewhere (dt = ps_t - pt_t).
 *               A pair whose non-target mass is below 1e-20 is computed from log-probabilities instead
 *               (log-sum-exp over the non-target classes), where the ratios above would divide 0 by 0.
 *   cosine      1 - <a,t>/(|a||t| + eps), the products' rounding errors summed apart (an FMA gives each exactly),
 *               so a slice whose a and t are parallel (D = 1) keeps the digits of the nearly cancelling gradient
 *               -t/den + <a,t>|t| a/(|a| den^2)
 *   smooth-l1   (1/D) sum huber_1(a - t); gradient clamp(a - t, -1, 1)/D.
 * A non-finite feature element makes the feature loss NaN (the probe x - x is added, as in distill.cu).
 *
 * Kernels. One block per row (grid = B), MTKD_CATALOG_THREADS threads. The divergence sweeps a teacher row with
 * the whole block (every thread keeps the same columns c = tid, tid + threads, ..., so the shared rows it reads
 * are its own; block sums combine in warp order, deterministic); the feature losses take one warp per teacher.
 * Dynamic shared memory: MTKD_DISTILL_SCRATCH_FLOATS, then 4 rows of Cp floats: ps, d, e (pt), acc (the gradient
 * pass's sum over teachers, added to dzs once).
 */
#include "distill_layout.h"
#include "mtkd_cuda.cuh"
#include "mtkd_math.cuh"
#include "mtkd_reduce.cuh"

namespace {

typedef long long index_t;

MTKD_DEVICE float abs_f(float x) { return x < 0.f ? -x : x; }

MTKD_DEVICE int padded_row(int c) { return (c + 3) & ~3; }

/* e^x - 1 by its Taylor series to x^9/9!: relative error below 1e-8 for |x| < 1/2. */
MTKD_DEVICE float expm1_series(float x) {
    const float q = 1.f + x * (1.f / 2 + x * (1.f / 6 + x * (1.f / 24 + x * (1.f / 120 + x * (1.f / 720 + x * (1.f / 5040 +
                    x * (1.f / 40320 + x * (1.f / 362880))))))));
    return q * x;
}

MTKD_DEVICE float expm1_accurate(float x) { return abs_f(x) < 0.5f ? expm1_series(x) : mtkd_exp(x) - 1.f; }

/* p phi(x) = p x - p + q with q = p e^-x given; for |x| < 1/2 p x^2 (1/2 - x/6 + ... to x^7/9!). */
MTKD_DEVICE float p_phi(float p, float x, float q) {
    if (abs_f(x) < 0.5f) {
        const float s = 1.f / 2 + x * (-1.f / 6 + x * (1.f / 24 + x * (-1.f / 120 + x * (1.f / 720 + x * (-1.f / 5040 +
                        x * (1.f / 40320 + x * (-1.f / 362880)))))));
        return p * ((x * x) * s);
    }
    return mtkd_fma(p, x, q - p);
}

/* The block's column loop: body(c) for the thread's own columns. */
template <class F>
MTKD_DEVICE void columns(int n, F body) {
    for (int c = static_cast<int>(threadIdx.x); c < n; c += static_cast<int>(blockDim.x)) body(c);
}

/* Block sums that alternate between two scratch areas, so consecutive sums need no extra barrier: a thread
 * reuses an area only after the barrier of the sum in between, which every thread reaches after reading it. */
struct BlockSums {
    float* smem;
    int next;
    MTKD_DEVICE float sum(float v) {
        float* area = smem + (next & 1) * MTKD_DISTILL_MAX_WARPS;
        ++next;
        return mtkd_block_sum(v, area);
    }
    MTKD_DEVICE float max(float v) {
        float* area = smem + (next & 1) * MTKD_DISTILL_MAX_WARPS;
        ++next;
        return mtkd_block_max(v, area);
    }
};

/* The student row at T: ps_c in shared memory, ls_c = (s_c - m) inv_t - log_s on demand. */
struct Student {
    const float* s;
    float m, log_s, inv_t;
    MTKD_DEVICE float ls(int c) const { return (s[c] - m) * inv_t - log_s; }
    /* The same in double, for the rare pairs that dkd_from_logs takes: at logits of magnitude 100 a float ls is
     * off by 1e-5, which the divergence's differences of log-probabilities would carry as 1e-4 of their value. */
    MTKD_DEVICE double ls_d(int c) const { return (static_cast<double>(s[c]) - m) * inv_t - log_s; }
};

MTKD_DEVICE Student student_probabilities(const float* zs_row, float* ps, int C, float inv_t, BlockSums& sums) {
    float top = -MTKD_INFINITY;
    columns(C, [&](int c) { top = mtkd_fmax(top, zs_row[c]); });
    Student st;
    st.s = zs_row;
    st.m = sums.max(top);
    st.inv_t = inv_t;
    float part = 0.f;
    columns(C, [&](int c) { part += mtkd_exp((zs_row[c] - st.m) * inv_t); });
    st.log_s = mtkd_log(sums.sum(part));
    columns(C, [&](int c) { ps[c] = mtkd_exp(st.ls(c)); });
    return st;
}

/* One row b and teacher k of the divergence sweeps. */
struct Pair {
    const Student* student;
    const float* zt;  /* teacher row */
    const float* ps;
    float* d;
    float* e;
    int C, y;
    float shift, alpha, beta;

    /* d_c = log ps_c - log pt_c up to the row's shift. */
    MTKD_DEVICE float log_ratio(int c) const { return (student->s[c] - zt[c]) * student->inv_t - shift; }
    /* The same in double, up to the same shift. */
    MTKD_DEVICE double log_ratio_d(int c) const { return (static_cast<double>(student->s[c]) - zt[c]) * student->inv_t - shift; }
    /* pt_c = e^(ls_c - d_c), exact where ps_c underflowed. */
    MTKD_DEVICE float teacher_prob(int c, float dc) const { return mtkd_exp(student->ls(c) - dc); }

    /* d into d[], pt into e[], both with the shared shift removed (see the top of the file). */
    MTKD_DEVICE void shift_free(BlockSums& sums) const {
        float q = 0.f;
        columns(C, [&](int c) {
            const float dc = log_ratio(c), pt = teacher_prob(c, dc);
            d[c] = dc;
            e[c] = pt;
            q += abs_f(dc) < 0.5f ? ps[c] * expm1_series(-dc) : pt - ps[c];
        });
        const float qs = sums.sum(q);
        const float add = log1p_accurate(qs), scale = 1.f / (1.f + qs);
        columns(C, [&](int c) {
            d[c] += add;
            e[c] *= scale;
        });
    }
};

/* ------------------------------------------------------------------ reverse-kl */

MTKD_DEVICE float reverse_kl_value(const Pair& r, BlockSums& sums) {
    r.shift_free(sums);
    float s = 0.f;
    columns(r.C, [&](int c) { s += p_phi(r.ps[c], r.d[c], r.e[c]); });
    return sums.sum(s);
}

MTKD_DEVICE void reverse_kl_gradient(const Pair& r, BlockSums& sums, float coef, float* acc) {
    float s = 0.f;
    columns(r.C, [&](int c) {
        const float dc = r.log_ratio(c);
        r.d[c] = dc;
        s += r.ps[c] * dc;
    });
    const float mean = sums.sum(s);
    columns(r.C, [&](int c) { acc[c] = mtkd_fma(coef, r.ps[c] * (r.d[c] - mean), acc[c]); });
}

/* ------------------------------------------------------------------ jsd */

/* u = log pt - log M, v = log ps - log M from d (see the top of the file). */
MTKD_DEVICE void jsd_logs(const Pair& r, float dc, float& u, float& v) {
    const bool pos = dc > 0.f;
    const float l = log1p_accurate((pos ? r.beta : 1.f - r.beta) * expm1_accurate(-abs_f(dc)));
    u = pos ? -l - dc : -l;
    v = pos ? -l : dc - l;
}

MTKD_DEVICE bool jsd_trivial(const Pair& r) { return !(r.beta > 0.f && r.beta < 1.f); }

MTKD_DEVICE float jsd_value(const Pair& r, BlockSums& sums) {
    if (jsd_trivial(r)) return 0.f * (r.shift - r.shift);
    r.shift_free(sums);
    const float b = r.beta, nb = 1.f - r.beta;
    float s = 0.f;
    columns(r.C, [&](int c) {
        float u, v;
        jsd_logs(r, r.d[c], u, v);
        const float pt = r.e[c], ps = r.ps[c];
        const float mix = mtkd_fma(b, pt, nb * ps);
        s += mtkd_fma(b, p_phi(pt, u, mix), nb * p_phi(ps, v, mix));
    });
    return sums.sum(s);
}

MTKD_DEVICE void jsd_gradient(const Pair& r, BlockSums& sums, float coef, float* acc) {
    if (jsd_trivial(r)) return;
    r.shift_free(sums);
    float s = 0.f;
    columns(r.C, [&](int c) {
        float u, v;
        jsd_logs(r, r.d[c], u, v);
        r.d[c] = v;
        s += r.ps[c] * v;
    });
    const float mean = sums.sum(s), k = coef * (1.f - r.beta);
    columns(r.C, [&](int c) { acc[c] = mtkd_fma(k, r.ps[c] * (r.d[c] - mean), acc[c]); });
}

/* ------------------------------------------------------------------ dkd */

/* p phi(x) in double for the pair's few scalar terms (q = p e^-x given). */
MTKD_DEVICE double p_phi_d(double p, double x, double q) {
    if ((x < 0 ? -x : x) < 1e-2) return p * x * x * (0.5 + x * (-1.0 / 6.0 + x * (1.0 / 24.0 + x * (-1.0 / 120.0))));
    return p * x - p + q;
}

/* Below this non-target mass (student's or teacher's) a pair is computed from log-probabilities. */
#define MTKD_DKD_FLOAT_FLOOR 1e-20f

struct DkdPair {
    float tckd, lambda, dt, st, sn;
};

/* First sweep: d into d[], pt into e[]; the target pair's sums. */
MTKD_DEVICE DkdPair dkd_pair(const Pair& r, BlockSums& sums) {
    float a = 0.f, st = 0.f, sn = 0.f;
    columns(r.C, [&](int c) {
        const float dc = r.log_ratio(c), pt = r.teacher_prob(c, dc);
        r.d[c] = dc;
        r.e[c] = pt;
        if (c != r.y) {
            a += r.ps[c] * expm1_accurate(-dc);
            st += pt;
            sn += r.ps[c];
        }
    });
    DkdPair q;
    const double A = sums.sum(a);
    q.st = sums.sum(st);
    q.sn = sums.sum(sn);
    /* The barriers of the sums make d[y], e[y] visible to every thread. */
    const double dy = r.d[r.y], psy = r.ps[r.y], pty = r.e[r.y], St = q.st, Sn = q.sn;
    const double emy = expm1_accurate(static_cast<float>(-dy));
    const double ratio_n = A / Sn;
    const double lambda = (ratio_n < 0 ? -ratio_n : ratio_n) < 0.5 ? log1p_accurate(static_cast<float>(ratio_n))
                                                                   : mtkd_log(static_cast<float>(St / Sn));
    const double Ns = psy + Sn, ratio = (A + psy * emy) / Ns, Nt = pty + St;
    const double mu = (ratio < 0 ? -ratio : ratio) < 0.5 ? log1p_accurate(static_cast<float>(ratio))
                                                         : mtkd_log(static_cast<float>(Nt / Ns));
    q.tckd = static_cast<float>(p_phi_d(pty / Nt, -dy - mu, psy / Ns) + p_phi_d(St / Nt, lambda - mu, Sn / Ns));
    q.lambda = static_cast<float>(lambda);
    /* dt = psy/Ns - pty/Nt = -(psy/Ns) expm1(-dy - mu): mu removes the shift the measured d carries, which
     * expm1(-dy) alone kept as an error of shift/dy where teacher and student agree. */
    const double ry = -dy - mu;
    q.dt = static_cast<float>((ry < 0 ? -ry : ry) < 0.5 ? -(psy / Ns) * expm1_accurate(static_cast<float>(ry))
                                                        : psy / Ns - pty / Nt);
    return q;
}

MTKD_DEVICE bool dkd_in_float(const DkdPair& q) { return q.sn > MTKD_DKD_FLOAT_FLOOR && q.st > MTKD_DKD_FLOAT_FLOOR; }

/* p (lp - lq), p = e^lp, 0 where p underflows: the log-probabilities in double (see Student::ls_d). */
MTKD_DEVICE double x_log_ratio(double lp, double lq) {
    const float p = mtkd_exp(static_cast<float>(lp));
    return p == 0.f ? 0.0 : p * (lp - lq);
}

/* log sum_{c != y} e^{l_c} for log-probabilities l_c in double: the block's largest (rounded to float, only a
 * reference point) plus the log of a float sum of e^(l_c - hi), whose rounding moves the result by 1e-7. */
template <class L>
MTKD_DEVICE double log_non_target(const Pair& r, BlockSums& sums, L log_prob) {
    float top = -MTKD_INFINITY;
    columns(r.C, [&](int c) { if (c != r.y) top = mtkd_fmax(top, static_cast<float>(log_prob(c))); });
    const float hi = sums.max(top);
    if (!(hi > -MTKD_INFINITY && hi < MTKD_INFINITY)) return hi;
    float s = 0.f;
    columns(r.C, [&](int c) { if (c != r.y) s += mtkd_exp(static_cast<float>(log_prob(c) - hi)); });
    return hi + static_cast<double>(mtkd_log(sums.sum(s)));
}

/* The pair from log-probabilities in double (a pair whose non-target mass underflows in float: a student or
 * teacher certain of the target at large logits, where the float formulas would divide 0 by 0): the divergence,
 * and with acc coef times its gradient. lt_c = ls_c - d_c, both up to the pair's shift, which every difference of
 * two log-probabilities of one distribution cancels. */
MTKD_DEVICE float dkd_from_logs(const Pair& r, BlockSums& sums, float coef, float* acc) {
    const Student& s = *r.student;
    auto lt = [&](int c) { return s.ls_d(c) - r.log_ratio_d(c); };
    const double ls_not = log_non_target(r, sums, [&](int c) { return s.ls_d(c); });
    const double lt_not = log_non_target(r, sums, lt);
    const double ls_y = s.ls_d(r.y), lt_y = lt(r.y);
    const double tckd = x_log_ratio(lt_y, ls_y) + x_log_ratio(lt_not, ls_not);
    float part = 0.f;
    columns(r.C, [&](int c) {
        if (c != r.y) part += static_cast<float>(x_log_ratio(lt(c) - lt_not, s.ls_d(c) - ls_not));
    });
    const float nckd = sums.sum(part);
    if (acc != nullptr) {
        const float dt = mtkd_exp(static_cast<float>(ls_y)) - mtkd_exp(static_cast<float>(lt_y));
        columns(r.C, [&](int c) {
            float g = r.alpha * dt;
            if (c != r.y) {
                const float ps_hat = mtkd_exp(static_cast<float>(s.ls_d(c) - ls_not));
                const float pt_hat = mtkd_exp(static_cast<float>(lt(c) - lt_not));
                g = -r.alpha * dt * ps_hat + r.beta * (ps_hat - pt_hat);
            }
            acc[c] = mtkd_fma(coef, g, acc[c]);
        });
    }
    return static_cast<float>(r.alpha * tckd) + r.beta * nckd;
}

MTKD_DEVICE float dkd_value(const Pair& r, BlockSums& sums) {
    if (r.y < 0) return 0.f;
    const DkdPair q = dkd_pair(r, sums);
    if (!dkd_in_float(q)) return dkd_from_logs(r, sums, 0.f, nullptr);
    const float it = 1.f / q.st, is = 1.f / q.sn;
    float s = 0.f;
    columns(r.C, [&](int c) {
        if (c != r.y) s += p_phi(r.e[c] * it, -r.d[c] - q.lambda, r.ps[c] * is);
    });
    return r.alpha * q.tckd + r.beta * sums.sum(s);
}

MTKD_DEVICE void dkd_gradient(const Pair& r, BlockSums& sums, float coef, float* acc) {
    const DkdPair q = dkd_pair(r, sums);
    if (!dkd_in_float(q)) {
        dkd_from_logs(r, sums, coef, acc);
        return;
    }
    // With a single class off the target (C = 2) ps^ = pt^ = 1: the NCKD gradient is 0, where rr would be the
    // rounding of lambda against d, which beta carries into a row whose teachers' dt nearly cancel.
    const float it = 1.f / q.st, is = 1.f / q.sn, ka = -r.alpha * q.dt, kb = r.C > 2 ? r.beta : 0.f;
    columns(r.C, [&](int c) {
        float g = r.alpha * q.dt;
        if (c != r.y) {
            const float rr = -r.d[c] - q.lambda;
            const float pt_hat = r.e[c] * it, ps_hat = r.ps[c] * is;
            const float diff = abs_f(rr) < 0.5f ? -ps_hat * expm1_series(rr) : ps_hat - pt_hat;
            g = mtkd_fma(ka, ps_hat, kb * diff);
        }
        acc[c] = mtkd_fma(coef, g, acc[c]);
    });
}

/* ------------------------------------------------------------------ kl (rows where teacher and student agree) */

/* dKL/ds_c = ps_c - pt_c = -ps_c expm1(-d_c) with the shift removed, which keeps its relative precision where the two
 * nearly agree; the KL gradient kernel's ps - pt from two rounded probabilities does not (native/src/
 * distill_kl_gradient.inl has the analysis). Only rows that kl_needs_precision picks come here. */
MTKD_DEVICE void kl_gradient(const Pair& r, BlockSums& sums, float coef, float* acc) {
    r.shift_free(sums);
    columns(r.C, [&](int c) {
        const float dc = r.d[c];
        const float g = abs_f(dc) < 0.5f ? -r.ps[c] * expm1_series(-dc) : r.ps[c] - r.e[c];
        acc[c] = mtkd_fma(coef, g, acc[c]);
    });
}

/* Whether counted row b has a weighted pair whose KL / T^2 is below MTKD_PRECISE_KL_GRADIENT_SCALE L^2,
 * L = 1 + |lse_t| + |lse_st| (the native kernels' kPreciseKlGradientScale); NaN compares false. The same for every
 * thread of the block. */
#define MTKD_PRECISE_KL_GRADIENT_SCALE 1e-4f
MTKD_DEVICE bool kl_needs_precision(const float* wl, const float* stats, int B, index_t BK, int K, int b, float t) {
    const float lse_st = abs_f(stats[MTKD_TEACHER_STATS * BK + MTKD_STAT_LSE_ST * B + b]);
    for (int k = 0; k < K; ++k) {
        const index_t at = static_cast<index_t>(b) * K + k;
        const float L = 1.f + lse_st + abs_f(stats[MTKD_STAT_LSE_T * BK + at]);
        if (wl[at] != 0.f && stats[MTKD_STAT_KL * BK + at] < MTKD_PRECISE_KL_GRADIENT_SCALE * L * L * t * t) return true;
    }
    return false;
}

/* ------------------------------------------------------------------ the divergence of one row */

MTKD_DEVICE float divergence_value(int divergence, const Pair& r, BlockSums& sums) {
    switch (divergence) {
        case MTKD_DIVERGENCE_REVERSE_KL_ID: return reverse_kl_value(r, sums);
        case MTKD_DIVERGENCE_JSD_ID: return jsd_value(r, sums);
        case MTKD_DIVERGENCE_DKD_ID: return dkd_value(r, sums);
        default: return 0.f * MTKD_INFINITY; /* NaN: an id without a kernel piece never reads as a divergence */
    }
}

MTKD_DEVICE void divergence_gradient(int divergence, const Pair& r, BlockSums& sums, float coef, float* acc) {
    switch (divergence) {
        case MTKD_DIVERGENCE_REVERSE_KL_ID: reverse_kl_gradient(r, sums, coef, acc); break;
        case MTKD_DIVERGENCE_JSD_ID: jsd_gradient(r, sums, coef, acc); break;
        case MTKD_DIVERGENCE_DKD_ID: dkd_gradient(r, sums, coef, acc); break;
        case MTKD_DIVERGENCE_KL_ID: kl_gradient(r, sums, coef, acc); break;
        default: break;
    }
}

struct RowShape {
    int B, K, C, F;
    index_t BK;
};

/* Every teacher of row b: with stats, kl[b,k] = T^2 D_k; with acc (gradient pass, counted row), acc += a_kd T wl_k
 * dD_k/ds and the returned sum_k a_kd wl_k kl_k. */
MTKD_DEVICE float divergence_row(int divergence, const float* zs, const float* zt, const float* wl, float* stats,
                                 float* acc, const RowShape& p, int b, int y, float t, float inv_t, float a_kd,
                                 float alpha, float beta, float* smem, float* ps, float* d, float* e) {
    BlockSums sums = {smem, 0};
    const Student student = student_probabilities(zs + static_cast<index_t>(b) * p.C, ps, p.C, inv_t, sums);
    const float lse_st = stats[MTKD_TEACHER_STATS * p.BK + MTKD_STAT_LSE_ST * p.B + b];
    float loss = 0.f;
    for (int k = 0; k < p.K; ++k) {
        const index_t at = static_cast<index_t>(b) * p.K + k;
        const Pair r = {&student, zt + (static_cast<index_t>(k) * p.B + b) * p.C, ps, d, e, p.C, y,
                        lse_st - stats[MTKD_STAT_LSE_T * p.BK + at], alpha, beta};
        if (acc == nullptr) {
            const float v = divergence_value(divergence, r, sums);
            if (threadIdx.x == 0) stats[MTKD_STAT_KL * p.BK + at] = t * t * v;
        } else {
            loss += a_kd * wl[at] * stats[MTKD_STAT_KL * p.BK + at];
            divergence_gradient(divergence, r, sums, a_kd * t * wl[at], acc);
        }
        /* The next teacher overwrites d and e, which this one's target column let other threads read. */
        __syncthreads();
    }
    return loss;
}

/* ------------------------------------------------------------------ feature losses (one warp per slice) */

/* Sums over one slice, each product's rounding error summed apart; probe = sum (x - x). */
struct FeatureSums {
    double dot, aa, tt;
    float probe;
};

MTKD_DEVICE void add_product(float x, float u, float& hi, float& lo) {
    const float prod = x * u;
    lo += mtkd_fma(x, u, -prod);
    hi += prod;
}

MTKD_DEVICE FeatureSums feature_sums(const float* a, const float* t, int d) {
    float dot = 0.f, aa = 0.f, tt = 0.f, dot_lo = 0.f, aa_lo = 0.f, tt_lo = 0.f, probe = 0.f;
    for (int j = mtkd_lane(); j < d; j += MTKD_WARP_SIZE) {
        const float x = a[j], u = t[j];
        add_product(x, u, dot, dot_lo);
        add_product(x, x, aa, aa_lo);
        add_product(u, u, tt, tt_lo);
        probe += (x - x) + (u - u);
    }
    FeatureSums s;
    s.dot = static_cast<double>(mtkd_warp_sum(dot)) + mtkd_warp_sum(dot_lo);
    s.aa = static_cast<double>(mtkd_warp_sum(aa)) + mtkd_warp_sum(aa_lo);
    s.tt = static_cast<double>(mtkd_warp_sum(tt)) + mtkd_warp_sum(tt_lo);
    s.probe = mtkd_warp_sum(probe);
    return s;
}

MTKD_DEVICE double sqrt_d(double x) {
#if defined(MTKD_CUDA_EMULATE)
    return std::sqrt(x);
#else
    return __builtin_sqrt(x);
#endif
}

MTKD_DEVICE float cosine_value(const float* a, const float* t, int d, float eps) {
    const FeatureSums s = feature_sums(a, t, d);
    return static_cast<float>(1.0 - s.dot / (sqrt_d(s.aa) * sqrt_d(s.tt) + eps)) + s.probe;
}

/* out = scale d(1 - cos)/da; each coefficient split into float hi + lo, the product with hi exact (FMA). */
MTKD_DEVICE void cosine_gradient(const float* a, const float* t, int d, float eps, float scale, float* out) {
    const FeatureSums s = feature_sums(a, t, d);
    const double n = sqrt_d(s.aa), m = sqrt_d(s.tt), den = n * m + eps;
    const double radial = n > 0.0 ? s.dot * m / (n * den * den) : 0.0;
    const double kt = -scale / den, ka = scale * radial;
    const float th = static_cast<float>(kt), tl = static_cast<float>(kt - th);
    const float ah = static_cast<float>(ka), al = static_cast<float>(ka - ah);
    for (int j = mtkd_lane(); j < d; j += MTKD_WARP_SIZE) {
        const float x = a[j], u = t[j];
        const float prod = th * u, prod_err = mtkd_fma(th, u, -prod);
        const float hi = mtkd_fma(ah, x, prod), lo = mtkd_fma(tl, u, mtkd_fma(al, x, prod_err));
        out[j] = hi + lo;
    }
}

MTKD_DEVICE float smooth_l1_value(const float* a, const float* t, int d) {
    float s = 0.f, probe = 0.f;
    for (int j = mtkd_lane(); j < d; j += MTKD_WARP_SIZE) {
        const float x = a[j], u = t[j], e = x - u, ae = abs_f(e);
        s += ae < 1.f ? 0.5f * (e * e) : ae - 0.5f;
        probe += (x - x) + (u - u);
    }
    return mtkd_warp_sum(s) / static_cast<float>(d) + mtkd_warp_sum(probe);
}

MTKD_DEVICE void smooth_l1_gradient(const float* a, const float* t, int d, float scale, float* out) {
    const float k = scale / static_cast<float>(d);
    for (int j = mtkd_lane(); j < d; j += MTKD_WARP_SIZE) {
        const float e = a[j] - t[j];
        out[j] = k * (e < -1.f ? -1.f : e > 1.f ? 1.f : e);
    }
}

/* Every teacher slice of row b, warp w taking teachers w, w + W, ...: with stats, mse[b,k] = the feature loss; with
 * grads, dfs = (1/B') beta wf_k d loss_k/dfs and the warp's sum_k beta wf_k mse_k returned (lane values equal). */
MTKD_DEVICE float feature_row(int feature, const float* fs, const float* ft, const int* offsets, const float* wf,
                              float* stats, float* dfs, const RowShape& p, int b, float beta, float cos_eps,
                              float inv_counted_rows) {
    float loss = 0.f;
    for (int k = mtkd_warp(); k < p.K; k += mtkd_warps()) {
        const index_t at = static_cast<index_t>(b) * p.K + k;
        const int off = offsets[k], d = offsets[k + 1] - off;
        const index_t f0 = static_cast<index_t>(b) * p.F + off;
        const float *a = fs + f0, *t = ft + f0;
        if (dfs == nullptr) {
            const float v = feature == MTKD_FEATURE_COSINE_ID ? cosine_value(a, t, d, cos_eps) : smooth_l1_value(a, t, d);
            if (mtkd_lane() == 0) stats[MTKD_STAT_MSE * p.BK + at] = v;
        } else {
            loss += beta * wf[at] * stats[MTKD_STAT_MSE * p.BK + at];
            const float scale = inv_counted_rows * beta * wf[at];
            if (feature == MTKD_FEATURE_COSINE_ID) cosine_gradient(a, t, d, cos_eps, scale, dfs + f0);
            else smooth_l1_gradient(a, t, d, scale, dfs + f0);
        }
    }
    return loss;
}

MTKD_DEVICE bool catalog_launch_fits(int C) {
    const unsigned need = 4u * static_cast<unsigned>(MTKD_DISTILL_SCRATCH_FLOATS + padded_row(C) * MTKD_CATALOG_ROWS);
    return blockDim.x % MTKD_WARP_SIZE == 0 && mtkd_warps() >= 1 && mtkd_warps() <= MTKD_DISTILL_MAX_WARPS &&
           blockDim.y == 1 && blockDim.z == 1 && mtkd_dynamic_smem_bytes() >= need;
}

/* One block's row and its shared rows: ps, d, e (pt) and the gradient accumulator, Cp floats each. */
struct CatalogBlock {
    RowShape p;
    int b, y;
    float *ps, *d, *e, *acc;
};

MTKD_DEVICE CatalogBlock catalog_block(float* smem, int B, int K, int C, int F, const int* labels) {
    CatalogBlock blk;
    blk.p = {B, K, C, F, static_cast<index_t>(B) * K};
    blk.b = static_cast<int>(blockIdx.x);
    blk.y = labels[blk.b];
    const int cp = padded_row(C);
    blk.ps = smem + MTKD_DISTILL_SCRATCH_FLOATS;
    blk.d = blk.ps + cp;
    blk.e = blk.d + cp;
    blk.acc = blk.e + cp;
    return blk;
}

}  // namespace

/* ====================================================================== pass 1: statistics */

extern "C" __global__ void MTKD_KERNEL_BOUNDS(MTKD_DISTILL_MAX_THREADS)
    mtkd_catalog_stats(const float* __restrict__ zs, const float* __restrict__ zt, const float* __restrict__ fs,
                       const float* __restrict__ ft, const int* __restrict__ labels,
                       const int* __restrict__ feature_offsets, float* __restrict__ stats, int B, int K, int C, int F,
                       int divergence, int feature, float t, float inv_t, float div_alpha, float div_beta,
                       float cos_eps) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(catalog_launch_fits(C));
    const CatalogBlock k = catalog_block(smem, B, K, C, F, labels);
    if (divergence != MTKD_DIVERGENCE_KL_ID)
        divergence_row(divergence, zs, zt, nullptr, stats, nullptr, k.p, k.b, k.y, t, inv_t, 0.f, div_alpha, div_beta,
                       smem, k.ps, k.d, k.e);
    if (feature != MTKD_FEATURE_MSE_ID)
        feature_row(feature, fs, ft, feature_offsets, nullptr, stats, nullptr, k.p, k.b, 0.f, cos_eps, 0.f);
}
MTKD_EMU_KERNEL(mtkd_catalog_stats)

/* ====================================================================== pass 2: gradients */

extern "C" __global__ void MTKD_KERNEL_BOUNDS(MTKD_DISTILL_MAX_THREADS)
    mtkd_catalog_gradient(const float* __restrict__ zs, const float* __restrict__ zt, const float* __restrict__ fs,
                          const float* __restrict__ ft, const int* __restrict__ labels,
                          const int* __restrict__ feature_offsets, const float* __restrict__ weights,
                          const float* __restrict__ stats, float* __restrict__ dzs, float* __restrict__ dfs,
                          float* __restrict__ row_loss, int B, int K, int C, int F, int divergence, int feature, float t,
                          float inv_t, float a_ce, float a_kd, float beta, float div_alpha, float div_beta, float cos_eps,
                          float inv_counted_rows) {
    MTKD_DYNAMIC_SHARED(float, smem);
    MTKD_KERNEL_REQUIRE(catalog_launch_fits(C));
    const CatalogBlock k = catalog_block(smem, B, K, C, F, labels);
    if (k.y < 0) return; /* the KL gradient kernel wrote the ignored row's zeros */
    float loss = 0.f;
    if (divergence != MTKD_DIVERGENCE_KL_ID) {
        columns(C, [&](int c) { k.acc[c] = 0.f; });
        loss = divergence_row(divergence, zs, zt, weights, const_cast<float*>(stats), k.acc, k.p, k.b, k.y, t, inv_t,
                              a_kd, div_alpha, div_beta, smem, k.ps, k.d, k.e);
        float* dzs_row = dzs + static_cast<index_t>(k.b) * C;
        columns(C, [&](int c) { dzs_row[c] = mtkd_fma(inv_counted_rows, k.acc[c], dzs_row[c]); });
    } else if (kl_needs_precision(weights, stats, B, k.p.BK, K, k.b, t)) {
        /* kl: the KL gradient kernel wrote the row and its loss; a row where teacher and student nearly agree is
         * written again, cross-entropy part and all, with the KD part from kl_gradient. */
        columns(C, [&](int c) { k.acc[c] = 0.f; });
        divergence_row(divergence, zs, zt, weights, const_cast<float*>(stats), k.acc, k.p, k.b, k.y, t, inv_t, a_kd,
                       div_alpha, div_beta, smem, k.ps, k.d, k.e);
        const float lse_s1 = stats[MTKD_TEACHER_STATS * k.p.BK + MTKD_STAT_LSE_S1 * B + k.b];
        const float* s = zs + static_cast<index_t>(k.b) * C;
        float* dzs_row = dzs + static_cast<index_t>(k.b) * C;
        columns(C, [&](int c) {
            const float ce = a_ce * (mtkd_exp(s[c] - lse_s1) - (c == k.y ? 1.f : 0.f));
            dzs_row[c] = inv_counted_rows * (ce + k.acc[c]);
        });
    }
    if (feature != MTKD_FEATURE_MSE_ID) {
        const float part = feature_row(feature, fs, ft, feature_offsets, weights + k.p.BK, const_cast<float*>(stats),
                                       dfs, k.p, k.b, beta, cos_eps, inv_counted_rows);
        float* area = smem + 2 * MTKD_DISTILL_MAX_WARPS;
        if (mtkd_lane() == 0) area[mtkd_warp()] = part;
        __syncthreads();
        for (int w = 0; w < mtkd_warps(); ++w) loss += area[w];
    }
    if (threadIdx.x == 0) row_loss[k.b] += inv_counted_rows * loss;
}
MTKD_EMU_KERNEL(mtkd_catalog_gradient)
