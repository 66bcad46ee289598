/*
 * cuemu.cpp - the CPU emulator's runtime: kernel registry, launch checks, and the block executor.
 *
 * A launch runs its blocks one after another on a pool of OS threads, one per thread of the block, so
 * the threads of a block really run concurrently (a missing barrier is a real race, not hidden by a
 * fixed interleaving). All barrier state of the running block sits under one mutex, which also gives
 * the happens-before edges that make shared-memory writes before a barrier visible after it.
 *
 * Barriers: __syncthreads waits for every thread of the block; __syncwarp and every shuffle wait for
 * every lane of the warp. Shuffles write the lane's value into one of two slot arrays, pass the warp
 * barrier, and read the source lane's slot; alternating the two arrays makes one barrier per shuffle
 * enough (a lane can only overwrite an array after the next barrier, which every lane reaches only
 * after it has read that array).
 *
 * Hangs become errors: the executor counts threads waiting at a barrier and threads that have left
 * the kernel; when all live threads wait and none of their barriers can complete (a __syncthreads
 * inside a branch, a shuffle not every lane reaches), the launch stops with an error instead of
 * hanging. A failed launch-contract check (MTKD_KERNEL_REQUIRE) does not stop the launch: the kernel
 * returns, as on a GPU, and the failure waits for mtkd_cuemu_take_contract_failure. Shared memory is filled with NaN bytes before each block, so reading a value no thread of
 * this block wrote shows up as NaN.
 *
 * Modes (mtkd_cuemu_options): blocks may run two (or more) at a time, each with its own threads, barriers
 * and shared memory, so races between blocks show; exp/log may carry the GPU's approximation error.
 *
 * Limits: blocks run one at a time unless asked otherwise; a shuffle or __syncwarp must involve every lane of the warp;
 * values exchanged by shuffles are at most 8 bytes; atomics are std::atomic_ref (sequentially
 * consistent, stronger than the GPU's relaxed atomics); memory accesses are not bounds-checked.
 */
#include "cuemu.h"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "cuemu_device.h"

namespace mtkd_emu {

thread_local dim3_value thread_idx, block_idx, block_dim, grid_dim;

namespace {

constexpr int kWarpSize = 32;
constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kDefaultDynamicSmem = 48 * 1024;
constexpr int kMaxSmemOptin = 232448;
constexpr int kMaxStaticSmem = 48 * 1024;
constexpr unsigned kMaxGridX = 0x7fffffffu, kMaxGridYZ = 65535u;
constexpr unsigned kMaxBlockXY = 1024u, kMaxBlockZ = 64u;
constexpr std::size_t kSmemAlignment = 128;
constexpr std::size_t kThreadStack = 512 * 1024;

thread_local std::string last_error;
/* The contract failure of the calling thread's last launch, until taken. */
thread_local int pending_contract_line = 0;
thread_local std::string pending_contract_error;

mtkd_cuemu_status fail(mtkd_cuemu_status status, std::string message) {
    last_error = std::move(message);
    return status;
}

struct kernel_entry {
    std::string name;
    kernel_invoker invoke;
    std::vector<std::size_t> parameters;
    std::atomic<int> max_dynamic_smem{kDefaultDynamicSmem};
};

struct kernel_registry {
    std::mutex mutex;
    std::vector<std::unique_ptr<kernel_entry>> kernels;

