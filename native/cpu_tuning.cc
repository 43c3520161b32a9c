// CPU memory settings that change the whole process, so they are opt-in: a library embedded in a server must not
// swap its allocator or retune malloc behind its back. `cpu.enableTuning()` (or TORCH_LORA_CPU_TUNING=1 at load,
// read by lib/cpu.ts) turns them on; our CLI, demo and benchmarks do, where the gain is measured (docs/performance.md).
//
// Why: by default glibc serves every allocation above 128 KiB (a threshold that adapts only up to 32 MiB) with a
// fresh mmap and returns it to the kernel on free, so the activations of every training step are page-faulted in
// again. On a virtual machine a page fault costs tens of microseconds: DistilBERT's LoRA step at 8x512 tokens took
// 1.2 million faults, more than half of its time (stock PyTorch takes as many). So, when enabled:
//
// 1. Tensor data goes through a caching CPU allocator (CachingCpuAllocator below): blocks of 1 MiB and more get
//    their own mappings and are kept, by size class, for the next tensor of that size; steady-state training and
//    inference then take no page faults. Keeping large blocks out of the malloc heap also keeps it from
//    fragmenting, so the peak RSS is lower than with glibc's heap. `cpu.emptyCache()` returns the cached blocks.
// 2. Optionally (`malloc: true`), glibc malloc serves blocks up to 32 MiB from its heap (M_MMAP_THRESHOLD) and keeps
//    up to 256 MiB of free memory at the top of the heap (M_TRIM_THRESHOLD). Explicit malloc settings win: with
//    malloc tunables in GLIBC_TUNABLES, or any MALLOC_*_ variable, malloc is left as configured.
//
// The cache holds at most `cacheMb` MiB of free blocks (TORCH_LORA_CPU_CACHE_MB, default 4096).
#include "bind.h"
#include "common.h"
#include "compat.h"

#include <c10/core/impl/alloc_cpu.h>


#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__linux__)
#include <dlfcn.h>
#include <sys/mman.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tl {
namespace {

struct CpuTuning {
  std::mutex mu;  // worker threads share the process: enabling and disabling are serialised
  bool mallocTuned = false;
  bool cachingAllocator = false;
  c10::Allocator* previous = nullptr;  // libtorch's allocator, restored by disable
};

CpuTuning& tuning() {
  static CpuTuning* t = new CpuTuning();  // never freed: tensors may outlive everything else at exit
  return *t;
}

void tuneMalloc() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "glibc.malloc.")) return;
  for (const char* name : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TOP_PAD_"}) {
    if (std::getenv(name)) return;
  }
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1 && ok;
  tuning().mallocTuned = ok;
#endif
}

