// The few places where c10d differs between libtorch 1.13 (Debian's) and 2.x (the PyTorch wheel), in one header.
#pragma once
#include <torch/version.h>

// c10d's headers declare ProcessGroupGloo only under USE_C10D_GLOO (defined when libtorch itself is compiled with
// Gloo; Debian's and the PyTorch wheel's libtorch both are, and export its symbols). Consumers must define it too.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace tl {
namespace dist {

// 1.13: ProcessGroupGloo derives from ProcessGroup; 2.x: from Backend (ProcessGroup became a dispatcher over
// backends). Both bases declare the collectives we call (allreduce, broadcast, allgather, barrier, ...) with the
// same signatures, so the rest of the code holds the backend through this alias.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

}  // namespace dist
}  // namespace tl