    kernel_entry* find(const char* name) {
        if (name == nullptr) return nullptr;
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& k : kernels)
            if (k->name == name) return k.get();
        return nullptr;
    }
};

kernel_registry& registry() {
    static kernel_registry r;
    return r;
}

/* Unwinds a worker out of the kernel once the launch has failed; never leaves a worker thread. */
struct launch_aborted {};

struct aligned_buffer {
    std::byte* data = nullptr;
    std::size_t bytes = 0;
    explicit aligned_buffer(std::size_t n) : bytes(n) {
        const std::size_t rounded = std::max<std::size_t>(kSmemAlignment, (n + kSmemAlignment - 1) / kSmemAlignment * kSmemAlignment);
        data = static_cast<std::byte*>(std::aligned_alloc(kSmemAlignment, rounded));
        if (data == nullptr) throw std::bad_alloc();
    }
    ~aligned_buffer() { std::free(data); }
    aligned_buffer(const aligned_buffer&) = delete;
    aligned_buffer& operator=(const aligned_buffer&) = delete;
    void poison() { std::memset(data, 0xff, bytes); }
};

struct warp_state {
    int lanes = kWarpSize;
    int arrived = 0;
    unsigned generation = 0;
    std::condition_variable cv;
    std::uint64_t slots[2][kWarpSize] = {};
};

struct launch_state {
    const kernel_entry* kernel = nullptr;
    void* const* args = nullptr;
    dim3_value grid{}, block{};
    int threads = 0;
    unsigned long long blocks = 0;
    unsigned long long current_block = 0;
    unsigned long long block_stride = 1; /* this team runs blocks current_block, + stride, ... */
    bool approximate = false;

    std::mutex mutex;
    std::condition_variable start_cv, block_cv, done_cv;
    bool started = false;
    bool aborted = false;
    mtkd_cuemu_status status = MTKD_CUEMU_OK;
    std::string error;
    int contract_line = 0; /* the first failed MTKD_KERNEL_REQUIRE of this launch, and what it said */
    std::string contract_error;

    int block_arrived = 0;
    unsigned block_generation = 0;
    int blocked = 0; /* threads waiting at a barrier */
    int exited = 0;  /* threads that have left the kernel for the current block */
    unsigned long long epoch = 0;
    std::vector<std::unique_ptr<warp_state>> warps;

    std::unique_ptr<aligned_buffer> dynamic_smem, static_smem;
    unsigned dynamic_bytes = 0;

    std::string where() const {
        char text[96];
        const unsigned long long gx = grid.x, gy = grid.y;
        std::snprintf(text, sizeof text, "block (%llu,%llu,%llu)", current_block % gx, current_block / gx % gy,
                      current_block / (gx * gy));
        return text;
    }

    void abort_locked(mtkd_cuemu_status why, const std::string& message) {
        if (!aborted) {
            aborted = true;
            status = why;
            error = message;
        }
        start_cv.notify_all();
        block_cv.notify_all();
        done_cv.notify_all();
        for (auto& w : warps) w->cv.notify_all();
    }

