// The process-wide process group (one per process, as torch.distributed's default group) shared by the
// collectives (distributed.cc) and the DDP gradient synchronisation (distributed_ddp.cc).
#pragma once
#include "bind.h"
#include "distributed_compat.h"

#include <string>

namespace tl {
namespace dist {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> backend;
  std::string backendName;  // "gloo" or "nccl"
  int rank = 0;
  int worldSize = 1;
  std::chrono::milliseconds timeout{0};
};

// The current group; throws a clear error when initProcessGroup has not run (or destroyProcessGroup has).
std::shared_ptr<Group> currentGroup();

// The dtype a tensor travels in (its own where the backend reduces it, else float32 or uint8).
at::ScalarType wireDtype(const Group& g, at::ScalarType t);

// Waits for a collective and turns c10d's/gloo's exception into one line that names the operation.
void waitFor(const c10::intrusive_ptr<c10d::Work>& work, const char* op);

}  // namespace dist

namespace bound {
// A std::shared_ptr<dist::Group> parameter of a TL_BIND entry point is the current group: it takes no argument, and
// comes first, so that "not initialized" is reported before anything about the arguments.
template <>
struct Reader<std::shared_ptr<dist::Group>> {
  static constexpr size_t width = 0;
  static std::shared_ptr<dist::Group> read(const Info&, size_t) { return dist::currentGroup(); }
};
}  // namespace bound
}  // namespace tl
