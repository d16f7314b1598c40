// --watch_config: reloads the users and rules files when they change, as SIGHUP does. Kubernetes
// updates a mounted ConfigMap or Secret by writing a new timestamped directory and swapping the
// `..data` symlink beside the files (which are symlinks through it), so the files' own inodes are
// never written: the watch is on each file's directory (inotify), for the file's name and for
// `..data`. An editor's save, a `mv` into place, a `cp` over the file and a symlink swap all count.
//
// Debounced: the first change of a burst arms a timer; every change until it fires is part of
// the same reload (a ConfigMap update is several renames and deletes within milliseconds). So a
// writer that changes the files without pause costs one reload per `debounce`, never more.
#ifndef SOCKS5_SERVER_CONFIG_WATCH_H_
#define SOCKS5_SERVER_CONFIG_WATCH_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "asio.hpp"

namespace socks5::server {

class ConfigWatcher {
 public:
  // Watches the directories of `files` (empty paths are skipped; a symlink's target directory
  // is watched too). `on_change` runs on `io`'s thread, `debounce` after the first change of a
  // burst. An error (no inotify, a directory that does not exist) says which path.
  static absl::StatusOr<std::unique_ptr<ConfigWatcher>> Create(
      asio::io_context& io, const std::vector<std::string>& files, absl::Duration debounce,
      std::function<void()> on_change);
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Starts reading events on `io`. The coroutines it starts hold `this`: destroy the watcher
  // only after Stop() and after `io` has run out of work (its run() returned).
  void Start();
  // On `io`'s thread: no more callbacks; the waits finish, cancelled, on `io`.
  void Stop();

 private:
  ConfigWatcher(asio::io_context& io, int fd, std::vector<std::string> files,
                absl::Duration debounce, std::function<void()> on_change);
  // (Re)adds a watch for every directory the files live in (a replaced directory gets a new
  // watch descriptor); false with the error when one cannot be watched.
  absl::Status AddWatches();
  // Reads every queued event (not a coroutine: the buffer is on the thread's stack, aligned for
  // inotify_event); true when one concerns a watched file.
  bool ReadEvents();
  asio::awaitable<void> AsyncReadEvents();
  asio::awaitable<void> AsyncDebounce();
  // True when an event on `name` in the directory watched as `wd` concerns a watched file.
  bool Concerns(int wd, const std::string& name) const;

  std::vector<std::string> files_;
  absl::Duration debounce_;
  std::function<void()> on_change_;
  asio::posix::stream_descriptor inotify_;
  asio::steady_timer timer_;
  bool armed_ = false;    // a debounce wait is running
  bool stopped_ = false;  // Stop() was called
  // Watch descriptor -> the names in that directory that matter.
  absl::flat_hash_map<int, absl::flat_hash_set<std::string>> names_;
};

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_CONFIG_WATCH_H_
