// The fused multi-teacher distillation op (docs/DESIGN.md §2), written once over vector traits V and compiled
// once per SIMD level (kernels_scalar.cpp, kernels_avx2.cpp, kernels_avx512.cpp).
//
// Notation for one row b: student logits s[c], teacher k's logits z[c], temperature T, label y.
//
// Log-sum-exp after a max shift. With m = max_c z and w_c = z_c - m <= 0:
//   S0 = sum_c e^{w_c},  lse_1 = m + log S0;   u_c = w_c / T,  St = sum_c e^{u_c},  lse_T = m/T + log St.
// Every e^{...} has an argument <= 0, so nothing overflows, and the largest term is exactly 1.
//
// Teacher statistics at T = 1, with p_c = e^{w_c} / S0:
//   conf = max_c p_c = 1 / S0
//   H    = -sum_c p_c log p_c = -sum_c p_c (w_c - log S0) = log S0 - (sum_c e^{w_c} w_c) / S0.
//   The second form has no cancellation for near one-hot rows: both terms are small and positive.
//   CE_t = lse_1 - z_y = (m - z_y) + log S0, summed in that order: m - z_y is exact when y is the argmax.
//   For a confident teacher S0 = 1 + R with R tiny, and R is lost to rounding once the max's exact 1 is in
//   the sum; so R (the sum over w < 0) is also kept apart, and log S0 = log1p(R) when the max is unique.
//   CE_t and H then keep their relative precision however small they get.
//   hit = 1 when y is the first index where z reaches m. CE_s likewise (with the student's S1).
//
// KL at temperature T. With the student's shift m_s, v_c = (s_c - m_s)/T and Ss = sum_c e^{v_c}:
//   log pt_c = u_c - log St,  log ps_c = v_c - log Ss, so
//   KL / T^2 = sum_c pt_c (log pt_c - log ps_c) = (sum_c e^{u_c} (u_c - v_c)) / St + log(Ss / St).
//   The student's v row is computed once per row and reused by every teacher. log(Ss/St) is one log of a
//   ratio in [1/C, C], not the difference of two logs of size log C, which would add an ulp of log C.
//   Float32 still leaves an absolute error of a few 1e-7 (in units of T^2), too much for a small KL: a pair
//   whose KL / T^2 comes out below 0.1 is summed again as sum_c pt_c phi(r_c), phi(r) = r - 1 + e^{-r} >= 0
//   (distill_kl.inl), from its teacher row, the student row and both rows of exponentials, still in L1 or L2.
//   For T in {1, 2, 3, 4}, e^{w} = (e^{u})^T: two multiplies replace the second exp per element.
//
// Features of teacher k (width D): cos = <a,t> / (|a| |t| + eps), mse = sum_d (a_d - t_d)^2 / D.
//
// Non-finite inputs. x - x is 0 for every finite x and NaN for NaN and +-Inf, so the sum of x - x over a
// row (the "probe") is 0 or NaN at the cost of one subtract and one add per vector; adding it to lse_s1 and
// lse_st makes them NaN exactly when the student row holds a non-finite value, -Inf included (which a plain
// max/exp-sum would accept as a masked class). A teacher row needs no probe of its own: its Hs = sum e^{w} w
// is NaN exactly when the row holds a NaN or an infinity (a term is NaN, or 0 * inf for -Inf, or every w is
// NaN after an m of +Inf), so Hs - Hs is the probe added to lse_t. For features, sum a^2 and sum t^2 are non-finite
// whenever a or t holds one, so cos and mse are set to NaN from those sums at no extra cost.
//
// Gradient (only for counted rows, y >= 0; ignored rows get zeros), with 1/B' = inv_counted_rows:
//   dL/ds_c = (1/B') [ a_ce (softmax(s)_c - [c = y]) + a_kd T sum_k wl_k (ps^T_c - pt^T_{k,c}) ]
//           = (1/B') [ a_ce e^{s_c - lse_s1} + a_kd T (sum_k wl_k) e^{s_c/T - lse_sT}
//                      - a_kd T sum_k wl_k e^{z_kc/T - lse_t,k} ] - (1/B') a_ce [c = y]
//   dL/da_kd = (1/B') beta wf_k (2/D_k) (a_kd - t_kd)
//   row_loss = (1/B') [ a_ce CE_s + sum_k (a_kd wl_k KL_k + beta wf_k mse_k) ].
// The gradient pass needs one exp per teacher element, using lse_t from the stats pass. The fused pass
// keeps e^{u_c} of the teacher row in flight (scratch, L1) and reuses it as St * pt^T, so it needs no
// exp beyond those of the stats.
//
// Memory order. zt is [K,B,C]: for a block of rows the kernels visit teacher-major (for k: for b in block),
// so each teacher's rows of the block are one contiguous run that the hardware prefetcher streams. The
// student's v rows and the dzs rows of the block stay in L1/L2 while every teacher passes over them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "distill_features.inl"
#include "distill_groups.inl"
#include "distill_kl_gradient.inl"
#include "distill_layout.inl"
#include "distill_rows.inl"
#include "distill_tiles.inl"
#include "kernels.h"
#include "vector_loops.inl"