#if defined(__linux__)
// The CPU allocator for tensor data. Blocks of 1 MiB and more get their own mappings and, when freed, go to a
// cache of free blocks by size class (eight classes per power of two) instead of back to the kernel: the next
// step's tensors of the same shapes reuse them without a page fault. Smaller blocks come from malloc. The cache
// holds at most `limit` bytes (TORCH_LORA_CPU_CACHE_MB, default 4096); past that the oldest free blocks are
// unmapped. Every block starts with a 64-byte header (its size) so that the raw deleter, which oneDNN uses, needs
// nothing but the data pointer; data stays 64-byte aligned as with c10's allocator.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kHeader = 64;
  static constexpr size_t kLarge = 1 << 20;
  static constexpr uint64_t kSmallMagic = 0x746c536d616c6c31ULL;  // "tlSmall1"
  static constexpr uint64_t kLargeMagic = 0x746c4c6172676531ULL;  // "tlLarge1"
  static constexpr uint64_t kUncachedMagic = 0x746c556e63616331ULL;  // "tlUncac1": a large block unmapped when freed

  explicit CachingCpuAllocator(size_t limit) : limit_(limit) {}

  c10::DataPtr allocate(size_t n) TL_ALLOCATE_CONST override {
    if (n == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};
    void* data = n + kHeader >= kLarge ? allocateLarge(n) : allocateSmall(n);
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &release; }
#if TL_ALLOCATOR_HAS_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif

  static CachingCpuAllocator* instance;

  // The block behind `data`, if it is one of ours and large, goes back to the system when freed instead of to the
  // cache. For bulk frees whose sizes will not be asked for again (a cast model's old weights): cached, they
  // would stay mapped beside the new ones.
  static void skipCache(const c10::DataPtr& ptr) {
    if (ptr.get_deleter() != &release || !ptr.get()) return;
    auto* h = reinterpret_cast<Header*>(static_cast<char*>(ptr.get()) - kHeader);
    if (h->magic == kLargeMagic) h->magic = kUncachedMagic;
  }

  size_t cachedBytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cachedBytes_;
  }
  size_t mappedBytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return mappedBytes_;
  }
  void emptyCache() const {
    std::lock_guard<std::mutex> lock(mu_);
    while (!lru_.empty()) evictOldestLocked();
  }
  void setLimit(size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = limit;
    while (cachedBytes_ > limit_ && !lru_.empty()) evictOldestLocked();
  }
  // Disabled: blocks freed from now on are unmapped at once instead of cached (tensors made while it was enabled
  // still come back here to be freed).
  void setCaching(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    caching_ = on;
    if (!on) while (!lru_.empty()) evictOldestLocked();
  }

 private:
  struct Header {
    uint64_t magic;
    size_t size;  // the whole mapping, header included
  };
  struct Free {
    void* base;
    size_t size;
  };

  static size_t sizeClass(size_t total) {
    size_t pow2 = size_t(1) << (63 - __builtin_clzll(total));
    size_t step = pow2 / 8;
    return (total + step - 1) / step * step;  // a multiple of 128 KiB at least: whole pages
  }

  static void* allocateSmall(size_t n) {
    void* base = nullptr;
    if (posix_memalign(&base, kHeader, n + kHeader) != 0 || !base) {
      TORCH_CHECK(false, "DefaultCPUAllocator: not enough memory: you tried to allocate ", n, " bytes.");
    }
    auto* h = static_cast<Header*>(base);
    h->magic = kSmallMagic;
    h->size = n + kHeader;
    return static_cast<char*>(base) + kHeader;
  }

  void* allocateLarge(size_t n) const {
    const size_t size = sizeClass(n + kHeader);
    void* base = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = byClass_.find(size);
      if (it != byClass_.end() && !it->second.empty()) {
        auto pos = it->second.back();  // the most recently freed: the likeliest to be in cache
        it->second.pop_back();
        base = pos->base;
        cachedBytes_ -= size;
        lru_.erase(pos);
      }
    }
    if (!base) {
      base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) {
        emptyCache();
        base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      }
      if (base == MAP_FAILED) TORCH_CHECK(false, "DefaultCPUAllocator: not enough memory: you tried to allocate ", n, " bytes.");
      std::lock_guard<std::mutex> lock(mu_);
      mappedBytes_ += size;
    }
    auto* h = static_cast<Header*>(base);
    h->magic = kLargeMagic;
    h->size = size;
    return static_cast<char*>(base) + kHeader;
  }

  static void release(void* data) {
    if (!data) return;
    void* base = static_cast<char*>(data) - kHeader;
    auto* h = static_cast<Header*>(base);
    if (h->magic == kSmallMagic) {
      std::free(base);
      return;
    }
    if (h->magic == kUncachedMagic) {
      instance->unmapLarge(base, h->size);
      return;
    }
    if (h->magic != kLargeMagic) {
      // A raw block that libtorch's own allocator handed out before this one was installed (raw_allocate, then
      // raw_deallocate through whichever allocator is current): give it back the way c10 allocated it.
      c10::free_cpu(data);
      return;
    }
    instance->cacheLarge(base, h->size);
  }

  void unmapLarge(void* base, size_t size) const {
    munmap(base, size);
    std::lock_guard<std::mutex> lock(mu_);
    mappedBytes_ -= size;
  }

  void cacheLarge(void* base, size_t size) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (!caching_) {
      munmap(base, size);
      mappedBytes_ -= size;
      return;
    }
    lru_.push_front({base, size});
    byClass_[size].push_back(lru_.begin());
    cachedBytes_ += size;
    while (cachedBytes_ > limit_ && !lru_.empty()) evictOldestLocked();
  }

  void evictOldestLocked() const {
    auto last = std::prev(lru_.end());
    auto& list = byClass_[last->size];
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (*it == last) {
        list.erase(it);
        break;
      }
    }
    munmap(last->base, last->size);
    cachedBytes_ -= last->size;
    mappedBytes_ -= last->size;
    lru_.erase(last);
  }

  size_t limit_;
  bool caching_ = true;
  mutable std::mutex mu_;
  mutable std::list<Free> lru_;  // front: most recently freed
  mutable std::unordered_map<size_t, std::vector<std::list<Free>::iterator>> byClass_;
  mutable size_t cachedBytes_ = 0;
  mutable size_t mappedBytes_ = 0;
};
CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

