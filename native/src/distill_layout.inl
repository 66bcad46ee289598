// Where a block of rows of the distillation op keeps its scratch, where row b of each operand starts
// (layouts of DistillShape: zs [B,C], zt [K,B,C] teacher-major, dzs [B,C], statistics [B,K]), and the
// per-row outputs shared by both kernel shapes.
#pragma once

#include <cstddef>

#include "kernels.h"

namespace mtkd {
namespace {  // compiled per SIMD level: see distill_kernels.inl
namespace distill {

struct Block {
    int b0, rows;
    std::size_t Cp;        // padded row stride of the scratch rows
    float* v_rows;         // [rows][Cp]: w_s = s - m_s of each block row (v = w_s / T)
    float* ev_rows;        // [rows][Cp]: e^v
    float* pair_rows;      // [kMaxPairsInGroup][Cp]: e^u of each (row, teacher) pair waiting in the group
    float* student_sum_T;  // [rows]: Ss of each block row
    float* student_max;    // [rows]: m_s of each block row
};

inline Block make_block(const DistillProblem& p, int b0, int b1, float* scratch) {
    Block k;
    k.b0 = b0;
    k.rows = b1 - b0;
    k.Cp = padded_classes(p.C);
    const std::size_t rows = static_cast<std::size_t>(k.rows);
    k.v_rows = scratch;
    k.ev_rows = k.v_rows + k.Cp * rows;
    k.pair_rows = k.ev_rows + k.Cp * rows;
    k.student_sum_T = k.pair_rows + k.Cp * kMaxPairsInGroup;
    k.student_max = k.student_sum_T + rows;
    return k;
}

inline const float* student_row(const DistillProblem& p, int b) { return p.zs + static_cast<std::size_t>(b) * p.C; }
inline const float* teacher_row(const DistillProblem& p, int k, int b) {
    return p.zt + (static_cast<std::size_t>(k) * p.B + b) * p.C;
}
inline float* gradient_row(const DistillProblem& p, int b) { return p.grads.dzs + static_cast<std::size_t>(b) * p.C; }
inline std::size_t stat_index(const DistillProblem& p, int b, int k) { return static_cast<std::size_t>(b) * p.K + k; }

// The KD coefficient of the student's softmax at T in row b's gradient, a_kd T (sum_k wl_k) / B' (distill_kernels.inl).
inline float student_kd_coefficient(const DistillProblem& p, int b) {
    float wl_sum = 0.0f;
    for (int k = 0; k < p.K; ++k) wl_sum += p.wl[stat_index(p, b, k)];
    return p.a_kd * p.T * p.inv_counted_rows * wl_sum;
}

inline void zero_row(float* row, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) row[i] = 0.0f;
}

// row_loss = (1/B') (a_ce ce_s + sum_k a_kd wl_k kl_k + beta wf_k mse_k); with features_by_catalog the feature terms
// are the catalog's to add (mse may not be written yet: the fused pass runs this kernel before the catalog's sweep).
inline void write_row_loss(const DistillProblem& p, int b) {
    float loss = p.a_ce * p.stats.ce_s[b];
    for (int k = 0; k < p.K; ++k) {
        const std::size_t i = stat_index(p, b, k);
        if (p.features_by_catalog) loss += p.a_kd * p.wl[i] * p.stats.kl[i];
        else loss += p.a_kd * p.wl[i] * p.stats.kl[i] + p.beta * p.wf[i] * p.stats.mse[i];
    }
    p.grads.row_loss[b] = p.inv_counted_rows * loss;
}

}  // namespace distill
}  // namespace
}  // namespace mtkd
