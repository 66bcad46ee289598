// The kernels instantiated for AVX2 + FMA (compiled with -mavx2 -mfma).
// Only code reached after the CPU check in mtkd_context_create may live here.
#include "simd_avx2.h"
#include "distill_kernels.inl"
#include "distill_catalog.inl"
#include "gemm_kernels.inl"

namespace mtkd {

const Kernels& kernels_avx2() {
    static const Kernels table{
        MTKD_SIMD_AVX2,
        VecAvx2::name,
        &distill::stats<VecAvx2>,
        &distill::gradient_block<VecAvx2>,
        &distill::fused<VecAvx2>,
        &distill::exp_array<VecAvx2>,
        &distill::log1p_array<VecAvx2>,
        &distill::expm1_array<VecAvx2>,
        &distill::catalog_losses<VecAvx2>,
        gemm::kMR,
        2 * VecAvx2::W,
        &gemm::tile<VecAvx2>,
    };
    return table;
}

}  // namespace mtkd