void installAllocator(size_t limitBytes) {
  auto& t = tuning();
  if (!CachingCpuAllocator::instance) CachingCpuAllocator::instance = new CachingCpuAllocator(limitBytes);  // never freed
  CachingCpuAllocator::instance->setLimit(limitBytes);
  CachingCpuAllocator::instance->setCaching(true);
  if (!t.cachingAllocator) {
    t.previous = c10::GetAllocator(c10::DeviceType::CPU);
    c10::SetAllocator(c10::DeviceType::CPU, CachingCpuAllocator::instance, /*priority=*/1);
    t.cachingAllocator = true;
  }
}

void uninstallAllocator() {
  auto& t = tuning();
  if (!t.cachingAllocator) return;
  c10::SetAllocator(c10::DeviceType::CPU, t.previous, /*priority=*/1);
  CachingCpuAllocator::instance->setCaching(false);
  t.cachingAllocator = false;
}
#endif

// The OpenBLAS kernel set in use (e.g. "Haswell", "Cooperlake"), for benchmark reports; empty without OpenBLAS.
std::string openBlasCore() {
#if defined(__linux__)
  auto corename = reinterpret_cast<const char* (*)()>(dlsym(RTLD_DEFAULT, "gotoblas_corename"));
  if (corename) return corename();
#endif
  return "";
}

}  // namespace

// (cacheMb, tuneMalloc): turns the caching allocator on (again: a new cache limit) and, if asked, tunes malloc.
void enableCpuTuning(int64_t cacheMb, bool tuneMallocToo) {
  if (cacheMb < 0 || cacheMb > (int64_t(1) << 30)) throw ArgError("cacheMb must be between 0 and 2^30, got " + std::to_string(cacheMb));
  auto& t = tuning();
  std::lock_guard<std::mutex> lock(t.mu);
#if defined(__linux__)
  installAllocator(static_cast<size_t>(cacheMb) << 20);
#endif
  if (tuneMallocToo && !t.mallocTuned) tuneMalloc();
}

// () : back to libtorch's allocator; the cache is emptied. (malloc settings, once made, stay: glibc has no undo.)
void disableCpuTuning() {
  auto& t = tuning();
  std::lock_guard<std::mutex> lock(t.mu);
#if defined(__linux__)
  uninstallAllocator();
#endif
}

void skipCpuCache(const at::Tensor& t) {
#if defined(__linux__)
  if (CachingCpuAllocator::instance && t.defined() && t.has_storage() && t.device().is_cpu()) {
    CachingCpuAllocator::skipCache(t.storage().data_ptr());
  }
#endif
}

void emptyCpuCache() {
#if defined(__linux__)
  if (CachingCpuAllocator::instance) CachingCpuAllocator::instance->emptyCache();
#endif
}

// () -> { enabled, mallocTuned, cachingAllocator, cachedBytes, mappedBytes, blasCore }
Napi::Value cpuTuningInfo(Napi::Env env) {
  auto& t = tuning();
  auto out = Napi::Object::New(env);
  out.Set("enabled", Napi::Boolean::New(env, t.cachingAllocator));
  out.Set("mallocTuned", Napi::Boolean::New(env, t.mallocTuned));
  out.Set("cachingAllocator", Napi::Boolean::New(env, t.cachingAllocator));
  double cached = 0, mapped = 0;
#if defined(__linux__)
  if (CachingCpuAllocator::instance) {
    cached = static_cast<double>(CachingCpuAllocator::instance->cachedBytes());
    mapped = static_cast<double>(CachingCpuAllocator::instance->mappedBytes());
  }
#endif
  out.Set("cachedBytes", Napi::Number::New(env, cached));
  out.Set("mappedBytes", Napi::Number::New(env, mapped));
  std::string core = openBlasCore();
  out.Set("blasCore", core.empty() ? env.Null() : Napi::String::New(env, core));
  return out;
}

void registerCpuTuning(Napi::Env env, Napi::Object exports) {
  TL_BIND(exports, "cpuTuning", cpuTuningInfo);
  TL_BIND(exports, "enableCpuTuning", enableCpuTuning);
  TL_BIND(exports, "disableCpuTuning", disableCpuTuning);
  TL_BIND(exports, "emptyCpuCache", emptyCpuCache);
}

}  // namespace tl
