// The catalog's drivers (docs/DESIGN.md §7): the selected divergence and feature loss over rows [b0, b1), after the KL
// kernels of the same block (distill_driver.cpp). Divergences go row by row (divergence_rows) or, on short rows and
// where the divergence has a lane form, W rows at a time (distill_divergence_lanes.inl); the losses' formulas are
// those of distill_divergences.inl.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "distill_divergence_lanes.inl"
#include "distill_divergences.inl"
#include "distill_features.inl"
#include "distill_layout.inl"
#include "kernels.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

// The gradient pass of a replaced divergence runs no KL kernel (distill_driver.cpp), so the divergence sweep writes
// the whole row: dzs, dfs (the mse term here, or the feature sweep after it) and row_loss. An ignored row: zeros.
inline void zero_row_gradient(const DistillProblem& p, int b) {
    std::fill_n(p.grads.dzs + static_cast<std::size_t>(b) * p.C, p.C, 0.0f);
    std::fill_n(p.grads.dfs + static_cast<std::size_t>(b) * p.F, p.F, 0.0f);
    p.grads.row_loss[b] = 0.0f;
}

// dzs = (1/B') [a_ce (softmax(s) - onehot(y)) + acc], softmax(s)_c = e^(s_c - lse_s1) from the stats pass. The
// label's -a_ce joins acc before the one scaling, so a row the student has right with certainty (softmax 1 at y, acc
// 0) gets exactly 0 there; subtracting (1/B') a_ce after the scaling left the difference of two roundings of it (an
// FMA keeps the second product exact): 1.1e-8 where float64 gives 0.
template <class V>
inline void cross_entropy_gradient(const DistillProblem& p, int b, float* acc) {
    using F = typename V::F;
    const float* zs = p.zs + static_cast<std::size_t>(b) * p.C;
    float* dzs = p.grads.dzs + static_cast<std::size_t>(b) * p.C;
    const F lse = V::set1(p.stats.lse_s1[b]), a_ce = V::set1(p.a_ce), scale = V::set1(p.inv_counted_rows);
    acc[p.y[b]] -= p.a_ce;
    for_each_vector<V>(p.C, [&](int c, typename V::M m, auto tail) {
        constexpr bool is_tail = decltype(tail)::value;
        const F ce = V::mul(a_ce, vexp<V>(V::sub(load<is_tail, V>(zs + c, m), lse)));
        store<is_tail, V>(dzs + c, V::mul(scale, V::add(ce, V::load(acc + c))), m);
    });
}

// From this size of dfs on, in a pass past the cache (DistillProblem::pass_past_cache), the catalog's gradient pass
// writes it with non-temporal stores. Larger than the KL
// kernels' kStreamFeatureGradBytes: at 1 MB (256,4,100,256) streaming measured slower here, where the row's other
// sweeps keep less of the caches busy than the KL kernels do; at 16 MB (1024,8,1000,512) faster.
constexpr std::size_t kCatalogStreamBytes = std::size_t{4} << 20;

// Whether the catalog's gradient sweeps write dfs with non-temporal stores (through WholeLines).
inline bool catalog_streams_dfs(const DistillProblem& p) {
    return p.pass_past_cache && static_cast<std::size_t>(p.B) * p.F * sizeof(float) >= kCatalogStreamBytes;
}

// dfs = (1/B') beta wf_k (2/D_k)(fs - ft) over every slice of row b, by the KL gradient's own feature sweep
// (feature_row), which writes a large dfs through lines (WholeLines, null: plain stores); returns sum_k beta wf_k mse_k.
template <class V>
inline double mse_gradient(const DistillProblem& p, int b, WholeLines<V>* lines) {
    double loss = 0.0;
    for (int k = 0; k < p.K; ++k) {
        loss += static_cast<double>(p.beta) * p.wf[stat_index(p, b, k)] * p.stats.mse[stat_index(p, b, k)];
        feature_row<V, false, true, true, Hint::IntoL2>(p, b, k, feature_grad_scale(p, b, k), nullptr, lines);
    }
    return loss;
}

