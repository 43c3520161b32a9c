// Process groups and collectives on libtorch's own c10d: a TCPStore for the rendezvous and ProcessGroupGloo for
// CPU tensors (ProcessGroupNCCL where this build has it). Collectives are launched on the JavaScript thread, so
// their order is the program's call order on every rank (c10d matches collectives by order), and awaited on
// libuv's thread pool, so the event loop keeps running while the peers catch up.
#include "bind.h"
#include "common.h"
#include "distributed_async.h"

#include <ATen/CPUGeneratorImpl.h>

// TL_WITH_GLOO: Gloo's headers were found at build time (scripts/libtorch.js; Debian: libgloo-dev). c10d's
// ProcessGroupGloo.hpp needs them; without them the addon still builds and torch.distributed says why it is missing.
#if TL_WITH_GLOO
#include "distributed.h"

#ifdef TL_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif  // TL_WITH_GLOO

#include <map>
#include <mutex>

namespace tl {
namespace dist {

#if TL_WITH_GLOO
namespace {
std::mutex groupMutex;
std::shared_ptr<Group> theGroup;

bool isLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

}  // namespace

// Gloo reduces these dtypes natively; others travel as float32 (bool as uint8) and are copied back.
// libtorch 1.13's Gloo has no bfloat16: bf16 values are exact in float32, and a reduction of two bf16 values
// computed in float32 and rounded once is the correctly rounded bf16 result.
at::ScalarType wireDtype(const Group& g, at::ScalarType t) {
  switch (t) {
    case at::kFloat: case at::kDouble: case at::kHalf: case at::kLong: case at::kInt: case at::kChar: case at::kByte:
      return t;
    case at::kBFloat16:
      return (g.backendName == "nccl" || TORCH_VERSION_MAJOR >= 2) ? t : at::kFloat;
    case at::kBool:
      return at::kByte;
    default:
      throw ArgError(std::string("dtype ") + c10::toString(t) + " is not supported by collectives");
  }
}

namespace {
// A contiguous tensor of a dtype the backend reduces, sharing memory with `t` when that is already the case.
at::Tensor staged(const Group& g, const at::Tensor& t) {
  at::Tensor s = t.detach();
  auto wire = wireDtype(g, s.scalar_type());
  if (wire != s.scalar_type()) s = s.to(wire);
  return s.contiguous();
}

// Writes a staged result back into the caller's tensor when staging made a copy.
void writeBack(const at::Tensor& t, const at::Tensor& s) {
  if (s.data_ptr() == t.data_ptr() && s.scalar_type() == t.scalar_type() && t.is_contiguous()) return;
  t.detach().copy_(s);
}

// A reduction named by JavaScript: 'sum', 'avg', 'max', 'min' or 'product' (its reader is below).
struct Reduction {
  c10d::ReduceOp op;
  bool average;  // the sum is divided by the world size afterwards
};

void checkDevice(const Group& g, const at::Tensor& t, const char* what) {
  if (g.backendName == "nccl" && !t.is_cuda()) throw ArgError(std::string(what) + ": the nccl backend needs CUDA tensors (this one is on " + t.device().str() + ")");
}

std::shared_ptr<Group> createGroup(const std::string& backend, const std::string& host, int port, int rank, int worldSize,
                                   int64_t timeoutMs, bool isServer) {
  auto g = std::make_shared<Group>();
  g->backendName = backend;
  g->rank = rank;
  g->worldSize = worldSize;
  g->timeout = std::chrono::milliseconds(timeoutMs);

  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(port);
  so.isServer = isServer;
  so.numWorkers = static_cast<size_t>(worldSize);
  so.waitWorkers = false;  // the Gloo rendezvous below waits for every rank, within the timeout
  so.timeout = g->timeout;
  // c10d's own messages ("Socket Timeout") do not say what was being waited for.
  auto context = [&](const char* what, const std::string& why) {
    return std::runtime_error(std::string(what) + " for rank " + std::to_string(rank) + " of " + std::to_string(worldSize) + " at " + host +
                              ":" + std::to_string(port) + " did not complete within " + std::to_string(timeoutMs) + " ms: " + why);
  };
  try {
    g->store = c10::make_intrusive<c10d::TCPStore>(host, so);
  } catch (const c10::Error& e) {
    throw context("the TCPStore connection", firstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw context("the TCPStore connection", firstLine(e.what()));
  }

  if (backend == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(g->timeout);
    const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
    if (iface && *iface) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    // Every rank is on this machine when the store is on loopback: bind Gloo there too rather than to whatever
    // the hostname resolves to.
    else if (isLoopback(host)) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    try {
      g->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, worldSize, opts);
    } catch (const c10::Error& e) {
      throw context("the Gloo rendezvous (every rank connecting to every other)", firstLine(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throw context("the Gloo rendezvous (every rank connecting to every other)", firstLine(e.what()));
    }
  } else if (backend == "nccl") {
#ifdef TL_WITH_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = g->timeout;
    try {
      g->backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, rank, worldSize, opts);
    } catch (const c10::Error& e) {
      throw context("the NCCL process group", firstLine(e.what_without_backtrace()));
    }
#else
    throw ArgError("the nccl backend is not available: this build of torch-lora has no NCCL (scripts/libtorch.js decides at build "
                   "time: a CUDA libtorch built with NCCL, and the CUDA and NCCL headers, e.g. from CUDA_HOME; `node scripts/libtorch.js` "
                   "prints ncclWhy); use backend 'gloo'");
#endif
  } else {
    throw ArgError("backend must be 'gloo' or 'nccl', got '" + backend + "'");
  }
  return g;
}
}  // namespace
}  // namespace dist

namespace bound {
template <>
struct Reader<dist::Reduction> {
  static dist::Reduction read(const Info& info, size_t i) {
    std::string op = stringArg(info, i);
    if (op == "sum") return {c10d::ReduceOp::SUM, false};
    // Gloo has no AVG: a sum divided by the world size (what PyTorch asks NCCL for with AVG, too).
    if (op == "avg") return {c10d::ReduceOp::SUM, true};
    if (op == "max") return {c10d::ReduceOp::MAX, false};
    if (op == "min") return {c10d::ReduceOp::MIN, false};
    if (op == "product") return {c10d::ReduceOp::PRODUCT, false};
    throw ArgError("op must be 'sum', 'avg', 'max', 'min' or 'product', got '" + op + "'");
  }
};
}  // namespace bound

namespace dist {
std::shared_ptr<Group> currentGroup() {
  std::lock_guard<std::mutex> lock(groupMutex);
  if (!theGroup) throw ArgError("the default process group is not initialized: call initProcessGroup first");
  return theGroup;
}

void waitFor(const c10::intrusive_ptr<c10d::Work>& work, const char* op) {
  try {
    work->wait();
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string(op) + ": " + firstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(op) + ": " + firstLine(e.what()));
  }
}

namespace {

// ---------------------------------------------------------------- group life cycle
// initProcessGroup(backend, host, port, rank, worldSize, timeoutMs, isServer) -> Promise<void>. The rendezvous
// waits for every rank (up to the timeout), so it runs on the thread pool.
Napi::Value init(Napi::Env env, std::string backend, std::string host, int64_t port, int64_t rank, int64_t world, int64_t timeoutMs,
                 bool isServer) {
  if (backend != "gloo" && backend != "nccl") throw ArgError("backend must be 'gloo' or 'nccl', got '" + backend + "'");
  if (port < 1 || port > 65535) throw ArgError("port must be in 1..65535, got " + std::to_string(port));
  if (world < 1 || world > 65536) throw ArgError("worldSize must be in 1..65536, got " + std::to_string(world));
  if (rank < 0 || rank >= world) throw ArgError("rank must be in 0.." + std::to_string(world - 1) + ", got " + std::to_string(rank));
  if (timeoutMs < 1) throw ArgError("timeoutMs must be positive, got " + std::to_string(timeoutMs));
#ifdef TL_WITH_NCCL
  // Before the rendezvous, so that a rank without a GPU fails at once rather than after its peers time out on it.
  if (backend == "nccl" && !(at::hasCUDA() && at::getNumGPUs() > 0)) {
    throw ArgError("the nccl backend needs a CUDA device, and CUDA is not available here (use backend 'gloo' on CPU)");
  }
#endif
  {
    std::lock_guard<std::mutex> lock(groupMutex);
    if (theGroup) throw ArgError("the default process group is already initialized (destroyProcessGroup first)");
  }
  return queuePromiseJob(
      env, "initProcessGroup",
      [=]() {
        auto g = createGroup(backend, host, static_cast<int>(port), static_cast<int>(rank), static_cast<int>(world), timeoutMs, isServer);
        std::lock_guard<std::mutex> lock(groupMutex);
        if (theGroup) throw std::runtime_error("the default process group was initialized concurrently");
        theGroup = g;
      },
      nullptr);
}

// destroyProcessGroup() -> whether there was one.
bool destroy() {
  std::shared_ptr<Group> g;
  {
    std::lock_guard<std::mutex> lock(groupMutex);
    g.swap(theGroup);
  }
  // The last reference goes here: ProcessGroupGloo's destructor waits for its queued work and joins its threads.
  return g != nullptr;
}

// () -> { rank, worldSize, backend, timeoutMs }, or null without a group (not an error: the group need not exist).
Napi::Value groupInfo(Napi::Env env) {
  std::lock_guard<std::mutex> lock(groupMutex);
  if (!theGroup) return env.Null();
  auto o = Napi::Object::New(env);
  o.Set("rank", theGroup->rank);
  o.Set("worldSize", theGroup->worldSize);
  o.Set("backend", theGroup->backendName);
  o.Set("timeoutMs", static_cast<double>(theGroup->timeout.count()));
  return o;
}

// ---------------------------------------------------------------- collectives
Napi::Value barrier(Napi::Env env, std::shared_ptr<Group> g) {
  auto work = g->backend->barrier();
  return queuePromiseJob(env, "barrier", [g, work]() { waitFor(work, "barrier"); }, nullptr);
}

// allReduce(t, op) in place -> Promise<void>.
Napi::Value allReduce(Napi::Env env, std::shared_ptr<Group> g, at::Tensor& t, Reduction reduction) {
  bool average = reduction.average;
  checkDevice(*g, t, "allReduce");
  if (average && !at::isFloatingType(t.scalar_type())) throw ArgError("op 'avg' needs a floating-point tensor, got " + std::string(c10::toString(t.scalar_type())));
  std::vector<at::Tensor> bufs{staged(*g, t)};
  c10d::AllreduceOptions o;
  o.reduceOp = reduction.op;
  auto work = g->backend->allreduce(bufs, o);
  at::Tensor s = bufs[0];
  return queuePromiseJob(env, "allReduce", [g, work, t, s, average]() {
    waitFor(work, "allReduce");
    if (average) s.div_(g->worldSize);
    writeBack(t, s);
  }, nullptr);
}

// broadcast(t, src) in place -> Promise<void>.
Napi::Value broadcast(Napi::Env env, std::shared_ptr<Group> g, at::Tensor& t, int64_t src) {
  if (src < 0 || src >= g->worldSize) throw ArgError("src must be a rank in 0.." + std::to_string(g->worldSize - 1) + ", got " + std::to_string(src));
  checkDevice(*g, t, "broadcast");
  std::vector<at::Tensor> bufs{staged(*g, t)};
  c10d::BroadcastOptions o;
  o.rootRank = src;
  auto work = g->backend->broadcast(bufs, o);
  at::Tensor s = bufs[0];
  return queuePromiseJob(env, "broadcast", [work, t, s]() {
    waitFor(work, "broadcast");
    writeBack(t, s);
  }, nullptr);
}

// broadcastCoalesced(tensors, src) -> Promise<void>: one broadcast per dtype of all the tensors flattened together
// (DDP's start: every trainable parameter and buffer from rank 0 in a few messages instead of hundreds).
Napi::Value broadcastCoalesced(Napi::Env env, std::shared_ptr<Group> g, std::vector<at::Tensor> ts, int64_t src) {
  if (src < 0 || src >= g->worldSize) throw ArgError("src must be a rank in 0.." + std::to_string(g->worldSize - 1) + ", got " + std::to_string(src));
  std::map<std::pair<int, std::string>, std::vector<at::Tensor>> groups;  // (dtype, device) -> tensors, in order
  for (auto& t : ts) {
    checkDevice(*g, t, "broadcastCoalesced");
    groups[{static_cast<int>(t.scalar_type()), t.device().str()}].push_back(t);
  }
  std::vector<std::pair<std::vector<at::Tensor>, at::Tensor>> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& kv : groups) {
    std::vector<at::Tensor> pieces;
    for (auto& t : kv.second) pieces.push_back(t.detach().reshape({-1}));
    std::vector<at::Tensor> bufs{staged(*g, at::cat(pieces))};
    c10d::BroadcastOptions o;
    o.rootRank = src;
    works.push_back(g->backend->broadcast(bufs, o));
    flats.emplace_back(kv.second, bufs[0]);
  }
  return queuePromiseJob(env, "broadcastCoalesced", [works, flats]() {
    for (auto& w : works) waitFor(w, "broadcastCoalesced");
    at::NoGradGuard noGrad;
    for (auto& f : flats) {
      int64_t offset = 0;
      for (auto& t : f.first) {
        int64_t n = t.numel();
        t.detach().copy_(f.second.narrow(0, offset, n).view(t.sizes()));
        offset += n;
      }
    }
  }, nullptr);
}

// allGather(t) -> Promise<Tensor[]>: same shape and dtype on every rank (the TypeScript layer pads uneven shapes).
Napi::Value allGather(Napi::Env env, std::shared_ptr<Group> g, at::Tensor& t) {
  checkDevice(*g, t, "allGather");
  std::vector<at::Tensor> in{staged(*g, t)};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g->worldSize; ++r) out[0].push_back(at::empty_like(in[0]));
  auto work = g->backend->allgather(out, in);
  auto results = std::make_shared<std::vector<at::Tensor>>(out[0]);
  auto dtype = t.scalar_type();
  return queuePromiseJob(env, "allGather", [work, results, dtype]() {
    waitFor(work, "allGather");
    for (auto& r : *results) if (r.scalar_type() != dtype) r = r.to(dtype);
  }, results);
}

// reduceScatter(inputs, op) -> Promise<Tensor>: rank r gets the reduction over ranks of inputs[r]; inputs[r] may
// have any shape, the same on every rank. Gloo has no reduce-scatter in libtorch 1.13, so every backend runs it as
// one all-reduce of the concatenation and keeps its own slice (twice the traffic of a ring reduce-scatter; see
// docs/distributed.md).
Napi::Value reduceScatter(Napi::Env env, std::shared_ptr<Group> g, std::vector<at::Tensor> inputs, Reduction reduction) {
  bool average = reduction.average;
  if (static_cast<int>(inputs.size()) != g->worldSize) {
    throw ArgError("reduceScatter needs one input per rank (" + std::to_string(g->worldSize) + "), got " + std::to_string(inputs.size()));
  }
  auto dtype = inputs[0].scalar_type();
  std::vector<at::Tensor> pieces;
  int64_t offset = 0, mine = 0;
  for (size_t r = 0; r < inputs.size(); ++r) {
    auto& x = inputs[r];
    checkDevice(*g, x, "reduceScatter");
    if (x.scalar_type() != dtype) throw ArgError("reduceScatter: every input must have the same dtype");
    if (average && !at::isFloatingType(dtype)) throw ArgError("op 'avg' needs a floating-point tensor");
    if (static_cast<int>(r) == g->rank) mine = offset;
    offset += x.numel();
    pieces.push_back(x.detach().reshape({-1}));
  }
  std::vector<at::Tensor> bufs{staged(*g, at::cat(pieces))};
  c10d::AllreduceOptions o;
  o.reduceOp = reduction.op;
  auto work = g->backend->allreduce(bufs, o);
  auto results = std::make_shared<std::vector<at::Tensor>>();
  auto shape = inputs[g->rank].sizes().vec();
  int64_t n = inputs[g->rank].numel();
  at::Tensor s = bufs[0];
  return queuePromiseJob(env, "reduceScatter", [g, work, s, results, shape, n, mine, average, dtype]() {
    waitFor(work, "reduceScatter");
    at::Tensor r = s.narrow(0, mine, n).view(shape);
    if (average) r = r / g->worldSize;
    results->push_back(r.to(dtype).clone());
  }, results, /*single=*/true);
}

}  // namespace
#endif  // TL_WITH_GLOO

