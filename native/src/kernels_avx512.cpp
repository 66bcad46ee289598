// The kernels instantiated for AVX-512 F/BW/DQ/VL (compiled with the matching -m flags).
// Only code reached after the CPU check in mtkd_context_create may live here.
#include "simd_avx512.h"
#include "distill_kernels.inl"
#include "distill_catalog.inl"
#include "gemm_kernels.inl"

namespace mtkd {

const Kernels& kernels_avx512() {
    static const Kernels table{
        MTKD_SIMD_AVX512,
        VecAvx512::name,
        &distill::stats<VecAvx512>,
        &distill::gradient_block<VecAvx512>,
        &distill::fused<VecAvx512>,
        &distill::exp_array<VecAvx512>,
        &distill::log1p_array<VecAvx512>,
        &distill::expm1_array<VecAvx512>,
        &distill::catalog_losses<VecAvx512>,
        gemm::kMR,
        2 * VecAvx512::W,
        &gemm::tile<VecAvx512>,
    };
    return table;
}

}  // namespace mtkd
