// The C ABI boundary: every export runs its body through mtkd::guarded, which turns C++ exceptions into a
// status code and a thread-local message, so nothing but a status ever crosses into the caller.
#pragma once

#include <new>
#include <stdexcept>
#include <string>

#include "mtkd.h"

namespace mtkd {

// A failure the caller can act on, carrying the status it maps to.
class ApiError : public std::runtime_error {
public:
    ApiError(mtkd_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    mtkd_status status() const noexcept { return status_; }

private:
    mtkd_status status_;
};

// printf-style formatting for error messages.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void throw_invalid(const std::string& message);
[[noreturn]] void throw_unsupported(const std::string& message);

void set_last_error(const char* function, const char* message) noexcept;
void clear_last_error() noexcept;
const char* last_error() noexcept;

template <class Body>
mtkd_status guarded(const char* function, Body&& body) noexcept {
    try {
        clear_last_error();
        body();
        return MTKD_OK;
    } catch (const ApiError& e) {
        set_last_error(function, e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error(function, "out of memory");
        return MTKD_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(function, e.what());
        return MTKD_INTERNAL;
    } catch (...) {
        set_last_error(function, "unknown internal failure");
        return MTKD_INTERNAL;
    }
}

}  // namespace mtkd
