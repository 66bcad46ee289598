// The inputs and outputs of one native distillation op problem as the benchmarks of the C API build it
// (native_pass_time.cpp, native_pass_pair.cpp): Gaussian logits of standard deviation 2 (or teachers near the
// student), features of standard deviation 1, 10 % ignored rows, every array on a 64-byte boundary, and the MB each
// pass must move (MtkdRl.Core.Distill.DistillTraffic).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "mtkd.h"

namespace bench {

// Every array on a 64-byte boundary, as the library's sessions (NativeBuffer) and PyTorch's allocator place theirs.
template <class T>
struct LineAligned {
    using value_type = T;
    LineAligned() = default;
    template <class U>
    LineAligned(const LineAligned<U>&) {}
    T* allocate(std::size_t n) {
        void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
        if (p == nullptr) throw std::bad_alloc();
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) { std::free(p); }
    template <class U>
    bool operator==(const LineAligned<U>&) const { return true; }
};
using Floats = std::vector<float, LineAligned<float>>;

// What a problem is made of besides its sizes.
struct ProblemOptions {
    float T = 4.0f;
    int divergence = MTKD_DIVERGENCE_KL;
    const char* beta = nullptr;  // the divergence's beta instead of its default (null or "-": the default)
    float near = 0.0f;           // > 0: teachers are the student's logits plus Gaussian noise of this width
    int offset = 0;              // bytes past a 64-byte boundary at which dzs and dfs start
    int feature_loss = MTKD_FEATURE_MSE;
};

// One problem: the arrays and the structs of the C API that point into them (so it is neither copied nor moved).
class Problem {
public:
    Problem(int B, int K, int C, int D, const ProblemOptions& o)
        : B_(B), K_(K), C_(C), D_(D), widths_(K, D), offsets_(K + 1) {
        const int F = K * D;
        for (int k = 0; k <= K; ++k) offsets_[k] = k * D;
        std::mt19937 rng(1);
        std::normal_distribution<float> gauss(0.0f, 1.0f);
        zs_.resize(static_cast<std::size_t>(B) * C);
        zt_.resize(static_cast<std::size_t>(K) * B * C);
        fs_.resize(static_cast<std::size_t>(B) * F);
        ft_.resize(static_cast<std::size_t>(B) * F);
        wl_.assign(static_cast<std::size_t>(B) * K, 1.0f / K);
        wf_.assign(static_cast<std::size_t>(B) * K, 1.0f / K);
        for (auto& x : zs_) x = 2 * gauss(rng);
        for (auto& x : zt_) x = 2 * gauss(rng);
        if (o.near > 0.0f)
            for (int k = 0; k < K; ++k)
                for (std::size_t i = 0; i < static_cast<std::size_t>(B) * C; ++i)
                    zt_[static_cast<std::size_t>(k) * B * C + i] = zs_[i] + o.near * gauss(rng);
        for (auto& x : fs_) x = gauss(rng);
        for (auto& x : ft_) x = gauss(rng);
        y_.resize(B);
        int counted = 0;
        for (int b = 0; b < B; ++b) {
            y_[b] = rng() % 10 == 0 ? -1 : static_cast<int>(rng() % C);  // 10 % ignored rows, as the bench
            counted += y_[b] >= 0;
        }
        for (auto& v : pair_stats_) v.assign(static_cast<std::size_t>(B) * K, 0.0f);
        for (auto& v : row_stats_) v.assign(B, 0.0f);
        row_loss_.resize(B);
        // The outputs offset bytes past a line: room for the shift, then the arrays' own floats.
        dzs_room_.resize(static_cast<std::size_t>(B) * C + 16);
        dfs_room_.resize(static_cast<std::size_t>(B) * F + 16);

        shape = mtkd_shape{B, K, C, widths_.data(), offsets_.data()};
        in = mtkd_inputs{zs_.data(), zt_.data(), fs_.data(), ft_.data(), y_.data(), wl_.data(), wf_.data()};
        h = mtkd_hyper{};
        h.temperature = o.T;
        h.a_ce = 1.0f;
        h.a_kd = 1.0f;
        h.beta = 5.0f;
        h.cos_eps = 1e-8f;
        h.divergence = o.divergence;
        h.feature_loss = o.feature_loss;
        h.div_alpha = o.divergence == MTKD_DIVERGENCE_DKD ? 1.0f : 0.0f;
        h.div_beta = o.divergence == MTKD_DIVERGENCE_JSD ? 0.5f : o.divergence == MTKD_DIVERGENCE_DKD ? 8.0f : 0.0f;
        if (o.beta != nullptr && std::strcmp(o.beta, "-") != 0) h.div_beta = static_cast<float>(std::atof(o.beta));
        h.inv_counted_rows = counted > 0 ? 1.0f / counted : 0.0f;
        stats = mtkd_stats{pair_stats_[0].data(), pair_stats_[1].data(), pair_stats_[2].data(), pair_stats_[3].data(),
                           pair_stats_[4].data(), pair_stats_[5].data(), pair_stats_[6].data(), pair_stats_[7].data(),
                           row_stats_[0].data(),  row_stats_[1].data(),  row_stats_[2].data()};
        grads = mtkd_grads{dzs_room_.data() + o.offset / 4, dfs_room_.data() + o.offset / 4, row_loss_.data()};

        const double logits = 4.0 * (static_cast<double>(B) * C + static_cast<double>(K) * B * C);
        const double features = 8.0 * B * F, labels = 4.0 * B, weights = 8.0 * B * K;
        const double stats_out = 4.0 * (8.0 * B * K + 3.0 * B), stats_in = 4.0 * (3.0 * B * K + 3.0 * B);
        const double grads_out = 4.0 * (static_cast<double>(B) * C + static_cast<double>(B) * F + B);
        mb[0] = (logits + features + labels + stats_out) / 1e6;
        mb[1] = (logits + features + labels + weights + stats_in + grads_out) / 1e6;
        mb[2] = (logits + features + labels + weights + stats_out + grads_out) / 1e6;
    }
    Problem(const Problem&) = delete;
    Problem& operator=(const Problem&) = delete;

    int B() const { return B_; }
    int K() const { return K_; }
    int C() const { return C_; }
    int D() const { return D_; }

    mtkd_shape shape;
    mtkd_inputs in;
    mtkd_hyper h;
    mtkd_stats stats;
    mtkd_grads grads;
    double mb[3];  // MB the stats, gradient and fused passes must move

private:
    int B_, K_, C_, D_;
    std::vector<int> widths_, offsets_;
    Floats zs_, zt_, fs_, ft_, wl_, wf_;
    std::vector<int, LineAligned<int>> y_;
    Floats pair_stats_[8], row_stats_[3], row_loss_, dzs_room_, dfs_room_;
};

// The three passes by their names, as both benchmarks take them.
constexpr const char* kPassNames[3] = {"stats", "gradient", "fused"};

// Checks offset as the benchmarks require it (a multiple of 4 bytes below 64); prints the reason and returns false.
inline bool valid_offset(const char* program, int offset) {
    if (offset >= 0 && offset < 64 && offset % 4 == 0) return true;
    std::fprintf(stderr, "%s: offset must be a multiple of 4 bytes below 64\n", program);
    return false;
}

}  // namespace bench
