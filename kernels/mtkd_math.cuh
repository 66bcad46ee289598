/*
 * mtkd_math.cuh - accurate small quantities shared by the kernels of kernels/ (distill.cu, distill_catalog.cu).
 */
#ifndef MTKD_MATH_CUH
#define MTKD_MATH_CUH

#include "mtkd_cuda.cuh"

/* log(1 + y): a series below |y| = 0.1, where 1 + y would drop y's low digits; truncation < 2e-9 relative. */
MTKD_DEVICE float log1p_accurate(float y) {
    if (y < 0.1f && y > -0.1f)
        return y * (1.f + y * (-1.f / 2 + y * (1.f / 3 + y * (-1.f / 4 + y * (1.f / 5 + y * (-1.f / 6 + y * (1.f / 7 + y * (-1.f / 8))))))));
    return mtkd_log(1.f + y);
}

#endif /* MTKD_MATH_CUH */