// Row b's gradient once acc holds the divergence's part: dzs with the cross-entropy, the mse term's dfs unless the
// feature sweep writes it, row_loss (1/B') (sum_k a_kd wl_k kl_k + a_ce ce_s + the mse term).
template <class V>
inline void finish_row_gradient(const DistillProblem& p, int b, float* acc, bool mse_grads, WholeLines<V>* lines) {
    double loss = 0.0;
    for (int k = 0; k < p.K; ++k)
        loss += static_cast<double>(p.a_kd) * p.wl[stat_index(p, b, k)] * p.stats.kl[stat_index(p, b, k)];
    cross_entropy_gradient<V>(p, b, acc);
    loss += p.a_ce * p.stats.ce_s[b];
    if (mse_grads) loss += mse_gradient<V>(p, b, lines);
    p.grads.row_loss[b] = static_cast<float>(p.inv_counted_rows * loss);
}

// Whether a lane form takes statistics (a value member); a gradient-only form's takes(p, true) is false.
template <class Form, class = void>
struct HasLaneValue : std::false_type {};
template <class Form>
struct HasLaneValue<Form, std::void_t<decltype(&Form::value)>> : std::true_type {};

// What a lane group's statistics need, where the form can tell (a needed member): nothing, the lane sweeps, or the row
// form (a group with a few pairs to compute, each cheaper alone than the whole group's sweeps).
enum class LaneWork { None, Lanes, ByRows };

// Whether a lane form can tell what a group's statistics need (a needed member).
template <class Form, class = void>
struct HasLaneNeeded : std::false_type {};
template <class Form>
struct HasLaneNeeded<Form, std::void_t<decltype(&Form::needed)>> : std::true_type {};

// Whether a lane form takes a pair's value and gradient together (a value_and_gradient member).
template <class Form, class = void>
struct HasLaneValueAndGradient : std::false_type {};
template <class Form>
struct HasLaneValueAndGradient<Form, std::void_t<decltype(&Form::value_and_gradient)>> : std::true_type {};

// A divergence's stats or gradient on rows [b0, b1), W rows at a time (distill_divergence_lanes.inl): form.group(g)
// once per lane group, then form.value(g, k) (writes kl) or form.gradient(g, k) (adds to g.acc) per teacher. A group
// whose form says its statistics need LaneWork::ByRows takes them from by_rows(r0, r1), the row form (its gradient,
// if asked, still by lanes).
template <class V, class Form, class ByRows>
void divergence_lanes(const DistillProblem& p, bool stats, bool grads, int b0, int b1, bool mse_grads, WholeLines<V>* lines,
                      Form& form, ByRows&& by_rows) {
    for (int r0 = b0; r0 < b1; r0 += V::W) {
        const DivergenceLanes<V> g = make_divergence_lanes<V>(p, r0, std::min(V::W, b1 - r0));
        bool any_counted = false;
        for (int i = 0; i < g.n; ++i) any_counted = any_counted || g.y[i] >= 0;
        if (!stats && !any_counted) {
            for (int i = 0; i < g.n; ++i) zero_row_gradient(p, r0 + i);
            continue;
        }
        bool lane_values = stats;
        if constexpr (HasLaneNeeded<Form>::value) {
            // The group's statistics go the same way with or without the gradient, so the fused pass computes them
            // as the stats pass does.
            const LaneWork work = stats ? form.needed(g) : LaneWork::None;
            lane_values = work == LaneWork::Lanes;
            if (work == LaneWork::ByRows) by_rows(r0, r0 + g.n);
            if (!grads && !lane_values) continue;
        }
        student_lanes<V>(p, g);
        form.group(g);
        // Both at once where the form has it (the fused pass): each pair's sweep serves its value and its gradient.
        bool together = false;
        if constexpr (HasLaneValueAndGradient<Form>::value) together = stats && grads;
        if constexpr (HasLaneValue<Form>::value) {
            if (lane_values && !together)
                for (int k = 0; k < p.K; ++k) form.value(g, k);
        }
        if (!grads) continue;
        std::fill_n(g.acc, g.Cp * V::W, 0.0f);
        for (int k = 0; k < p.K; ++k) {
            if constexpr (HasLaneValueAndGradient<Form>::value) {
                if (together) {
                    form.value_and_gradient(g, k);
                    continue;
                }
            }
            form.gradient(g, k);
        }
        acc_rows<V>(p, g);
        for (int i = 0; i < g.n; ++i) {
            if (g.y[i] < 0) zero_row_gradient(p, r0 + i);
            else finish_row_gradient<V>(p, r0 + i, g.row(i), mse_grads, lines);
        }
    }
}