    void check_deadlock_locked() {
        if (blocked > 0 && blocked + exited == threads)
            abort_locked(MTKD_CUEMU_KERNEL_FAILED,
                         "kernel '" + kernel->name + "', " + where() +
                             ": every live thread waits at a barrier that can never complete (a __syncthreads, "
                             "__syncwarp or shuffle that not every thread of the block or warp reaches)");
    }
};

struct thread_state {
    launch_state* launch = nullptr;
    warp_state* warp = nullptr;
    int lane = 0;
    int phase = 0;
    std::size_t static_cursor = 0;
};

thread_local thread_state tls;

launch_state& current_launch() { return *tls.launch; }

[[noreturn]] void abort_launch(mtkd_cuemu_status why, const std::string& message) {
    auto& L = current_launch();
    {
        std::lock_guard<std::mutex> lock(L.mutex);
        L.abort_locked(why, message);
    }
    throw launch_aborted{};
}

void warp_barrier() {
    auto& L = current_launch();
    auto& W = *tls.warp;
    std::unique_lock<std::mutex> lock(L.mutex);
    if (L.aborted) throw launch_aborted{};
    const unsigned generation = W.generation;
    if (++W.arrived == W.lanes) {
        W.arrived = 0;
        ++W.generation;
        L.blocked -= W.lanes - 1;
        W.cv.notify_all();
        return;
    }
    ++L.blocked;
    L.check_deadlock_locked();
    W.cv.wait(lock, [&] { return W.generation != generation || L.aborted; });
    if (W.generation == generation) throw launch_aborted{};
}

void check_warp_mask(unsigned mask, const char* what) {
    const int lanes = tls.warp->lanes;
    const unsigned needed = lanes == kWarpSize ? 0xffffffffu : (1u << lanes) - 1u;
    if ((mask & needed) != needed) {
        char text[64];
        std::snprintf(text, sizeof text, "0x%08x", mask);
        abort_launch(MTKD_CUEMU_UNSUPPORTED, "kernel '" + current_launch().kernel->name + "': " + what + " with mask " +
                                                 text + " leaves out lanes of the warp; the emulator runs only "
                                                        "whole-warp exchanges");
    }
}

struct start_arguments {
    launch_state* launch;
    int linear;
};

void run_blocks(launch_state& L, int linear) {
    const auto block = L.block;
    tls = thread_state{};
    tls.launch = &L;
    tls.warp = L.warps[static_cast<std::size_t>(linear / kWarpSize)].get();
    tls.lane = linear % kWarpSize;
    thread_idx = {static_cast<unsigned>(linear) % block.x, static_cast<unsigned>(linear) / block.x % block.y,
                  static_cast<unsigned>(linear) / (block.x * block.y)};
    block_dim = block;
    grid_dim = L.grid;
    unsigned long long first = 0;
    {
        std::unique_lock<std::mutex> lock(L.mutex);
        L.start_cv.wait(lock, [&] { return L.started || L.aborted; });
        if (L.aborted) return;
        first = L.current_block;
    }
    for (unsigned long long b = first; b < L.blocks; b += L.block_stride) {
        const unsigned long long gx = L.grid.x, gy = L.grid.y;
        block_idx = {static_cast<unsigned>(b % gx), static_cast<unsigned>(b / gx % gy), static_cast<unsigned>(b / (gx * gy))};
        tls.static_cursor = 0;
        tls.phase = 0;
        try {
            L.kernel->invoke(L.args);
        } catch (const launch_aborted&) {
            return;
        } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(L.mutex);
            L.abort_locked(MTKD_CUEMU_INTERNAL, std::string("kernel '") + L.kernel->name + "' threw: " + e.what());
            return;
        } catch (...) {
            std::lock_guard<std::mutex> lock(L.mutex);
            L.abort_locked(MTKD_CUEMU_INTERNAL, "kernel '" + L.kernel->name + "' threw an unknown exception");
            return;
        }

        std::unique_lock<std::mutex> lock(L.mutex);
        if (L.aborted) return;
        const unsigned long long epoch = L.epoch;
        if (++L.exited == L.threads) {
            /* Last thread out prepares the next block. */
            L.exited = 0;
            L.blocked = 0;
            L.block_arrived = 0;
            for (auto& w : L.warps) w->arrived = 0;
            L.dynamic_smem->poison();
            L.static_smem->poison();
            L.current_block += L.block_stride;
            ++L.epoch;
            L.done_cv.notify_all();
        } else {
            L.check_deadlock_locked();
            L.done_cv.wait(lock, [&] { return L.epoch != epoch || L.aborted; });
            if (L.epoch == epoch) return;
        }
    }
}

void* thread_main(void* p) {
    const auto a = *static_cast<start_arguments*>(p);
    run_blocks(*a.launch, a.linear);
    return nullptr;
}

mtkd_cuemu_status check_geometry(uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz) {
    char text[160];
    if (gx == 0 || gy == 0 || gz == 0 || gx > kMaxGridX || gy > kMaxGridYZ || gz > kMaxGridYZ) {
        std::snprintf(text, sizeof text, "grid (%u,%u,%u) is outside the device limits (1..%u, 1..%u, 1..%u)", gx, gy, gz,
                      kMaxGridX, kMaxGridYZ, kMaxGridYZ);
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, text);
    }
    const unsigned long long threads = 1ull * bx * by * bz;
    if (bx == 0 || by == 0 || bz == 0 || bx > kMaxBlockXY || by > kMaxBlockXY || bz > kMaxBlockZ ||
        threads > static_cast<unsigned long long>(kMaxThreadsPerBlock)) {
        std::snprintf(text, sizeof text, "block (%u,%u,%u) is outside the device limits (at most %d threads, z <= %u)", bx,
                      by, bz, kMaxThreadsPerBlock, kMaxBlockZ);
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, text);
    }
    return MTKD_CUEMU_OK;
}

