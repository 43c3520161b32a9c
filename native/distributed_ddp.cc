// DistributedDataParallel's gradient averaging, overlapped with the backward pass. A post-hook on each trainable
// parameter's gradient accumulator copies the fresh gradient into its bucket; a full bucket is all-reduced at once
// (on Gloo's threads, while autograd goes on with the earlier layers); a callback queued on the autograd engine
// runs when backward ends, waits for the buckets, and writes the averages back into .grad. Frozen parameters get no
// hook and no bucket, so LoRA moves only A, B and the saved heads.
//
// Buckets are launched strictly in order (bucket k only after k-1), so every rank issues the same sequence of
// collectives even if its gradients arrive in a different order.
#if TL_WITH_GLOO  // see native/distributed.cc
#include "bind.h"
#include "common.h"
#include "distributed.h"
#include "distributed_async.h"

#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <map>
#include <mutex>

namespace tl {
namespace dist {
namespace {

struct Bucket {
  std::vector<size_t> params;   // indices into GradSync::params
  std::vector<int64_t> offsets; // element offset of each parameter in `flat`
  at::Tensor flat;
  size_t ready = 0;
  c10::intrusive_ptr<c10d::Work> work;
};

class GradSync : public std::enable_shared_from_this<GradSync> {
 public:
  GradSync(std::shared_ptr<Group> g, std::vector<at::Tensor> params, std::vector<std::string> names, int64_t bucketBytes,
           bool findUnused)
      : group_(std::move(g)), params_(std::move(params)), names_(std::move(names)), findUnused_(findUnused) {
    // Backward produces the last layers' gradients first: buckets are filled in reverse parameter order.
    std::map<std::pair<int, std::string>, size_t> open;  // (wire dtype, device) -> bucket being filled
    slot_.resize(params_.size());
    for (size_t k = params_.size(); k-- > 0;) {
      auto& p = params_[k];
      auto wire = wireDtype(*group_, p.scalar_type());
      auto key = std::make_pair(static_cast<int>(wire), p.device().str());
      auto it = open.find(key);
      int64_t bytes = p.numel() * c10::elementSize(wire);
      if (it == open.end() || (sizes_[it->second] > 0 && sizes_[it->second] + bytes > bucketBytes)) {
        buckets_.emplace_back();
        sizes_.push_back(0);
        wires_.push_back(wire);
        devices_.push_back(p.device());
        open[key] = buckets_.size() - 1;
        it = open.find(key);
      }
      auto& b = buckets_[it->second];
      slot_[k] = {it->second, b.params.size()};
      b.offsets.push_back(sizes_[it->second] / static_cast<int64_t>(c10::elementSize(wire)));
      b.params.push_back(k);
      sizes_[it->second] += bytes;
    }
    for (size_t i = 0; i < buckets_.size(); ++i) {
      buckets_[i].flat = at::zeros({sizes_[i] / static_cast<int64_t>(c10::elementSize(wires_[i]))},
                                   at::TensorOptions().dtype(wires_[i]).device(devices_[i]));
    }
    marked_.assign(params_.size(), false);
  }

  void attachHooks() {
    std::weak_ptr<GradSync> weak = shared_from_this();
    for (size_t k = 0; k < params_.size(); ++k) {
      auto acc = torch::autograd::impl::grad_accumulator(params_[k]);
      if (!acc) throw ArgError("parameter '" + names_[k] + "' is not a leaf that requires grad");
      acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
          [weak, k](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
            if (auto self = weak.lock()) self->gradReady(k);
            return outputs;
          }));
      accumulators_.push_back(acc);  // the parameter holds its accumulator weakly; the hook must outlive backward
    }
  }

  bool setEnabled(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    bool was = enabled_;
    enabled_ = on;
    return was;
  }

  Napi::Object stats(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mu_);
    auto o = Napi::Object::New(env);
    int64_t total = 0;
    for (auto s : sizes_) total += s;
    o.Set("buckets", static_cast<double>(buckets_.size()));
    o.Set("bytesPerSync", static_cast<double>(total));
    o.Set("syncs", static_cast<double>(syncs_));
    o.Set("waitMs", waitSeconds_ * 1000.0);
    o.Set("bucketsLaunchedDuringBackward", static_cast<double>(overlapped_));
    return o;
  }