template <class V, class J>
struct JsdLaneForm {
    DivergenceRow r{};
    const DistillProblem& p;
    const JsdSeries series;
    explicit JsdLaneForm(const DistillProblem& problem) : p(problem), series(JsdSeries::of(problem.div_beta)) {
        r.C = p.C;
        r.inv_T = p.inv_T;
        r.beta = p.div_beta;
        r.series = series.c;
    }
    static bool takes(const DistillProblem& p, bool stats) {
        return !J::trivial_beta(p.div_beta) && p.C <= (stats ? kJsdLaneStatsMaxClasses : kJsdLaneGradientMaxClasses);
    }
    void group(const DivergenceLanes<V>&) {}
    void value(const DivergenceLanes<V>& g, int k) { jsd_value_lanes<V, J>(p, g, r, k); }
    void gradient(const DivergenceLanes<V>& g, int k) { jsd_gradient_lanes<V, J>(p, g, r, k); }
    void value_and_gradient(const DivergenceLanes<V>& g, int k) { jsd_value_and_gradient_lanes<V, J>(p, g, r, k); }
};

template <class V>
struct DkdLaneForm {
    const DistillProblem& p;
    DkdStudentLanes<V> student;
    explicit DkdLaneForm(const DistillProblem& problem) : p(problem) {}
    static bool takes(const DistillProblem& p, bool stats) {
        return p.C <= (stats ? kDkdLaneStatsMaxClasses : kDkdLaneGradientMaxClasses);
    }
    void group(const DivergenceLanes<V>& g) { student = dkd_student_lanes<V>(p, g); }
    void value(const DivergenceLanes<V>& g, int k) { dkd_value_lanes<V>(p, g, student, k); }
    void gradient(const DivergenceLanes<V>& g, int k) { dkd_gradient_lanes<V>(p, g, student, k); }
    void value_and_gradient(const DivergenceLanes<V>& g, int k) { dkd_value_and_gradient_lanes<V>(p, g, student, k); }
};

// Reverse KL by lanes on short rows: its gradient (the row form's per-pair horizontal sum and scalar offset were most
// of the dense gradient) and the statistics the KL kernel's sweep leaves to the catalog (where the plain sum does
// not hold).
template <class V>
struct ReverseKlLaneForm {
    const DistillProblem& p;
    explicit ReverseKlLaneForm(const DistillProblem& problem) : p(problem) {}
    static bool takes(const DistillProblem& p, bool stats) {
        return p.C <= (stats ? kReverseKlLaneStatsMaxClasses : kReverseKlLaneGradientMaxClasses);
    }
    // The statistics touch only the pairs the stats kernel left (reverse_kl_value_lanes): a group with none needs
    // neither the student's tiles nor a sweep, and one with fewer than a third of its pairs left goes by rows, where
    // each costs about three times what it costs in a group's sweep (docs/PERF.md, "Reverse KL's statistics by lane
    // groups").
    LaneWork needed(const DivergenceLanes<V>& g) const {
        const int left = reverse_kl_left_in_group(p, g);
        if (left == 0) return LaneWork::None;
        return 3 * left >= g.n * p.K ? LaneWork::Lanes : LaneWork::ByRows;
    }
    void group(const DivergenceLanes<V>&) {}
    void value(const DivergenceLanes<V>& g, int k) { reverse_kl_value_lanes<V>(p, g, k); }
    void gradient(const DivergenceLanes<V>& g, int k) { reverse_kl_gradient_lanes<V>(p, g, k); }
};

// The lane form of divergence D, where it has one (void: none).
template <class D>
struct LaneFormOf {
    using type = void;
};
template <class V, bool Symmetric>
struct LaneFormOf<JsdOf<V, Symmetric>> {
    using type = JsdLaneForm<V, JsdOf<V, Symmetric>>;
};
template <class V>
struct LaneFormOf<Dkd<V>> {
    using type = DkdLaneForm<V>;
};
template <class V>
struct LaneFormOf<ReverseKl<V>> {
    using type = ReverseKlLaneForm<V>;
};

