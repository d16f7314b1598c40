#include "server/config_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "net/async.h"
#include "net/log.h"

namespace socks5::server {
namespace {

// A file is seen to change by these events on its directory: written and closed, renamed or
// linked into place, created, removed. (The directory's own removal ends its watch: IN_IGNORED.)
constexpr std::uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// Kubernetes' AtomicWriter swaps this symlink to publish a ConfigMap's or Secret's new files.
constexpr char kKubernetesData[] = "..data";

// (directory, name) pairs to watch for `path`: its own, and its symlink target's when different.
std::vector<std::pair<std::string, std::string>> Places(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::filesystem::path p = std::filesystem::absolute(path);
  out.emplace_back(p.parent_path().string(), p.filename().string());
  std::error_code ec;
  std::filesystem::path real = std::filesystem::canonical(p, ec);
  if (!ec && real.parent_path() != p.parent_path()) {
    out.emplace_back(real.parent_path().string(), real.filename().string());
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConfigWatcher>> ConfigWatcher::Create(
    asio::io_context& io, const std::vector<std::string>& files, absl::Duration debounce,
    std::function<void()> on_change) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("--watch_config: inotify_init1: ", std::strerror(errno)));
  }
  std::vector<std::string> named;
  for (const std::string& file : files) {
    if (!file.empty()) named.push_back(file);
  }
  std::unique_ptr<ConfigWatcher> watcher(
      new ConfigWatcher(io, fd, std::move(named), debounce, std::move(on_change)));
  if (absl::Status s = watcher->AddWatches(); !s.ok()) return s;
  return watcher;
}

ConfigWatcher::ConfigWatcher(asio::io_context& io, int fd, std::vector<std::string> files,
                             absl::Duration debounce, std::function<void()> on_change)
    : files_(std::move(files)),
      debounce_(debounce),
      on_change_(std::move(on_change)),
      inotify_(io, fd),
      timer_(io) {}

ConfigWatcher::~ConfigWatcher() = default;

absl::Status ConfigWatcher::AddWatches() {
  for (const std::string& file : files_) {
    for (auto& [directory, name] : Places(file)) {
      int wd = inotify_add_watch(inotify_.native_handle(), directory.c_str(), kMask);
      if (wd < 0) {
        return absl::InvalidArgumentError(absl::StrCat("--watch_config: cannot watch ", directory,
                                                       " (for ", file,
                                                       "): ", std::strerror(errno)));
      }
      names_[wd].insert(name);
      names_[wd].insert(kKubernetesData);
    }
  }
  return absl::OkStatus();
}

bool ConfigWatcher::Concerns(int wd, const std::string& name) const {
  auto it = names_.find(wd);
  if (it == names_.end()) return false;
  // An event on the directory itself (deleted or moved: its name is empty) concerns the files.
  return name.empty() || it->second.contains(name);
}

void ConfigWatcher::Start() {
  asio::co_spawn(inotify_.get_executor(), AsyncReadEvents(), asio::detached);
}

void ConfigWatcher::Stop() {
  stopped_ = true;
  std::error_code ignored;
  inotify_.cancel(ignored);
  timer_.cancel();
}

bool ConfigWatcher::ReadEvents() {
  // Big enough for many events at once (each is 16 bytes plus its name, up to NAME_MAX + 1).
  alignas(inotify_event) std::array<char, 16 * 1024> buffer;
  bool changed = false;
  for (;;) {
    ssize_t n = ::read(inotify_.native_handle(), buffer.data(), buffer.size());
    if (n <= 0) return changed;  // EAGAIN: read everything there was
    const auto size = static_cast<std::size_t>(n);
    for (std::size_t at = 0; at + sizeof(inotify_event) <= size;) {
      inotify_event event;
      std::memcpy(&event, buffer.data() + at, sizeof(event));
      const char* name_at = buffer.data() + at + sizeof(event);
      const std::size_t name_room = std::min<std::size_t>(event.len, size - at - sizeof(event));
      // The kernel pads the name with NULs to event.len.
      std::string name(name_at, strnlen(name_at, name_room));
      if ((event.mask & IN_Q_OVERFLOW) != 0 || Concerns(event.wd, name)) changed = true;
      if ((event.mask & IN_IGNORED) != 0) names_.erase(event.wd);  // the directory is gone
      at += sizeof(event) + event.len;
    }
  }
}

asio::awaitable<void> ConfigWatcher::AsyncReadEvents() {
  while (!stopped_) {
    auto [ec] =
        co_await inotify_.async_wait(asio::posix::descriptor_base::wait_read, net::kUseTuple);
    if (ec || stopped_) co_return;
    const bool changed = ReadEvents();
    if (changed && !armed_) {
      armed_ = true;
      asio::co_spawn(inotify_.get_executor(), AsyncDebounce(), asio::detached);
    }
  }
}

asio::awaitable<void> ConfigWatcher::AsyncDebounce() {
  timer_.expires_after(absl::ToChronoNanoseconds(debounce_));
  std::error_code ec = co_await net::AsyncWait(timer_);
  armed_ = false;
  if (ec || stopped_) co_return;
  // A directory replaced since the last time (its old watch ended) is watched again; one that
  // is gone now is logged, and the reload then reports the missing file.
  if (absl::Status s = AddWatches(); !s.ok()) net::LogWarning("%s", s.message());
  on_change_();
}

}  // namespace socks5::server
