// The kernels instantiated for the portable traits (no intrinsics; the baseline instruction set).
// Only code reached after the CPU check in mtkd_context_create may live here.
#include "simd_portable.h"
#include "distill_kernels.inl"
#include "distill_catalog.inl"
#include "gemm_kernels.inl"

namespace mtkd {

const Kernels& kernels_scalar() {
    static const Kernels table{
        MTKD_SIMD_SCALAR,
        VecPortable::name,
        &distill::stats<VecPortable>,
        &distill::gradient_block<VecPortable>,
        &distill::fused<VecPortable>,
        &distill::exp_array<VecPortable>,
        &distill::log1p_array<VecPortable>,
        &distill::expm1_array<VecPortable>,
        &distill::catalog_losses<VecPortable>,
        gemm::kMR,
        2 * VecPortable::W,
        &gemm::tile<VecPortable>,
    };
    return table;
}

}  // namespace mtkd