// The gradient sweeps visit (row, teacher) pairs row by row, so consecutive teacher rows lie B C floats apart, each
// on pages of its own, where the hardware prefetcher does not follow. The sweep over pair (b, k) prefetches the
// teacher row of the pair kPrefetchAheadBytes later in that order (at least the next one), so its lines arrive while
// the pairs between are computed (kPrefetchAheadBytes: prefetch.h). The stats sweep needs none: it follows the KL
// stats kernel over the same block of rows, whose teacher rows are still in cache.

// The pair kPrefetchAheadBytes of teacher rows after (b, k) in row-by-row order, as whole rows and teachers (so the
// sweeps step to it without a division per pair).
struct PairsAhead {
    int rows, teachers;
    PairsAhead(int C, int K) {
        const long long row_bytes = static_cast<long long>(C) * sizeof(float);
        const int pairs = static_cast<int>(std::max(1LL, (kPrefetchAheadBytes + row_bytes - 1) / row_bytes));
        rows = pairs / K;
        teachers = pairs % K;
    }
    // Teacher row of that pair; null past the last row.
    const float* row(const DistillProblem& p, int b, int k) const {
        int b2 = b + rows, k2 = k + teachers;
        if (k2 >= p.K) {
            k2 -= p.K;
            ++b2;
        }
        if (b2 >= p.B) return nullptr;
        return p.zt + (static_cast<std::size_t>(k2) * p.B + static_cast<std::size_t>(b2)) * p.C;
    }
};

// Whether a divergence's row form takes a pair's value and gradient in one sweep (value_and_gradient).
template <class D, class = void>
struct HasValueAndGradient : std::false_type {};
template <class D>
struct HasValueAndGradient<D, std::void_t<decltype(&D::value_and_gradient)>> : std::true_type {};

// The row form: rows [b0, b1) one at a time, each teacher's pair a sweep (or two) over its row.
template <class V, template <class> class Div>
void divergence_row_form(const DistillProblem& p, bool stats, bool grads, int b0, int b1) {
    if constexpr (std::is_same_v<Div<V>, KeepKl<V>>) {
        return;
    } else {
        constexpr bool is_dkd = std::is_same_v<Div<V>, Dkd<V>>;
        constexpr bool gathers = GathersRowGradient<Div<V>>::value;
        // The stats kernel wrote reverse KL where its plain form holds and kReverseKlByCatalog elsewhere: only those
        // pairs are summed here.
        const bool kernel_wrote = std::is_same_v<Div<V>, ReverseKl<V>> && reverse_kl_in_stats_sweep(p);
        auto left_to_sum = [&](std::size_t i) { return !kernel_wrote || p.stats.kl[i] < 0.0f; };
        const bool mse_grads = grads && p.feature_loss == MTKD_FEATURE_MSE;
        const bool stream = mse_grads && catalog_streams_dfs(p);
        WholeLines<V> lines(p.grads.dfs);
        const int C = p.C, K = p.K;
        const float T = p.T;
        const std::size_t Cp = padded_classes(C);
        thread_local std::vector<float> buf;
        buf.resize(6 * Cp);
        float *ls = buf.data(), *ps = ls + Cp, *d = ps + Cp, *e = d + Cp, *acc = e + Cp, *psn = acc + Cp;
        const PairsAhead ahead(C, K);
        const float* series = nullptr;
        JsdSeries jsd_series;
        if constexpr (IsJsd<Div<V>>::value) {
            jsd_series = JsdSeries::of(p.div_beta);
            series = jsd_series.c;
        }
        for (int b = b0; b < b1; ++b) {
            const int y = p.y[b];
            if (grads && y < 0) zero_row_gradient(p, b);
            if (!stats && y < 0) continue;
            if (stats && !grads && kernel_wrote) {
                bool any = false;
                for (int k = 0; k < K && !any; ++k) any = left_to_sum(static_cast<std::size_t>(b) * K + k);
                if (!any) continue;
            }
            const float* zs = p.zs + static_cast<std::size_t>(b) * C;
            student_log_probs<V>(zs, C, p.inv_T, p.stats.lse_st[b], ls, ps);
            double Sn = 0.0;
            if constexpr (is_dkd) {
                if (y >= 0) {
                    std::copy(ps, ps + Cp, psn);
                    psn[y] = 0.0f;
                    typename V::F s = V::zero();
                    for_vectors_masked<V>(C, [&](int c, typename V::M) { s = V::add(s, V::load(psn + c)); });
                    Sn = V::sum(s);
                }
            }
            std::fill(acc, acc + Cp, 0.0f);
            double offset = 0.0;
            for (int k = 0; k < K; ++k) {
                const std::size_t i = static_cast<std::size_t>(b) * K + k;
                const float lse_s = p.stats.lse_st[b], lse_t = p.stats.lse_t[i], shift = lse_s - lse_t;
                const DivergenceRow row{zs, p.zt + (static_cast<std::size_t>(k) * p.B + b) * C, ls, ps,
                                        stats ? nullptr : ahead.row(p, b, k), d, e, C, y,
                                        p.inv_T, shift, p.div_alpha, p.div_beta,
                                        shift_rounding_bound(lse_s, lse_t), series};
                // The fused pass: one sweep of the pair for its value and its gradient, where the form has it.
                if constexpr (HasValueAndGradient<Div<V>>::value) {
                    if (stats && grads && y >= 0 && left_to_sum(i)) {
                        const float coef = p.a_kd * T * p.wl[i];
                        double v;
                        if constexpr (is_dkd) v = Div<V>::value_and_gradient(row, psn, Sn, coef, acc);
                        else v = Div<V>::value_and_gradient(row, coef, acc, offset);
                        p.stats.kl[i] = static_cast<float>(T * T * v);
                        continue;
                    }
                }
                if (stats && left_to_sum(i)) {
                    double v;
                    if constexpr (is_dkd) v = Div<V>::value(row, psn, Sn);
                    else v = Div<V>::value(row);
                    p.stats.kl[i] = static_cast<float>(T * T * v);
                }
                if (grads && y >= 0) {
                    const float coef = p.a_kd * T * p.wl[i];
                    if constexpr (is_dkd) Div<V>::add_gradient(row, psn, Sn, coef, acc);
                    else if constexpr (gathers) Div<V>::add_gradient(row, coef, acc, offset);
                    else Div<V>::add_gradient(row, coef, acc);
                }
            }
            if (grads && y >= 0) {
                if constexpr (gathers) Div<V>::finish_gradient(ps, C, offset, acc);
                finish_row_gradient<V>(p, b, acc, mse_grads, stream ? &lines : nullptr);
            }
        }
        if (stream) {
            lines.finish();
            V::stream_fence();
        }
    }
}