namespace mtkd {
// Internal linkage: every SIMD level's translation unit must keep its own copy of each function here.
// A shared (inline) definition could be merged by the linker with one compiled for a wider
// instruction set and then run on a CPU that lacks it.
namespace {
namespace distill {

// Student part of the stats: lse_s1, lse_st, ce_s for row b, and its v row in the block scratch.
// With dz (fused pass, counted row) it also initialises dzs row b with the student's share of the gradient.
template <class V, int TK>
inline void student_stats(const DistillProblem& p, const Block& blk, int r, float* dz) {
    const int b = blk.b0 + r, C = p.C;
    const float* s = student_row(p, b);
    RowScan<V> scan = scan_row<V, true>(s, C);
    const float probe = scan.probe_sum();
    float* ev = blk.ev_rows + blk.Cp * r;
    StudentSums sums = student_sums<V, TK>(s, C, scan.max, p.inv_T, blk.v_rows + blk.Cp * r, ev, dz);
    float log_S1 = log_sum(sums.S1, sums.R1), log_ST = std::log(sums.ST);
    blk.student_sum_T[r] = sums.ST;
    blk.student_max[r] = scan.max;
    p.stats.lse_s1[b] = scan.max + log_S1 + probe;
    p.stats.lse_st[b] = scan.max * p.inv_T + log_ST + probe;
    int y = p.y[b];
    p.stats.ce_s[b] = y >= 0 ? (scan.max - s[y]) + log_S1 + probe : 0.0f;
    if (dz != nullptr) {
        // dz holds e^{s-m} and ev e^{(s-m)/T}: scale them into probabilities and combine.
        using F = typename V::F;
        const F ce = V::set1(p.a_ce * p.inv_counted_rows / sums.S1);
        const F kd = V::set1(student_kd_coefficient(p, b) / sums.ST);
        for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F g = V::fma(ce, load<is_tail, V>(dz + c, t), V::mul(kd, load<is_tail, V>(ev + c, t)));
            store<is_tail, V>(dz + c, g, t);
        });
        dz[y] -= p.a_ce * p.inv_counted_rows;
    }
}

// Rows of at least this many classes (1 KiB) prefetch the next teacher row while they sweep their own. Shorter rows
// go without: consecutive rows of a teacher are adjacent, which the hardware prefetcher follows by itself, and the
// extra hint per vector measured slower at C = 100.
constexpr int kPrefetchRowsFrom = 256;

// The teacher row read after (k, r) in for_each_pair's order: the same teacher's next row of the block, else the
// next teacher's first row of the block, else teacher 0's row after the block (null past the last row, and for
// rows shorter than kPrefetchRowsFrom). Rows of about a page or more are where the hardware prefetcher, which
// stops at page boundaries, needs the hint.
inline const float* next_teacher_row(const DistillProblem& p, int b0, int rows, int k, int r) {
    if (p.C < kPrefetchRowsFrom) return nullptr;
    const int b = b0 + r;
    if (r + 1 < rows) return teacher_row(p, k, b + 1);
    if (k + 1 < p.K) return teacher_row(p, k + 1, b0);
    return b + 1 < p.B ? teacher_row(p, 0, b + 1) : nullptr;
}

// What teacher (k, r)'s sweep asks for ahead: the next teacher row (next_teacher_row) and, where the KL kernel sweeps
// the features, the feature slice of the pair for_each_pair visits after the one that follows this row's sweep (stats
// and fused passes). That slice's own sweep (feature_row) is a few hundred cycles between two long logit sweeps, too
// short to cover the memory's latency with the lines it asks for 2 KiB ahead alone; spread over the logit sweep before
// it, its lines arrive in time. Zen 4, 2 threads, 1024,8,1000,512, alternated rounds: stats -7 %, fused -3 % (one
// thread -6 %); the gradient pass, whose sweeps also write dzs, measured 4-10 % slower with it (docs/PERF.md, "Zen 4:
// the feature slices asked for along the teacher rows").
inline RowsAhead rows_ahead(const DistillProblem& p, int b0, int rows, int k, int r) {
    RowsAhead ahead;
    ahead.row = next_teacher_row(p, b0, rows, k, r);
    if (ahead.row == nullptr || !kl_kernel_features(p)) return ahead;  // rows of at least kPrefetchRowsFrom classes
    // for_each_pair visits feature pair q after logit pair q = k rows + r: pair q + 1 comes after the next sweep.
    const int q = k * rows + r + 1;
    if (q >= p.K * rows) return ahead;
    const int fr = q / p.K, fk = q % p.K;
    const std::size_t off = static_cast<std::size_t>(b0 + fr) * p.F + p.off[fk];
    ahead.fs = p.fs + off;
    ahead.ft = p.ft + off;
    ahead.floats = p.D[fk];
    return ahead;
}

// Teacher k's sweeps for block row r (statistics follow in finish_teachers); with dz (fused pass, counted
// row) also its share of dzs. With Reverse (the stats pass of reverse-kl) also the sum reverse KL needs.
template <class V, int TK, bool Reverse, Hint H>
inline void teacher_stats(const DistillProblem& p, const Block& blk, int k, int r, float* dz, TeacherGroup<V>& g) {
    const int b = blk.b0 + r, C = p.C;
    const float* z = teacher_row(p, k, b);
    RowScan<V> scan = scan_row<V, false>(z, C);
    using G = TeacherGroup<V>;
    const int j = g.n++;
    float* eu = blk.pair_rows + blk.Cp * j;
    TeacherSums<V> sums = teacher_sums<V, TK, Reverse, H>(z, blk.v_rows + blk.Cp * r, C, scan.max, p.inv_T, eu,
                                                       rows_ahead(p, blk.b0, blk.rows, k, r),
                                                       blk.ev_rows + blk.Cp * r);
    g.sums[G::kS0][j] = sums.S0;
    g.sums[G::kR0][j] = sums.R0;
    g.sums[G::kHs][j] = sums.Hs;
    g.sums[G::kSt][j] = sums.St;
    g.sums[G::kA][j] = sums.A;
    if constexpr (Reverse) g.sums[G::kAr][j] = sums.Ar;
    g.m[j] = scan.max;
    g.Ss[j] = blk.student_sum_T[r];
    g.b[j] = b;
    g.k[j] = k;
    g.r[j] = r;
    if (dz != nullptr) {
        using F = typename V::F;
        // pt^T_c = e^{u_c} / St; a non-finite row leaves NaN here rather than a silently wrong gradient.
        const std::size_t i = stat_index(p, b, k);
        const float hs = V::sum(sums.Hs);
        float coef = p.a_kd * p.T * p.inv_counted_rows * p.wl[i] / V::sum(sums.St) + (hs - hs);
        const F vc = V::set1(coef);
        for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F gz = V::fnma(vc, load<is_tail, V>(eu + c, t), load<is_tail, V>(dz + c, t));
            store<is_tail, V>(dz + c, gz, t);
        });
    }
    if (g.n == V::W) finish_teachers<V, Reverse>(p, blk, g);
}