 private:
  void gradReady(size_t k) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!enabled_) return;  // noSync(): gradients accumulate locally, the next synced backward averages the sum
    if (!inBackward_) begin();
    // Autograd accumulates each leaf once per backward, and the end-of-backward callback clears the marks: a mark
    // still set means the previous backward failed before its end, leaving this rank's collectives out of step
    // with the other ranks'. Say so rather than average the wrong buckets.
    if (marked_[k]) {
      inBackward_ = false;
      throw std::runtime_error("DistributedDataParallel: a previous backward pass failed before it ended, so this rank's "
                               "gradient all-reduces are out of step with the other ranks; restart from a checkpoint");
    }
    marked_[k] = true;
    auto [bi, pos] = slot_[k];
    auto& b = buckets_[bi];
    auto& p = params_[k];
    at::Tensor slice = b.flat.narrow(0, b.offsets[pos], p.numel());
    const at::Tensor& g = p.grad();
    if (g.defined()) slice.copy_(g.reshape({-1}));
    else slice.zero_();
    ++b.ready;
    size_t before = next_;
    launchReady();
    overlapped_ += static_cast<int64_t>(next_) - before;
  }

  void begin() {
    inBackward_ = true;
    next_ = 0;
    std::fill(marked_.begin(), marked_.end(), false);
    for (auto& b : buckets_) { b.ready = 0; b.work.reset(); }
    std::weak_ptr<GradSync> weak = shared_from_this();
    torch::autograd::Engine::get_default_engine().queue_callback([weak]() {
      if (auto self = weak.lock()) self->finish();
    });
  }

  void launchReady() {
    while (next_ < buckets_.size() && buckets_[next_].ready == buckets_[next_].params.size()) {
      std::vector<at::Tensor> bufs{buckets_[next_].flat};
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      buckets_[next_].work = group_->backend->allreduce(bufs, o);
      ++next_;
    }
  }

  // End of backward: the buckets of parameters that got no gradient go out with zeros (so that every rank still
  // issues the same collectives), then the averages are written into .grad.
  void finish() {
    std::lock_guard<std::mutex> lock(mu_);
    inBackward_ = false;
    std::string unused;
    for (size_t k = 0; k < params_.size(); ++k) {
      if (marked_[k]) continue;
      auto [bi, pos] = slot_[k];
      auto& b = buckets_[bi];
      b.flat.narrow(0, b.offsets[pos], params_[k].numel()).zero_();
      ++b.ready;
      if (unused.size() < 400) unused += (unused.empty() ? "" : ", ") + names_[k];
    }
    launchReady();
    auto t0 = std::chrono::steady_clock::now();
    for (auto& b : buckets_) waitFor(b.work, "DistributedDataParallel gradient all-reduce");
    waitSeconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++syncs_;
    at::NoGradGuard noGrad;
    for (auto& b : buckets_) {
      b.flat.div_(group_->worldSize);
      for (size_t j = 0; j < b.params.size(); ++j) {
        auto& p = params_[b.params[j]];
        at::Tensor avg = b.flat.narrow(0, b.offsets[j], p.numel()).view(p.sizes());
        auto& g = p.mutable_grad();
        if (g.defined()) g.copy_(avg);
        else g = avg.to(p.scalar_type()).clone();
      }
    }
    if (!unused.empty() && !findUnused_) {
      throw std::runtime_error(
          "DistributedDataParallel: these parameters received no gradient in this backward pass: " + unused +
          ". Pass findUnusedParameters: true (their gradient is then averaged as zero on this rank), or freeze them");
    }
  }

  std::shared_ptr<Group> group_;
  std::vector<at::Tensor> params_;
  std::vector<std::string> names_;
  bool findUnused_;
  std::vector<Bucket> buckets_;
  std::vector<int64_t> sizes_;  // bytes per bucket
  std::vector<at::ScalarType> wires_;
  std::vector<at::Device> devices_;
  std::vector<std::pair<size_t, size_t>> slot_;  // parameter -> (bucket, position)
  std::vector<bool> marked_;
  std::vector<decltype(torch::autograd::impl::grad_accumulator(at::Tensor()))> accumulators_;
  std::mutex mu_;
  bool enabled_ = true, inBackward_ = false;
  size_t next_ = 0;
  int64_t syncs_ = 0;
  int64_t overlapped_ = 0;  // buckets launched from a gradient hook, i.e. while backward was still running
  double waitSeconds_ = 0;
};