// Rows [b0, b1) of divergence Div: short rows by its lane form where it has one, the rest by the row form.
template <class V, template <class> class Div>
void divergence_rows(const DistillProblem& p, bool stats, bool grads, int b0, int b1) {
    if constexpr (std::is_same_v<Div<V>, KeepKl<V>>) {
        return;
    } else {
        using LaneForm = typename LaneFormOf<Div<V>>::type;
        if constexpr (!std::is_void_v<LaneForm>) {
            const bool mse_grads = grads && p.feature_loss == MTKD_FEATURE_MSE;
            const bool stream = mse_grads && catalog_streams_dfs(p);
            const bool lane_grads = grads && LaneForm::takes(p, false);
            bool lane_stats = stats && LaneForm::takes(p, true);
            // The fused pass on rows whose gradient goes by rows: the row form takes the statistics too, in the same
            // sweep as the gradient where it has one (value_and_gradient), rather than the lanes a sweep of their own.
            if constexpr (HasValueAndGradient<Div<V>>::value) lane_stats = lane_stats && !(grads && !lane_grads);
            if (lane_stats || lane_grads) {
                // The statistics before the gradient, whichever form takes each: the gradient's row_loss reads kl.
                if (stats && !lane_stats) divergence_row_form<V, Div>(p, true, false, b0, b1);
                LaneForm form(p);
                WholeLines<V> lines(p.grads.dfs);
                divergence_lanes<V>(p, lane_stats, lane_grads, b0, b1, mse_grads && lane_grads,
                                    stream && lane_grads ? &lines : nullptr, form,
                                    [&](int r0, int r1) { divergence_row_form<V, Div>(p, true, false, r0, r1); });
                if (stream && lane_grads) {
                    lines.finish();
                    V::stream_fence();
                }
                if (grads && !lane_grads) divergence_row_form<V, Div>(p, false, true, b0, b1);
                return;
            }
        }
        divergence_row_form<V, Div>(p, stats, grads, b0, b1);
    }
}