// Visits the block's (teacher, row) pairs twice over, interleaved: logit(k, r) teacher-major, so each
// teacher's rows of the block are one contiguous run of zt; feature(r, k) row-major, so the block's features
// are one contiguous run of fs, ft (and dfs) instead of K runs strided by F. The hardware prefetcher streams
// both runs within each page; feature_row asks for fs and ft 2 KiB ahead, past the page ends where it stops.
// With no features at all (F = 0) only logit(k, r) runs: see zero_feature_stats. Where the catalog sweeps the
// features after this kernel (features_by_catalog), the stats and fused passes (LinesAhead) ask for the block's lines
// of fs and ft along the logit sweeps instead, so that sweep finds them in the caches rather than waiting on memory
// the logits left idle. The gradient pass does not: its logit sweeps, which write dzs, leave the memory less idle,
// and the hints slowed it (Emerald Rapids, 2 threads, kl + cosine: 1024,8,1000,512 by 11 %, 256,16,100,256 by 13 %).
template <bool LinesAhead, Hint H = Hint::IntoL1, class Logit, class Feature>
inline void for_each_pair(const DistillProblem& p, int b0, int rows, Logit&& logit, Feature&& feature) {
    int fr = 0, fk = 0;
    const bool features = kl_kernel_features(p);
    const bool ahead_for_catalog = LinesAhead && p.features_by_catalog && p.F > 0;
    FeatureLinesAhead ahead(p, b0, ahead_for_catalog ? b0 + rows : b0, p.K * rows);
    for (int k = 0; k < p.K; ++k) {
        for (int r = 0; r < rows; ++r) {
            logit(k, r);
            if (ahead_for_catalog) ahead.step<H>();
            if (!features) continue;
            feature(fr, fk);
            if (++fk == p.K) {
                fk = 0;
                ++fr;
            }
        }
    }
}

