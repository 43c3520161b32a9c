// The per-thread tensor table: handles in, tensors out (common.h says how a handle is made and why).
#include "common.h"

#include <atomic>
#include <random>

namespace tl {

namespace {
thread_local TensorTable* currentTable = nullptr;
thread_local napi_env currentEnv = nullptr;
constexpr int64_t kExternalMemoryFlushBytes = 1 << 20;

int64_t ownedBytes(const at::Tensor& t) {
  if (!t.defined() || t.is_view() || !t.has_storage()) return 0;
  return static_cast<int64_t>(t.storage().nbytes());
}
}  // namespace

TensorTable& table() {
  if (!currentTable) throw std::runtime_error("torch-lora native module is not initialised on this thread");
  return *currentTable;
}

namespace {
constexpr int kIndexBits = 20;       // 1,048,576 live tensors per thread
constexpr int kGenerationBits = 11;  // a slot is reused 2,048 times before a stale handle of it could match again
static_assert(kIndexBits + kGenerationBits == 31, "handles must be positive small integers (V8 Smis)");
constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
constexpr uint32_t kGenerationMask = (1u << kGenerationBits) - 1;
constexpr int64_t kHandleMax = (int64_t{1} << 31) - 1;
std::atomic<uint32_t> tablesMade{0};

uint32_t randomKey() {
  std::random_device device;
  // The counter keeps two tables of one process apart even where random_device is a fixed sequence.
  return (device() ^ (tablesMade.fetch_add(1) * 0x9E3779B9u)) & static_cast<uint32_t>(kHandleMax);
}
}  // namespace

TensorTable::TensorTable() : key_(randomKey()) {}

int64_t TensorTable::insert(at::Tensor t) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() > kIndexMask) throw std::runtime_error("more than 1,048,576 live tensors on this thread: dispose some (tidy, dispose)");
    index = static_cast<uint32_t>(slots_.size());
    slots_.push_back(Slot{at::Tensor(), 0, 0});
  }
  Slot& slot = slots_[index];
  uint32_t handle = ((slot.generation << kIndexBits) | index) ^ key_;
  if (handle == 0) {  // 0 is what NaN and other junk read as: skip that generation
    slot.generation = (slot.generation + 1) & kGenerationMask;
    handle = ((slot.generation << kIndexBits) | index) ^ key_;
  }
  slot.tensor = std::move(t);
  slot.handle = handle;
  pendingBytes_ += ownedBytes(slot.tensor);
  ++live_;
  if (pendingBytes_ > kExternalMemoryFlushBytes || pendingBytes_ < -kExternalMemoryFlushBytes) flushExternalMemory(currentEnv);
  return handle;
}

// One comparison decides: the slot's live handle carries the same generation and index under this table's key.
int64_t TensorTable::indexOf(int64_t h) const {
  uint32_t index = (static_cast<uint32_t>(h) ^ key_) & kIndexMask;
  if (h <= 0 || h > kHandleMax || index >= slots_.size() || slots_[index].handle != h) return -1;
  return index;
}

const char* TensorTable::problem(int64_t h) const {
  if (h == -1) return "a tensor that has been disposed";  // what Tensor.dispose() leaves in the object
  if (h <= 0 || h > kHandleMax) return "not a tensor handle";
  int64_t index = indexOf(h);
  if (index < 0 || !slots_[index].tensor.defined()) {
    return "not a live tensor of this thread (it has been disposed, or it was made in another thread: send data between threads, not tensors)";
  }
  return nullptr;
}

at::Tensor* TensorTable::find(int64_t h) {
  int64_t index = indexOf(h);
  if (index < 0 || !slots_[index].tensor.defined()) return nullptr;
  return &slots_[index].tensor;
}

bool TensorTable::valid(int64_t h) const { return problem(h) == nullptr; }

at::Tensor& TensorTable::get(int64_t h) {
  if (at::Tensor* t = find(h)) return *t;
  throw ArgError(std::string("expected a live tensor, got ") + problem(h));
}

void TensorTable::release(int64_t h) {
  int64_t index = indexOf(h);
  if (index < 0) return;  // not ours to free
  Slot& slot = slots_[index];
  pendingBytes_ -= ownedBytes(slot.tensor);
  slot.tensor = at::Tensor();
  slot.handle = 0;
  slot.generation = (slot.generation + 1) & kGenerationMask;
  free_.push_back(static_cast<uint32_t>(index));
  --live_;
  if (pendingBytes_ > kExternalMemoryFlushBytes || pendingBytes_ < -kExternalMemoryFlushBytes) flushExternalMemory(currentEnv);
}

void TensorTable::flushExternalMemory(napi_env env) {
  if (!env || pendingBytes_ == 0) return;
  int64_t result;
  napi_adjust_external_memory(env, pendingBytes_, &result);
  pendingBytes_ = 0;
}

void TensorTable::clear() {
  slots_.clear();
  free_.clear();
  live_ = 0;
}

void initTable(Napi::Env env) {
  auto* t = new TensorTable();
  currentTable = t;
  currentEnv = env;
  // Freed with the environment (a worker thread exiting), together with every tensor it still holds.
  env.SetInstanceData<TensorTable>(t);
}

}  // namespace tl