// A feature loss other than mse on rows [b0, b1): its value into mse and cos (stats), from one sweep over each slice,
// and (grads) its dfs, zeros for an ignored row, and its row_loss term (the KL kernels leave fs, ft, dfs, cos and mse to
// this sweep: features_by_catalog). In the fused pass the gradient reuses the statistics' sums. A streamed
// dfs (catalog_streams_dfs) goes out as whole streamed lines through a stage (WholeLines), slice by slice where a slice fits
// a piece of it: written in place, a slice off the line boundaries read its partial lines first, and every line of a
// dfs in plain stores is read for ownership before it is written.
template <class V, template <class> class Feat>
void feature_rows(const DistillProblem& p, bool stats, bool grads, int b0, int b1) {
    if constexpr (std::is_same_v<Feat<V>, KeepMse<V>>) {
        return;
    } else {
        // No features at all (the dense step's pixel rows): the KL stats kernels already wrote cos and mse as 0
        // (zero_feature_stats), and there is no dfs nor feature term of row_loss.
        if (p.F == 0) return;
        const bool stream = grads && catalog_streams_dfs(p);
        // Rows of features shorter than the prefetch distance ask for a later row's lines as they start: sweeps of a
        // vector or two per slice otherwise wait on memory (the dense cosine passes 6-13 % faster); longer rows are
        // left to the hardware's stream prefetch (asked for a row at a time, 256,64,100,128 was 20 % slower).
        const bool short_rows = static_cast<std::size_t>(p.F) * sizeof(float) <= kPrefetchAheadBytes;
        WholeLines<V> lines(p.grads.dfs);
        for (int b = b0; b < b1; ++b) {
            const int y = p.y[b];
            double loss = 0.0;
            if (V::W > 1 && short_rows) {  // the row's features kPrefetchAheadBytes later in fs and ft
                const std::size_t row = static_cast<std::size_t>(b) * p.F;
                for (int c = 0; c < p.F; c += 16) {
                    prefetch_line(address_ahead(p.fs + row + c, kFeatureAheadFloats));
                    prefetch_line(address_ahead(p.ft + row + c, kFeatureAheadFloats));
                }
            }
            for (int k = 0; k < p.K; ++k) {
                const std::size_t i = static_cast<std::size_t>(b) * p.K + k;
                const std::size_t off = static_cast<std::size_t>(b) * p.F + p.off[k];
                const int d = p.D[k];
                if (d == 0) {  // no features: cos and the feature loss are 0 and so is its gradient
                    if (stats) p.stats.mse[i] = p.stats.cos[i] = 0.0f;
                    continue;
                }
                const float *a = p.fs + off, *t = p.ft + off;
                FeatureStatistics<V> slice{};
                if (stats) {
                    slice = Feat<V>::statistics(a, t, d, p.cos_eps);
                    p.stats.mse[i] = static_cast<float>(slice.value);
                    p.stats.cos[i] = slice.cos;
                }
                if (!grads) continue;
                float* const out = stream && d <= kStagePieceFloats ? lines.stage(off, d) : p.grads.dfs + off;
                if (y < 0) {
                    std::fill_n(out, d, 0.0f);
                    continue;
                }
                loss += static_cast<double>(p.beta) * p.wf[i] * p.stats.mse[i];
                Feat<V>::gradient(a, t, d, p.cos_eps, p.inv_counted_rows * p.beta * p.wf[i], out,
                                  stats ? &slice.sums : nullptr);
            }
            if (grads && y >= 0) p.grads.row_loss[b] = static_cast<float>(p.grads.row_loss[b] + p.inv_counted_rows * loss);
        }
        if (stream) {
            lines.finish();
            V::stream_fence();
        }
    }
}

// Rows [b0, b1) of the selected divergence and feature loss (Kernels::distill_losses).
template <class V>
void catalog_losses(const DistillProblem& p, bool stats, bool grads, int b0, int b1) {
    switch (p.divergence) {
        case MTKD_DIVERGENCE_REVERSE_KL: divergence_rows<V, ReverseKl>(p, stats, grads, b0, b1); break;
        case MTKD_DIVERGENCE_JSD:
            if (p.div_beta == 0.5f) divergence_rows<V, JsdSymmetric>(p, stats, grads, b0, b1);
            else divergence_rows<V, Jsd>(p, stats, grads, b0, b1);
            break;
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