template <class V, int TK, bool Reverse, Hint H>
void stats_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    zero_feature_stats(p, b0, b1);
    const Block blk = make_block(p, b0, b1, scratch);
    for (int r = 0; r < blk.rows; ++r) student_stats<V, TK>(p, blk, r, nullptr);
    TeacherGroup<V> teachers;
    FeatureGroup<V> features;
    for_each_pair<true, H>(
        p, b0, blk.rows, [&](int k, int r) { teacher_stats<V, TK, Reverse, H>(p, blk, k, r, nullptr, teachers); },
        [&](int r, int k) { feature_row<V, true, false>(p, b0 + r, k, 0.0f, &features, nullptr); });
    finish_teachers<V, Reverse>(p, blk, teachers);
    finish_features(p, features);
}

template <class V, int TK, Hint H>
void fused_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    zero_feature_stats(p, b0, b1);
    const Block blk = make_block(p, b0, b1, scratch);
    auto counted = [&](int r) { return p.y[b0 + r] >= 0; };
    for (int r = 0; r < blk.rows; ++r) {
        float* dz = gradient_row(p, b0 + r);
        if (!counted(r)) zero_row(dz, static_cast<std::size_t>(p.C));
        student_stats<V, TK>(p, blk, r, counted(r) ? dz : nullptr);
    }
    TeacherGroup<V> teachers;
    FeatureGroup<V> features;
    const bool stream = stream_feature_grads(p);
    WholeLines<V> lines(p.grads.dfs);
    const bool staged = stream && stages_slices(p, lines, true);
    for_each_pair<true, H>(
        p, b0, blk.rows,
        [&](int k, int r) {
            teacher_stats<V, TK, false, H>(p, blk, k, r, counted(r) ? gradient_row(p, b0 + r) : nullptr, teachers);
        },
        [&](int r, int k) {
            const int b = b0 + r;
            const float scale = counted(r) ? feature_grad_scale(p, b, k) : 0.0f;
            if (staged) feature_row<V, true, true, true, Hint::IntoL2>(p, b, k, scale, &features, &lines);
            else feature_row<V, true, true, false, Hint::IntoL2>(p, b, k, scale, &features, stream ? &lines : nullptr);
        });
    if (stream) {
        lines.finish();
        V::stream_fence();
    }
    finish_teachers(p, blk, teachers);
    finish_features(p, features);
    for (int b = b0; b < b1; ++b) {
        if (p.y[b] >= 0) write_row_loss(p, b);
        else p.grads.row_loss[b] = 0.0f;
    }
}

// Which rows take the gradient pass by lane groups (gradient_tiles_block) rather than row by row: rows of up to 32
// classes, and rows of up to kTileMaxClasses with many teachers where the CPU has more than one shuffle pipe
// (wide_gradient_lane_groups). Measured on Zen 5, 2 threads (docs/PERF.md): the lane groups take 65536,4,11,0 from
// 2.06 to 1.37 ms and 256,64,100,128 from 0.51 to 0.43, but 256,4,100,256 from 0.042 to 0.047-0.052, where the
// transposes of 100-class rows cost more than the per-pair steps they save. On Emerald Rapids, whose shuffles share one
// port with the second FMA unit, rows beat the lane groups at 256,64,100,128 too: 0.46 against 0.38 ms (AVX2 0.57
// against 0.45), 512,32,64,64 0.26 against 0.20.
constexpr int kGradientTileMaxClasses = 32;
constexpr int kGradientTileManyTeachers = 32;
inline bool gradient_by_lane_groups(const DistillProblem& p) {
    return p.C <= kGradientTileMaxClasses ||
           (p.wide_gradient_lane_groups && p.C <= kTileMaxClasses && p.K >= kGradientTileManyTeachers);
}

