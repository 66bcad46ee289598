// Validation and the blocked, threaded SGEMM driver (packing and tiling); the micro-kernel per SIMD level
// is gemm_kernels.inl.
//
// C [m,n] is cut into tiles of kMC x kNC; tiles are independent and shared out among threads. For each
// tile, K is walked in slices of kKC: the slice of op(A) is packed into MR-row panels and that of op(B)
// into NR-column panels (zero-padded at the edges, so the micro-kernel never branches on size), which then
// stay in L2 while every MR x NR block of the tile is formed. Only the first K slice applies beta; the
// following ones accumulate (beta = 1).
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "boundary.h"
#include "context.h"
#include "gemm.h"

namespace mtkd {
namespace {

constexpr int kMC = 96;   // multiple of the micro-kernel's MR (6)
constexpr int kKC = 256;
constexpr int kNC = 512;  // multiple of every level's NR (16 or 32)

inline float op_a(const GemmArgs& g, int i, int p) {
    return g.trans_a ? g.a[static_cast<std::size_t>(p) * g.lda + i] : g.a[static_cast<std::size_t>(i) * g.lda + p];
}
inline float op_b(const GemmArgs& g, int p, int j) {
    return g.trans_b ? g.b[static_cast<std::size_t>(j) * g.ldb + p] : g.b[static_cast<std::size_t>(p) * g.ldb + j];
}

// op(A)[i0 .. i0+mc, p0 .. p0+kc] into panels [mc/MR][kc][MR].
void pack_a(const GemmArgs& g, int i0, int mc, int p0, int kc, int mr, float* out) {
    for (int panel = 0; panel * mr < mc; ++panel) {
        float* dst = out + static_cast<std::size_t>(panel) * kc * mr;
        for (int i = 0; i < mr; ++i) {
            int row = panel * mr + i;
            if (row < mc) {
                for (int p = 0; p < kc; ++p) dst[p * mr + i] = op_a(g, i0 + row, p0 + p);
            } else {
                for (int p = 0; p < kc; ++p) dst[p * mr + i] = 0.0f;
            }
        }
    }
}

// op(B)[p0 .. p0+kc, j0 .. j0+nc] into panels [nc/NR][kc][NR].
void pack_b(const GemmArgs& g, int p0, int kc, int j0, int nc, int nr, float* out) {
    for (int panel = 0; panel * nr < nc; ++panel) {
        float* dst = out + static_cast<std::size_t>(panel) * kc * nr;
        int cols = std::min(nr, nc - panel * nr);
        for (int p = 0; p < kc; ++p) {
            float* row = dst + static_cast<std::size_t>(p) * nr;
            for (int j = 0; j < cols; ++j) row[j] = op_b(g, p0 + p, j0 + panel * nr + j);
            for (int j = cols; j < nr; ++j) row[j] = 0.0f;
        }
    }
}

int round_up(int x, int to) { return (x + to - 1) / to * to; }

}  // namespace

GemmArgs make_gemm_args(int32_t trans_a, int32_t trans_b, int32_t m, int32_t n, int32_t k, float alpha,
                        const float* a, int32_t lda, const float* b, int32_t ldb, float beta, float* c, int32_t ldc) {
    if (m < 0) throw_invalid(format("m = %d (must be >= 0)", m));
    if (n < 0) throw_invalid(format("n = %d (must be >= 0)", n));
    if (k < 0) throw_invalid(format("k = %d (must be >= 0)", k));
    GemmArgs g{trans_a != 0, trans_b != 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
    // Row-major storage: A is [m,k] (or [k,m] transposed), B is [k,n] (or [n,k]), C is [m,n].
    int a_cols = g.trans_a ? m : k, b_cols = g.trans_b ? k : n;
    if (lda < std::max(1, a_cols))
        throw_invalid(format("lda = %d is smaller than the %d columns of %s", lda, a_cols, g.trans_a ? "A [k,m]" : "A [m,k]"));
    if (ldb < std::max(1, b_cols))
        throw_invalid(format("ldb = %d is smaller than the %d columns of %s", ldb, b_cols, g.trans_b ? "B [n,k]" : "B [k,n]"));
    if (ldc < std::max(1, n)) throw_invalid(format("ldc = %d is smaller than the %d columns of C [m,n]", ldc, n));
    if (m > 0 && n > 0 && c == nullptr) throw_invalid("c is null");
    bool product = m > 0 && n > 0 && k > 0 && alpha != 0.0f;
    if (product && a == nullptr) throw_invalid("a is null");
    if (product && b == nullptr) throw_invalid("b is null");
    return g;
}

void scale_only(const GemmArgs& g) {
    for (int i = 0; i < g.m; ++i) {
        float* row = g.c + static_cast<std::size_t>(i) * g.ldc;
        if (g.beta == 0.0f) std::fill(row, row + g.n, 0.0f);
        else if (g.beta != 1.0f)
            for (int j = 0; j < g.n; ++j) row[j] *= g.beta;
    }
}

void blocked_sgemm(mtkd_context& ctx, const GemmArgs& g) {
    const Kernels& kern = *ctx.kernels;
    const int mr = kern.gemm_mr, nr = kern.gemm_nr;
    const int tiles_m = (g.m + kMC - 1) / kMC, tiles_n = (g.n + kNC - 1) / kNC;
    const int tiles = tiles_m * tiles_n;
    const int threads = std::max(1, std::min(ctx.threads, tiles));
    const std::size_t a_floats = static_cast<std::size_t>(round_up(kMC, mr)) * kKC;
    const std::size_t b_floats = static_cast<std::size_t>(round_up(kNC, nr)) * kKC;

    std::lock_guard<std::mutex> lock(ctx.mutex);
    ctx.reserve_scratch(threads, a_floats + b_floats);
    parallel_region(threads, [&](int thread, int team) {
        float* packed_a = ctx.scratch(thread);
        float* packed_b = packed_a + a_floats;
        for (int tile = thread; tile < tiles; tile += team) {
            const int i0 = (tile / tiles_n) * kMC, j0 = (tile % tiles_n) * kNC;
            const int mc = std::min(kMC, g.m - i0), nc = std::min(kNC, g.n - j0);
            for (int p0 = 0; p0 < g.k; p0 += kKC) {
                const int kc = std::min(kKC, g.k - p0);
                const float beta = p0 == 0 ? g.beta : 1.0f;
                pack_a(g, i0, mc, p0, kc, mr, packed_a);
                pack_b(g, p0, kc, j0, nc, nr, packed_b);
                for (int jp = 0; jp * nr < nc; ++jp) {
                    for (int ip = 0; ip * mr < mc; ++ip) {
                        float* c = g.c + static_cast<std::size_t>(i0 + ip * mr) * g.ldc + j0 + jp * nr;
                        kern.gemm_tile(kc, packed_a + static_cast<std::size_t>(ip) * kc * mr,
                                       packed_b + static_cast<std::size_t>(jp) * kc * nr, g.alpha, beta, c, g.ldc,
                                       std::min(mr, mc - ip * mr), std::min(nr, nc - jp * nr));
                    }
                }
            }
        }
    });
}

}  // namespace mtkd