namespace {
// randperm(n, seed) -> int64 tensor: torch.randperm(n, generator=torch.Generator().manual_seed(seed)), the
// permutation DistributedSampler draws (each epoch from seed + epoch), without touching the global generator.
at::Tensor randperm(int64_t n, int64_t seed) {
  if (n < 0 || n > (int64_t(1) << 40)) throw ArgError("n must be in 0..2^40, got " + std::to_string(n));
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  return at::randperm(n, gen, at::TensorOptions().dtype(at::kLong));
}
}  // namespace

void registerDistributed(Napi::Env env, Napi::Object exports) {
  TL_BIND(exports, "seededRandperm", randperm);
#if TL_WITH_GLOO
  TL_BIND(exports, "distInit", init);
  TL_BIND(exports, "distDestroy", destroy);
  TL_BIND(exports, "distInfo", groupInfo);
  TL_BIND(exports, "distBarrier", barrier);
  TL_BIND(exports, "distAllReduce", allReduce);
  TL_BIND(exports, "distBroadcast", broadcast);
  TL_BIND(exports, "distBroadcastCoalesced", broadcastCoalesced);
  TL_BIND(exports, "distAllGather", allGather);
  TL_BIND(exports, "distReduceScatter", reduceScatter);
  registerDdp(env, exports);
#else
  // Every name still exists, and says why it cannot work.
  for (const char* name : {"distInit", "distDestroy", "distInfo", "distBarrier", "distAllReduce", "distBroadcast", "distBroadcastCoalesced",
                           "distAllGather", "distReduceScatter", "ddpCreate", "ddpSetSync", "ddpStats", "ddpDispose"}) {
    TL_BIND(exports, name, []() {
      throw ArgError("this build of torch-lora has no torch.distributed: Gloo's headers were missing when it was compiled "
                     "(Debian/Ubuntu: apt-get install libgloo-dev, then npm run build)");
    });
  }
#endif
}

}  // namespace dist
}  // namespace tl