// The student's share of dzs row b in the gradient pass, a_ce softmax(s) + kd softmax(s/T) (kd = a_kd T sum_k wl_k
// / B'), from the stats pass's lse_s1 and lse_st. For T in {1, 2, 3, 4} one exponential per logit:
//   q = e^{(s - lse_s1)/T},  softmax(s) = q^T,  softmax(s/T) = e^{s/T - lse_st} = q e^{lse_s1/T - lse_st},
// where the last factor is one number per row (in [1/C, C^(1/T)], formed in double). Other T take two, and so do
// rows shorter than kOneExpStudentFrom, where the factor's scalar exp costs more than the vector exps it saves
// (at C = 11, one vector per row, the dense shape's gradient pass measured 12 % slower with it). Rows that go by lane
// groups take the factor as one vector exponential per group instead (student_gradient_tile).
constexpr int kOneExpStudentFrom = 64;

template <class V, int TK>
inline void student_gradient(const DistillProblem& p, int b, float kd, float* dz) {
    using F = typename V::F;
    const float* s = student_row(p, b);
    const float lse1 = p.stats.lse_s1[b], lseT = p.stats.lse_st[b];
    const F neg_lse1 = V::set1(-lse1), ce = V::set1(p.a_ce * p.inv_counted_rows);
    if constexpr (TK == 0) {
        const F it = V::set1(p.inv_T), neg_lseT = V::set1(-lseT), vkd = V::set1(kd);
        for_each_vector<V>(p.C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F x = load<is_tail, V>(s + c, t);
            F p1 = vexp_kernel<V>(V::add(x, neg_lse1));
            F pT = vexp_kernel<V>(V::fma(x, it, neg_lseT));
            store<is_tail, V>(dz + c, V::fma(ce, p1, V::mul(vkd, pT)), t);
        });
    } else {
        const double shift = static_cast<double>(lse1) / TK - static_cast<double>(lseT);
        const F kdq = V::set1(static_cast<float>(kd * std::exp(shift)));
        for_each_vector<V>(p.C, [&](int c, typename V::M t, auto tail) {
            constexpr bool is_tail = decltype(tail)::value;
            F q = vexp_kernel<V, TK>(V::add(load<is_tail, V>(s + c, t), neg_lse1));
            store<is_tail, V>(dz + c, V::fma(ce, vpow_int<V, TK>(q), V::mul(kdq, q)), t);
        });
    }
}

// Whether the gradient pass writes dzs with non-temporal stores: a large dzs (like dfs, see stream_feature_grads) in
// rows long enough that the masked head and tail of each row cost little.
inline bool stream_logit_grads(const DistillProblem& p) {
    return p.pass_past_cache && p.C >= kPrefetchRowsFrom &&
           static_cast<std::size_t>(p.B) * p.C * sizeof(float) >= kStreamFeatureGradBytes;
}

