#include "distill_args.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "boundary.h"

namespace mtkd {
namespace {

void require(const void* p, const char* name, const char* why = nullptr) {
    if (p == nullptr) throw_invalid(why == nullptr ? format("%s is null", name) : format("%s is null (%s)", name, why));
}

void check_shape(const mtkd_shape& s) {
    if (s.B < 1) throw_invalid(format("shape->B = %d (the batch needs at least 1 row)", s.B));
    if (s.K < 1) throw_invalid(format("shape->K = %d (at least 1 teacher is needed)", s.K));
    if (s.C < 2) throw_invalid(format("shape->C = %d (at least 2 classes are needed)", s.C));
    require(s.D, "shape->D");
    require(s.feat_off, "shape->feat_off");
    if (s.feat_off[0] != 0) throw_invalid(format("shape->feat_off[0] = %d (must be 0)", s.feat_off[0]));
    std::int64_t sum = 0;
    for (int k = 0; k < s.K; ++k) {
        if (s.D[k] < 0) throw_invalid(format("shape->D[%d] = %d (each teacher embedding width must be >= 0)", k, s.D[k]));
        sum += s.D[k];
        if (sum > std::numeric_limits<int32_t>::max()) throw_invalid("shape->D sums to more than 2^31 - 1 columns");
        if (s.feat_off[k + 1] != sum)
            throw_invalid(format("shape->feat_off[%d] = %d, but the prefix sum of D is %lld", k + 1, s.feat_off[k + 1],
                                 static_cast<long long>(sum)));
    }
    // Every buffer must be addressable; kernels index with size_t, this only rules out absurd shapes.
    const std::int64_t limit = std::numeric_limits<std::int64_t>::max() / 16;
    const std::int64_t rows = s.B, teachers = s.K, classes = s.C;
    if (rows * classes > limit / teachers) throw_invalid("shape: K*B*C elements overflow");
    if (rows * sum > limit) throw_invalid("shape: B*F elements overflow");
}

void check_hyper(const mtkd_hyper& h) {
    if (!(h.temperature > 0.0f) || !std::isfinite(h.temperature))
        throw_invalid(format("hyper->temperature = %g (must be a positive finite number)", h.temperature));
    if (!std::isfinite(h.a_ce)) throw_invalid(format("hyper->a_ce = %g (must be finite)", h.a_ce));
    if (!std::isfinite(h.a_kd)) throw_invalid(format("hyper->a_kd = %g (must be finite)", h.a_kd));
    if (!std::isfinite(h.beta)) throw_invalid(format("hyper->beta = %g (must be finite)", h.beta));
    if (!(h.cos_eps >= 0.0f) || !std::isfinite(h.cos_eps))
        throw_invalid(format("hyper->cos_eps = %g (must be finite and >= 0)", h.cos_eps));
    if (!(h.inv_counted_rows >= 0.0f && h.inv_counted_rows <= 1.0f))
        throw_invalid(format("hyper->inv_counted_rows = %g (must be 1/B' in [0, 1])", h.inv_counted_rows));
    if (h.divergence < MTKD_DIVERGENCE_KL || h.divergence > MTKD_DIVERGENCE_DKD)
        throw_invalid(format("hyper->divergence = %d (not an mtkd_divergence)", static_cast<int>(h.divergence)));
    if (h.feature_loss < MTKD_FEATURE_MSE || h.feature_loss > MTKD_FEATURE_SMOOTH_L1)
        throw_invalid(format("hyper->feature_loss = %d (not an mtkd_feature_loss)", static_cast<int>(h.feature_loss)));
    if (h.divergence == MTKD_DIVERGENCE_JSD && !(h.div_beta > 0.0f && h.div_beta < 1.0f))
        throw_invalid(format("hyper->div_beta = %g (jsd's beta must lie in (0, 1))", h.div_beta));
    if (h.divergence == MTKD_DIVERGENCE_DKD &&
        !(h.div_alpha > 0.0f && h.div_beta > 0.0f && std::isfinite(h.div_alpha) && std::isfinite(h.div_beta)))
        throw_invalid(format("hyper->div_alpha, div_beta = %g, %g (dkd's weights must be positive and finite)",
                             h.div_alpha, h.div_beta));
}

void check_labels(const int32_t* y, int B, int C) {
    for (int b = 0; b < B; ++b) {
        if (y[b] < -1 || y[b] >= C)
            throw_invalid(format("in->y[%d] = %d is outside [0, %d) and is not -1 (ignored row)", b, y[b], C));
    }
}

void require_stats_outputs(const mtkd_stats& st, const char* name) {
    const char* fields[] = {"kl", "ce_t", "h_t", "conf", "hit", "cos", "mse", "lse_t", "ce_s", "lse_s1", "lse_st"};
    const float* ptrs[] = {st.kl, st.ce_t, st.h_t, st.conf, st.hit, st.cos, st.mse, st.lse_t, st.ce_s, st.lse_s1, st.lse_st};
    for (int i = 0; i < 11; ++i)
        if (ptrs[i] == nullptr) throw_invalid(format("%s->%s is null", name, fields[i]));
}

void require_gradient_inputs(const mtkd_stats& st) {
    const char* fields[] = {"kl", "mse", "lse_t", "ce_s", "lse_s1", "lse_st"};
    const float* ptrs[] = {st.kl, st.mse, st.lse_t, st.ce_s, st.lse_s1, st.lse_st};
    for (int i = 0; i < 6; ++i)
        if (ptrs[i] == nullptr) throw_invalid(format("stats->%s is null (the gradient pass reads it)", fields[i]));
}

void require_grads_outputs(const mtkd_grads& g, const char* name, bool features) {
    if (g.dzs == nullptr) throw_invalid(format("%s->dzs is null", name));
    if (features && g.dfs == nullptr) throw_invalid(format("%s->dfs is null", name));
    if (g.row_loss == nullptr) throw_invalid(format("%s->row_loss is null", name));
}

}  // namespace

DistillProblem make_distill_problem(DistillPass pass, const mtkd_shape* shape, const mtkd_inputs* in,
                                    const mtkd_hyper* hyper, const mtkd_stats* stats, const mtkd_grads* grads) {
    require(shape, "shape");
    require(in, "in");
    require(hyper, "hyper");
    check_shape(*shape);
    require(in->zs, "in->zs");
    require(in->zt, "in->zt");
    // Without features (F = 0: every D[k] = 0) fs, ft and dfs hold nothing and may be null.
    const bool features = shape->feat_off[shape->K] > 0;
    if (features) require(in->fs, "in->fs");
    if (features) require(in->ft, "in->ft");
    require(in->y, "in->y");
    if (pass != DistillPass::Stats) {
        require(in->wl, "in->wl", "the gradient and fused passes read the weights");
        require(in->wf, "in->wf", "the gradient and fused passes read the weights");
    }
    check_hyper(*hyper);
    const char* stats_name = pass == DistillPass::Fused ? "out_stats" : pass == DistillPass::Stats ? "out" : "stats";
    require(stats, stats_name);
    if (pass == DistillPass::Gradient) require_gradient_inputs(*stats);
    else require_stats_outputs(*stats, stats_name);
    if (pass != DistillPass::Stats) {
        const char* grads_name = pass == DistillPass::Fused ? "out_grads" : "out";
        require(grads, grads_name);
        require_grads_outputs(*grads, grads_name, features);
    }
    check_labels(in->y, shape->B, shape->C);

    DistillProblem p{};
    p.B = shape->B;
    p.K = shape->K;
    p.C = shape->C;
    p.F = shape->feat_off[shape->K];
    p.D = shape->D;
    p.off = shape->feat_off;
    p.zs = in->zs;
    p.zt = in->zt;
    p.fs = in->fs;
    p.ft = in->ft;
    p.y = in->y;
    p.wl = in->wl;
    p.wf = in->wf;
    p.T = hyper->temperature;
    p.inv_T = 1.0f / hyper->temperature;
    p.a_ce = hyper->a_ce;
    p.a_kd = hyper->a_kd;
    p.beta = hyper->beta;
    p.cos_eps = hyper->cos_eps;
    p.inv_counted_rows = hyper->inv_counted_rows;
    p.divergence = hyper->divergence;
    p.feature_loss = hyper->feature_loss;
    p.div_alpha = hyper->div_alpha;
    p.div_beta = hyper->div_beta;
    p.stats = *stats;
    if (grads != nullptr) p.grads = *grads;
    return p;
}

}  // namespace mtkd