mtkd_cuemu_status launch(const char* name, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz,
                         uint32_t dynamic_smem, void* const* args, const int32_t* arg_sizes, int32_t arg_count,
                         const mtkd_cuemu_options* options) {
    kernel_entry* kernel = registry().find(name);
    if (kernel == nullptr)
        return fail(MTKD_CUEMU_INVALID_ARGUMENT,
                    std::string("no kernel named '") + (name ? name : "(null)") + "' is registered");
    const auto expected = static_cast<int32_t>(kernel->parameters.size());
    if (arg_count != expected)
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, "kernel '" + kernel->name + "' takes " + std::to_string(expected) +
                                                     " parameters, the launch passed " + std::to_string(arg_count));
    if (expected > 0 && (args == nullptr || arg_sizes == nullptr))
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, "kernel '" + kernel->name + "': argument arrays are null");
    for (int32_t i = 0; i < expected; ++i) {
        if (args[i] == nullptr)
            return fail(MTKD_CUEMU_INVALID_ARGUMENT,
                        "kernel '" + kernel->name + "': argument " + std::to_string(i) + " points nowhere");
        if (arg_sizes[i] < 0 || static_cast<std::size_t>(arg_sizes[i]) != kernel->parameters[static_cast<std::size_t>(i)])
            return fail(MTKD_CUEMU_INVALID_ARGUMENT,
                        "kernel '" + kernel->name + "': parameter " + std::to_string(i) + " is " +
                            std::to_string(kernel->parameters[static_cast<std::size_t>(i)]) +
                            " bytes, the launch passed " + std::to_string(arg_sizes[i]));
    }
    if (auto s = check_geometry(gx, gy, gz, bx, by, bz); s != MTKD_CUEMU_OK) return s;
    const int limit = kernel->max_dynamic_smem.load();
    if (dynamic_smem > static_cast<uint32_t>(limit))
        return fail(MTKD_CUEMU_INVALID_ARGUMENT,
                    "kernel '" + kernel->name + "': " + std::to_string(dynamic_smem) +
                        " bytes of dynamic shared memory exceed its limit of " + std::to_string(limit) +
                        " (raise it with the max-dynamic-shared-memory attribute, up to " +
                        std::to_string(kMaxSmemOptin) + ")");

    pending_contract_line = 0;
    pending_contract_error.clear();
    /* One team of threads per block running at once; team i runs blocks i, i + teams, ... */
    const unsigned long long blocks = 1ull * gx * gy * gz;
    const int requested = options != nullptr ? std::max(1, options->concurrent_blocks) : 1;
    const int teams = static_cast<int>(std::min<unsigned long long>(static_cast<unsigned long long>(requested), blocks));
    std::vector<std::unique_ptr<launch_state>> states;
    for (int team = 0; team < teams; ++team) {
        auto state = std::make_unique<launch_state>();
        launch_state& L = *state;
        L.kernel = kernel;
        L.args = args;
        L.grid = {gx, gy, gz};
        L.block = {bx, by, bz};
        L.threads = static_cast<int>(bx * by * bz);
        L.blocks = blocks;
        L.current_block = static_cast<unsigned long long>(team);
        L.block_stride = static_cast<unsigned long long>(teams);
        L.approximate = options != nullptr && options->approximate_math != 0;
        L.dynamic_bytes = dynamic_smem;
        for (int first = 0; first < L.threads; first += kWarpSize) {
            auto w = std::make_unique<warp_state>();
            w->lanes = std::min(kWarpSize, L.threads - first);
            L.warps.push_back(std::move(w));
        }
        L.dynamic_smem = std::make_unique<aligned_buffer>(dynamic_smem);
        L.static_smem = std::make_unique<aligned_buffer>(kMaxStaticSmem);
        L.dynamic_smem->poison();
        L.static_smem->poison();
        states.push_back(std::move(state));
    }

    const int threads = static_cast<int>(bx * by * bz);
    std::vector<start_arguments> starts(static_cast<std::size_t>(threads * teams));
    std::vector<pthread_t> workers;
    workers.reserve(starts.size());
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kThreadStack);
    for (int team = 0; team < teams; ++team) {
        launch_state& L = *states[static_cast<std::size_t>(team)];
        for (int i = 0; i < threads; ++i) {
            auto& start = starts[static_cast<std::size_t>(team * threads + i)];
            start = {&L, i};
            pthread_t t;
            if (pthread_create(&t, &attr, thread_main, &start) != 0) {
                std::lock_guard<std::mutex> lock(L.mutex);
                L.abort_locked(MTKD_CUEMU_OUT_OF_MEMORY,
                               "could not start " + std::to_string(threads * teams) + " threads for " +
                                   std::to_string(teams) + " block(s)");
                break;
            }
            workers.push_back(t);
        }
    }
    pthread_attr_destroy(&attr);
    for (auto& state : states) {
        std::lock_guard<std::mutex> lock(state->mutex);
        state->started = true;
        state->start_cv.notify_all();
    }
    for (auto t : workers) pthread_join(t, nullptr);
    for (auto& state : states)
        if (state->aborted) return fail(state->status, state->error);
    for (auto& state : states) {
        if (state->contract_line != 0) {
            pending_contract_line = state->contract_line;
            pending_contract_error = std::move(state->contract_error);
            break;
        }
    }
    return MTKD_CUEMU_OK;
}

}  // namespace