// Gradient pass: inputs, weights and the stats pass's lse/kl/mse/ce_s in, dzs/dfs/row_loss out.
// When dzs is streamed, each counted row is summed in the block's scratch (rows of Cp floats, in L1 or L2) and the
// last teacher's sweep writes it out with non-temporal stores: no line of dzs is read for ownership, a saving of
// B C floats of traffic.
// Rows marked in skip (PreciseRows' marks, or null) get only their row_loss and feature gradients here:
// their dzs is written afterwards in the precise form (distill_kl_gradient.inl).
template <class V>
void gradient_rows_block(const DistillProblem& p, int b0, int b1, float* scratch, const unsigned char* skip) {
    using F = typename V::F;
    const int C = p.C;
    const F it = V::set1(p.inv_T);
    const bool stream = stream_feature_grads(p), stream_dz = stream_logit_grads(p);
    WholeLines<V> lines(p.grads.dfs);
    const bool staged = stream && stages_slices(p, lines, false);
    const std::size_t Cp = padded_classes(C);
    const int student_kind = C >= kOneExpStudentFrom ? temperature_kind(p.T) : 0;
    // Where row b's gradient is summed.
    auto sum_row = [&](int b) { return stream_dz ? scratch + Cp * static_cast<std::size_t>(b - b0) : gradient_row(p, b); };
    for (int b = b0; b < b1; ++b) {
        float* dz = sum_row(b);
        const int y = p.y[b];
        if (y < 0) {
            zero_row(gradient_row(p, b), static_cast<std::size_t>(C));
            p.grads.row_loss[b] = 0.0f;
            continue;
        }
        write_row_loss(p, b);
        if (skip != nullptr && skip[b - b0] != 0) continue;
        const float kd = student_kd_coefficient(p, b);
        with_temperature_kind(student_kind, [&](auto tk) { student_gradient<V, decltype(tk)::value>(p, b, kd, dz); });
        dz[y] -= p.a_ce * p.inv_counted_rows;
    }
    for_each_pair<false>(
        p, b0, b1 - b0,
        [&](int k, int r) {
            const int b = b0 + r;
            if (p.y[b] < 0 || (skip != nullptr && skip[r] != 0)) return;
            const std::size_t i = stat_index(p, b, k);
            const float* z = teacher_row(p, k, b);
            float* dz = sum_row(b);
            const F neg_lse = V::set1(-p.stats.lse_t[i]);
            const F vc = V::set1(p.a_kd * p.T * p.inv_counted_rows * p.wl[i]);
            const float* next = next_teacher_row(p, b0, b1 - b0, k, r);
            if (stream_dz && k + 1 == p.K) {
                float* out = gradient_row(p, b);
                for_each_aligned_vector<V>(out, C, [&](int c, typename V::M t, auto masked) {
                    constexpr bool is_masked = decltype(masked)::value;
                    F pt = vexp_kernel<V>(V::fma(load<is_masked, V>(z + c, t), it, neg_lse));
                    F g = V::fnma(vc, pt, load<is_masked, V>(dz + c, t));
                    if constexpr (is_masked) V::store(out + c, g, t);
                    else V::stream(out + c, g);
                    prefetch_along<V::W, Hint::IntoL2>(next, c & ~(V::W - 1));  // c - head: whole vectors from the row's start
                });
                return;
            }
            // Two copies of the sweep, so short rows (no next row to fetch) pay nothing per vector for the hint. The next
            // row is asked for into L2 (prefetch.h), whether or not the pass is past the cache: 1024,8,1000,512 15 %
            // faster so, 256,16,100,256 and 128,4,1000,256, which stay in the L3, 1-4 %.
            auto sweep = [&](auto with_prefetch) {
                for_each_vector<V>(C, [&](int c, typename V::M t, auto tail) {
                    constexpr bool is_tail = decltype(tail)::value;
                    F pt = vexp_kernel<V>(V::fma(load<is_tail, V>(z + c, t), it, neg_lse));
                    store<is_tail, V>(dz + c, V::fnma(vc, pt, load<is_tail, V>(dz + c, t)), t);
                    if constexpr (decltype(with_prefetch)::value) prefetch_along<V::W, Hint::IntoL2>(next, c);
                });
            };
            if (next != nullptr) sweep(std::true_type{});
            else sweep(std::false_type{});
        },
        [&](int r, int k) {
            if (staged) feature_gradient<V, true, Hint::IntoL2>(p, b0 + r, k, &lines);
            else feature_gradient<V, false, Hint::IntoL2>(p, b0 + r, k, stream ? &lines : nullptr);
        });
    if (stream) lines.finish();
    if (stream || stream_dz) V::stream_fence();
}

// The gradient pass of rows [b0, b1); rows where teacher and student nearly agree are then written again in the
// form that keeps kl's gradient precise there (distill_kl_gradient.inl).
template <class V>
void gradient_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    // The rows that take the precise form are known from the stats before the sweeps: the fast kernels leave out
    // their logit work (near agreement, most rows of a batch).
    PreciseRows precise{b0, b1};
    const int marked = mark_precise_kl_gradient_rows<V>(p, b0, b1, precise);
    if (gradient_by_lane_groups(p)) gradient_tiles_block<V>(p, b0, b1, scratch, precise.marks);
    else gradient_rows_block<V>(p, b0, b1, scratch, precise.marks);
    if (marked > 0) write_precise_kl_gradient_rows<V>(p, precise, scratch);
}

