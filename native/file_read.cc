// Reading a whole weights file into memory that the kernel has already mapped in.
//
// On virtual machines every first touch of a fresh page is a page fault, and a 268 MB checkpoint read through
// fs.readFileSync spent about 0.8 s of its 1 s in them. Asking for the whole buffer with MAP_POPULATE maps it in one
// go before pread fills it. The file itself is not memory-mapped: a file truncated by another process while mapped
// would kill this one with SIGBUS.
#include "bind.h"
#include "common.h"

#if defined(__linux__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#endif

namespace tl {
namespace {

#if defined(__linux__)
std::string systemError(const std::string& path, const char* what) { return path + ": " + what + ": " + std::strerror(errno); }

// (path) -> ArrayBuffer holding the file's bytes
Napi::Value readFileBytes(Napi::Env env, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ArgError(systemError(path, "cannot open"));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string msg = systemError(path, "cannot stat");
    ::close(fd);
    throw ArgError(msg);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (data == MAP_FAILED) {
    std::string msg = systemError(path, "cannot allocate memory for");
    ::close(fd);
    throw ArgError(msg);
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, static_cast<char*>(data) + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string msg = n < 0 ? systemError(path, "cannot read") : path + ": the file shrank while it was read";
      ::munmap(data, size);
      ::close(fd);
      throw ArgError(msg);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Napi::ArrayBuffer::New(
      env, data, size, [](Napi::Env, void* p, size_t* len) { ::munmap(p, *len); delete len; }, new size_t(size));
}
#endif

}  // namespace

void registerFileRead(Napi::Env env, Napi::Object exports) {
#if defined(__linux__)
  TL_BIND(exports, "readFileBytes", readFileBytes);
#else
  (void)env;
  (void)exports;
#endif
}

}  // namespace tl