void register_kernel(const char* name, kernel_invoker invoke, std::vector<std::size_t> parameter_sizes) {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (auto& k : r.kernels)
        if (k->name == name) return;
    auto entry = std::make_unique<kernel_entry>();
    entry->name = name;
    entry->invoke = std::move(invoke);
    entry->parameters = std::move(parameter_sizes);
    r.kernels.push_back(std::move(entry));
}

void syncthreads() {
    auto& L = current_launch();
    std::unique_lock<std::mutex> lock(L.mutex);
    if (L.aborted) throw launch_aborted{};
    const unsigned generation = L.block_generation;
    if (++L.block_arrived == L.threads) {
        L.block_arrived = 0;
        ++L.block_generation;
        L.blocked -= L.threads - 1;
        L.block_cv.notify_all();
        return;
    }
    ++L.blocked;
    L.check_deadlock_locked();
    L.block_cv.wait(lock, [&] { return L.block_generation != generation || L.aborted; });
    if (L.block_generation == generation) throw launch_aborted{};
}

void syncwarp(unsigned mask) {
    check_warp_mask(mask, "__syncwarp");
    warp_barrier();
}

int lane_id() { return tls.lane; }

void warp_exchange(unsigned mask, const void* value, void* result, std::size_t bytes, int src_lane) {
    check_warp_mask(mask, "a warp shuffle");
    if (bytes > sizeof(std::uint64_t))
        abort_launch(MTKD_CUEMU_UNSUPPORTED, "kernel '" + current_launch().kernel->name +
                                                 "': a warp shuffle of more than 8 bytes");
    auto& W = *tls.warp;
    const int phase = tls.phase;
    tls.phase ^= 1;
    std::memcpy(&W.slots[phase][tls.lane], value, bytes);
    warp_barrier();
    const int src = src_lane >= 0 && src_lane < W.lanes ? src_lane : tls.lane;
    std::memcpy(result, &W.slots[phase][src], bytes);
}

void* dynamic_shared() { return current_launch().dynamic_smem->data; }

bool approximate_math() { return current_launch().approximate; }