// Calls body(std::integral_constant<Hint, H>{}) with H the level where the row kernels' teacher sweeps ask for the next
// row and feature slice (prefetch.h): into L2 where into_l2, else into L1. Into L2 in a pass past the cache, whose lines
// come from memory; into L1 where they sit in the L3 (Zen 4, 128,4,1000,256: the stats pass 4 % slower with L2 hints,
// the fused pass 2 %), and in AVX2's stats pass, whose sweep has the more arithmetic to hide the L2's latency behind
// (1024,8,1000,512: 3-6 % slower with L2 hints, while its fused and gradient passes gained 4 % and 10 %).
template <class Body>
inline void with_hint_level(bool into_l2, Body&& body) {
    if (into_l2) body(std::integral_constant<Hint, Hint::IntoL2>{});
    else body(std::integral_constant<Hint, Hint::IntoL1>{});
}

template <class V, int TK>
void stats_kind(const DistillProblem& p, int b0, int b1, float* scratch) {
    const bool reverse = reverse_kl_in_stats_sweep(p), after = features_after_tiles(p);
    const bool into_l2 = p.pass_past_cache && V::W >= 16;
    if (p.C <= kTileMaxClasses && reverse && after) tiles_block<V, TK, false, true, true>(p, b0, b1, scratch);
    else if (p.C <= kTileMaxClasses && reverse) tiles_block<V, TK, false, true>(p, b0, b1, scratch);
    else if (p.C <= kTileMaxClasses && after) tiles_block<V, TK, false, false, true>(p, b0, b1, scratch);
    else if (p.C <= kTileMaxClasses) tiles_block<V, TK, false>(p, b0, b1, scratch);
    else if (reverse) with_hint_level(into_l2, [&](auto h) { stats_block<V, TK, true, decltype(h)::value>(p, b0, b1, scratch); });
    else with_hint_level(into_l2, [&](auto h) { stats_block<V, TK, false, decltype(h)::value>(p, b0, b1, scratch); });
}

template <class V, int TK>
void fused_kind(const DistillProblem& p, int b0, int b1, float* scratch) {
    const bool after = features_after_tiles(p);
    if (p.C <= kTileMaxClasses && after) tiles_block<V, TK, true, false, true>(p, b0, b1, scratch);
    else if (p.C <= kTileMaxClasses) tiles_block<V, TK, true>(p, b0, b1, scratch);
    else with_hint_level(p.pass_past_cache, [&](auto h) { fused_block<V, TK, decltype(h)::value>(p, b0, b1, scratch); });
}

template <class V>
void stats(const DistillProblem& p, int b0, int b1, float* scratch) {
    with_temperature_kind(temperature_kind(p.T), [&](auto tk) { stats_kind<V, decltype(tk)::value>(p, b0, b1, scratch); });
}

template <class V>
void fused(const DistillProblem& p, int b0, int b1, float* scratch) {
    with_temperature_kind(temperature_kind(p.T), [&](auto tk) { fused_kind<V, decltype(tk)::value>(p, b0, b1, scratch); });
    precise_kl_gradient_rows<V>(p, b0, b1, scratch);
}

// y = fn(x) element-wise, the last partial vector masked: the exported building blocks, for their tests.
template <class V, typename V::F (*Fn)(typename V::F)>
void elementwise_array(std::int64_t n, const float* x, float* y) {
    std::int64_t i = 0;
    for (; i + V::W <= n; i += V::W) V::store(y + i, Fn(V::load(x + i)));
    if (i < n) {
        typename V::M t = V::first(static_cast<int>(n - i));
        V::store(y + i, Fn(V::load(x + i, t)), t);
    }
}

template <class V>
void exp_array(std::int64_t n, const float* x, float* y) {
    elementwise_array<V, vexp<V>>(n, x, y);
}

// y = e^x - 1 by vexpm1 (jsd's expm1(-d)), x in [-80, 80].
template <class V>
void expm1_array(std::int64_t n, const float* x, float* y) {
    elementwise_array<V, vexpm1<V>>(n, x, y);
}

// y = log1p(x) by vlog1p_atanh (jsd's logs).
template <class V>
void log1p_array(std::int64_t n, const float* x, float* y) {
    elementwise_array<V, vlog1p_atanh<V>>(n, x, y);
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
