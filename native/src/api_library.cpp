// Library-level exports: last error, version, CPU features and build description.
#include <cstdarg>
#include <cstdio>

#include "boundary.h"
#include "build_info.h"
#include "cpu_features.h"

namespace mtkd {
namespace {
// Fixed storage so recording an error can never allocate (and so never fail) while handling another one.
thread_local char last_error_text[1024] = "";
}  // namespace

std::string format(const char* fmt, ...) {
    char buffer[768];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buffer, sizeof buffer, fmt, args);
    va_end(args);
    return buffer;
}

void throw_invalid(const std::string& message) { throw ApiError(MTKD_INVALID_ARGUMENT, message); }
void throw_unsupported(const std::string& message) { throw ApiError(MTKD_UNSUPPORTED, message); }

void set_last_error(const char* function, const char* message) noexcept {
    std::snprintf(last_error_text, sizeof last_error_text, "%s: %s", function, message);
}

void clear_last_error() noexcept { last_error_text[0] = '\0'; }
const char* last_error() noexcept { return last_error_text; }

}  // namespace mtkd

extern "C" {

MTKD_API const char* mtkd_last_error(void) { return mtkd::last_error(); }
MTKD_API const char* mtkd_version(void) { return MTKD_VERSION_TEXT; }
MTKD_API int32_t mtkd_abi_version(void) { return MTKD_ABI_VERSION; }
MTKD_API int32_t mtkd_cpu_features(void) { return mtkd::detected_cpu_features(); }
MTKD_API const char* mtkd_build_info(void) { return mtkd::build_info(); }
MTKD_API const char* mtkd_gemm_info(void) { return mtkd::gemm_info(); }

}  // extern "C"