namespace {

/* Denormal inputs and results are flushed to zero, as by the .ftz forms. */
float flush_denormal(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }

/* A deterministic error in [-1, 1] from the argument's bits, standing in for the hardware's. */
double pseudo_error(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    bits ^= bits >> 16;
    bits *= 0x7feb352du;
    bits ^= bits >> 15;
    bits *= 0x846ca68bu;
    bits ^= bits >> 16;
    return static_cast<double>(bits) / 2147483647.5 - 1.0;
}

}  // namespace

/* ex2.approx.ftz.f32: the exact 2^x off by up to 2 ulp (a relative 2^-22), denormals flushed. */
float approx_exp2(float x) {
    x = flush_denormal(x);
    if (std::isnan(x)) return x;
    const double exact = std::exp2(static_cast<double>(x));
    return flush_denormal(static_cast<float>(exact * (1.0 + std::ldexp(pseudo_error(x), -22))));
}

/* lg2.approx.ftz.f32: off by up to 2^-22 absolute for x in [0.5, 2], a relative 2^-22 elsewhere. */
float approx_log2(float x) {
    x = flush_denormal(x);
    if (std::isnan(x) || x <= 0.0f || std::isinf(x)) return std::log2(x);
    const double exact = std::log2(static_cast<double>(x));
    const double error = x >= 0.5f && x <= 2.0f ? std::ldexp(pseudo_error(x), -22)
                                                : exact * std::ldexp(pseudo_error(x), -22);
    return static_cast<float>(exact + error);
}

unsigned dynamic_shared_bytes() { return current_launch().dynamic_bytes; }

void* static_shared(std::size_t bytes, std::size_t align) {
    auto& L = current_launch();
    const std::size_t a = std::max<std::size_t>(align, 16);
    const std::size_t start = (tls.static_cursor + a - 1) / a * a;
    if (start + bytes > static_cast<std::size_t>(kMaxStaticSmem) ||
        start + bytes + L.dynamic_bytes > static_cast<std::size_t>(kMaxSmemOptin))
        abort_launch(MTKD_CUEMU_KERNEL_FAILED,
                     "kernel '" + L.kernel->name + "': " + std::to_string(start + bytes) +
                         " bytes of static shared memory (with " + std::to_string(L.dynamic_bytes) +
                         " dynamic) exceed the device limits");
    tls.static_cursor = start + bytes;
    return L.static_smem->data + start;
}

void contract_failed(const char* condition, const char* file, int line) {
    auto& L = current_launch();
    char text[64];
    std::snprintf(text, sizeof text, "thread (%u,%u,%u)", thread_idx.x, thread_idx.y, thread_idx.z);
    const char* base = std::strrchr(file, '/');
    std::lock_guard<std::mutex> lock(L.mutex);
    if (L.contract_line != 0) return;
    L.contract_line = line;
    L.contract_error = "kernel '" + L.kernel->name + "', " + L.where() + " " + text + ": check failed: " + condition +
                       " (" + (base ? base + 1 : file) + ":" + std::to_string(line) + ")";
}

}  // namespace mtkd_emu

using namespace mtkd_emu;

extern "C" {

MTKD_CUEMU_API const char* mtkd_cuemu_last_error(void) { return last_error.c_str(); }

MTKD_CUEMU_API const char* mtkd_cuemu_version(void) { return "mtkd_cuemu 1.0"; }

MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_get_limits(mtkd_cuemu_limits* out) {
    if (out == nullptr) return fail(MTKD_CUEMU_INVALID_ARGUMENT, "mtkd_cuemu_get_limits: out is null");
    out->warp_size = kWarpSize;
    out->max_threads_per_block = kMaxThreadsPerBlock;
    out->default_dynamic_smem = kDefaultDynamicSmem;
    out->max_smem_per_block_optin = kMaxSmemOptin;
    out->max_static_smem = kMaxStaticSmem;
    return MTKD_CUEMU_OK;
}

MTKD_CUEMU_API int32_t mtkd_cuemu_kernel_count(void) {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return static_cast<int32_t>(r.kernels.size());
}

MTKD_CUEMU_API const char* mtkd_cuemu_kernel_name(int32_t index) {
    auto& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (index < 0 || static_cast<std::size_t>(index) >= r.kernels.size()) return nullptr;
    return r.kernels[static_cast<std::size_t>(index)]->name.c_str();
}

MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_kernel_parameters(const char* name, int32_t* sizes, int32_t capacity,
                                                              int32_t* count) {
    const kernel_entry* k = registry().find(name);
    if (k == nullptr)
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, std::string("no kernel named '") + (name ? name : "(null)") + "' is registered");
    if (count == nullptr || (capacity > 0 && sizes == nullptr))
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, "mtkd_cuemu_kernel_parameters: output pointer is null");
    *count = static_cast<int32_t>(k->parameters.size());
    for (int32_t i = 0; i < capacity && static_cast<std::size_t>(i) < k->parameters.size(); ++i)
        sizes[i] = static_cast<int32_t>(k->parameters[static_cast<std::size_t>(i)]);
    return MTKD_CUEMU_OK;
}

MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_set_max_dynamic_smem(const char* name, int32_t bytes) {
    kernel_entry* k = registry().find(name);
    if (k == nullptr)
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, std::string("no kernel named '") + (name ? name : "(null)") + "' is registered");
    if (bytes < 0 || bytes > kMaxSmemOptin)
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, "kernel '" + k->name + "': maximum dynamic shared memory " +
                                                     std::to_string(bytes) + " is outside [0, " +
                                                     std::to_string(kMaxSmemOptin) + "]");
    k->max_dynamic_smem.store(bytes);
    return MTKD_CUEMU_OK;
}

MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_get_max_dynamic_smem(const char* name, int32_t* bytes) {
    const kernel_entry* k = registry().find(name);
    if (k == nullptr)
        return fail(MTKD_CUEMU_INVALID_ARGUMENT, std::string("no kernel named '") + (name ? name : "(null)") + "' is registered");
    if (bytes == nullptr) return fail(MTKD_CUEMU_INVALID_ARGUMENT, "mtkd_cuemu_get_max_dynamic_smem: bytes is null");
    *bytes = k->max_dynamic_smem.load();
    return MTKD_CUEMU_OK;
}

MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_take_contract_failure(int32_t* line) {
    if (line == nullptr) return fail(MTKD_CUEMU_INVALID_ARGUMENT, "mtkd_cuemu_take_contract_failure: line is null");
    *line = pending_contract_line;
    if (pending_contract_line != 0) last_error = pending_contract_error;
    pending_contract_line = 0;
    pending_contract_error.clear();
    return MTKD_CUEMU_OK;
}

MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_launch(const char* name, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx,
                                                   uint32_t by, uint32_t bz, uint32_t dynamic_smem, void* const* args,
                                                   const int32_t* arg_sizes, int32_t arg_count) {
    return mtkd_cuemu_launch_with(name, gx, gy, gz, bx, by, bz, dynamic_smem, args, arg_sizes, arg_count, nullptr);
}

MTKD_CUEMU_API mtkd_cuemu_status mtkd_cuemu_launch_with(const char* name, uint32_t gx, uint32_t gy, uint32_t gz,
                                                        uint32_t bx, uint32_t by, uint32_t bz, uint32_t dynamic_smem,
                                                        void* const* args, const int32_t* arg_sizes, int32_t arg_count,
                                                        const mtkd_cuemu_options* options) {
    try {
        return launch(name, gx, gy, gz, bx, by, bz, dynamic_smem, args, arg_sizes, arg_count, options);
    } catch (const std::bad_alloc&) {
        return fail(MTKD_CUEMU_OUT_OF_MEMORY, "out of host memory for the launch of '" + std::string(name ? name : "") + "'");
    } catch (const std::exception& e) {
        return fail(MTKD_CUEMU_INTERNAL, std::string("launch failed: ") + e.what());
    } catch (...) {
        return fail(MTKD_CUEMU_INTERNAL, "launch failed with an unknown exception");
    }
}

}  // extern "C"
