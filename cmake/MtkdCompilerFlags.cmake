# Compiler flags of the native core.
#
# Never -ffast-math or -ffinite-math-only: the kernels rely on NaN propagating through sums and on
# x - x being NaN exactly when x is not finite (the non-finite input contract of the distillation op).
# -fno-math-errno only lets sqrt/log inline without an errno store; -fno-trapping-math only drops the
# promise that floating-point exceptions are observable, which nothing here reads.

option(MTKD_WARNINGS_AS_ERRORS "Fail the native build on compiler warnings" ON)

function(mtkd_apply_compiler_flags target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
      $<$<CONFIG:Release,RelWithDebInfo>:-O3>
      -fno-math-errno -fno-trapping-math -fno-semantic-interposition
      -ffp-contract=fast)
    if(MTKD_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
    target_link_options(${target} PRIVATE -Wl,--no-undefined -Wl,--as-needed)
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W4 /fp:precise $<$<BOOL:${MTKD_WARNINGS_AS_ERRORS}>:/WX>)
  endif()
endfunction()