std::mutex registryMutex;
std::map<int64_t, std::shared_ptr<GradSync>> registry;
int64_t nextId = 1;

// The parameters' names, for the errors: an array (each element as a string); ddpCreate checks there is one per
// parameter.
struct ParamNames {
  std::vector<std::string> list;
};
}  // namespace
}  // namespace dist

namespace bound {
template <>
struct Reader<dist::ParamNames> {
  static dist::ParamNames read(const Info& info, size_t i) {
    if (i >= info.Length() || !info[i].IsArray()) throw ArgError("names must list one name per parameter");
    auto arr = info[i].As<Napi::Array>();
    dist::ParamNames names;
    for (uint32_t k = 0; k < arr.Length(); ++k) names.list.push_back(Napi::Value(arr[k]).ToString().Utf8Value());
    return names;
  }
};
// A std::shared_ptr<GradSync> parameter reads the id ddpCreate returned.
template <>
struct Reader<std::shared_ptr<dist::GradSync>> {
  static std::shared_ptr<dist::GradSync> read(const Info& info, size_t i) {
    int64_t id = intArg(info, i);
    std::lock_guard<std::mutex> lock(dist::registryMutex);
    auto it = dist::registry.find(id);
    if (it == dist::registry.end()) throw ArgError("this DistributedDataParallel has been disposed");
    return it->second;
  }
};
}  // namespace bound

namespace dist {
namespace {
// ddpCreate(params, names, bucketBytes, findUnused) -> id
int64_t create(std::shared_ptr<Group> g, std::vector<at::Tensor> params, ParamNames paramNames, int64_t bucketBytes, bool findUnused) {
  std::vector<std::string>& names = paramNames.list;
  if (names.size() != params.size()) throw ArgError("names must list one name per parameter");
  if (bucketBytes < 1) throw ArgError("bucketCapMB must be positive");
  for (size_t k = 0; k < params.size(); ++k) {
    if (!params[k].requires_grad() || !params[k].is_leaf()) throw ArgError("parameter '" + names[k] + "' is not a leaf that requires grad");
    if (g->backendName == "nccl" && !params[k].is_cuda()) throw ArgError("parameter '" + names[k] + "' is on " + params[k].device().str() + ": the nccl backend needs CUDA");
  }
  auto sync = std::make_shared<GradSync>(g, std::move(params), std::move(names), bucketBytes, findUnused);
  sync->attachHooks();
  std::lock_guard<std::mutex> lock(registryMutex);
  int64_t id = nextId++;
  registry[id] = sync;
  return id;
}
}  // namespace

void registerDdp(Napi::Env env, Napi::Object exports) {
  using Sync = std::shared_ptr<GradSync>;
  TL_BIND(exports, "ddpCreate", create);
  // (id, on) -> the previous setting
  TL_BIND(exports, "ddpSetSync", [](Sync sync, bool on) { return sync->setEnabled(on); });
  TL_BIND(exports, "ddpStats", [](Napi::Env env, Sync sync) -> Napi::Value { return sync->stats(env); });
  // The hooks stay on the accumulators but hold the synchroniser weakly: once it is gone they do nothing.
  TL_BIND(exports, "ddpDispose", [](int64_t id) {
    std::lock_guard<std::mutex> lock(registryMutex);
    registry.erase(id);
  });
}

}  // namespace dist
}  // namespace tl
#endif  // TL_WITH_GLOO
