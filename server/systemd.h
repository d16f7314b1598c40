// systemd integration through libsystemd (Debian libsystemd-dev): the notify protocol (sd_notify:
// READY, RELOADING, STOPPING, STATUS, WATCHDOG) and socket activation (sd_listen_fds). Without
// NOTIFY_SOCKET every notification is a no-op; without LISTEN_FDS the server binds --listen.
#ifndef SOCKS5_SERVER_SYSTEMD_H_
#define SOCKS5_SERVER_SYSTEMD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio.hpp"
#include "server/config.h"
#include "server/worker.h"

namespace socks5::server::systemd {

// READY=1 (after the pending log lines are written, so `listening on` comes first).
void NotifyReady();
// RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>, as systemd 253+ expects.
void NotifyReloading();
// STOPPING=1.
void NotifyStopping();

// --- Socket activation --------------------------------------------------------------------------
// One listening TCP socket systemd passed (LISTEN_FDS), with the address it is bound to.
struct PassedListener {
  int fd;
  asio::ip::tcp::endpoint endpoint;
};

// The sockets passed by socket activation (sd_listen_fds), empty when none were. Each must be a
// listening TCP socket (sd_is_socket_inet) bound to an address --listen would accept
// (CheckOpenProxy: loopback unless --users_file or --allow_open_proxy); anything else is an error
// that names the descriptor.
absl::StatusOr<std::vector<PassedListener>> TakePassedListeners(const Config& config);
// Gives `worker` an acceptor on its own dup of each passed socket (the workers share the
// sockets' accept queues; the kernel wakes them in turn).
absl::Status AdoptListeners(const std::vector<PassedListener>& passed, Worker& worker);
// Closes the passed descriptors themselves, once every worker holds its dup.
void ClosePassed(const std::vector<PassedListener>& passed);

// --- STATUS= and the watchdog -------------------------------------------------------------------
// On the server's signal loop: STATUS=<status()> every kStatusInterval while NOTIFY_SOCKET is
// set and, when sd_watchdog_enabled() says the watchdog is on (WATCHDOG_USEC, WATCHDOG_PID),
// WATCHDOG=1 every half interval, but only when every worker loop has run the probe posted to it
// at the previous tick: a stuck worker loop stops the pings (and systemd restarts the service).
class Notifier {
 public:
  static constexpr std::chrono::seconds kStatusInterval{2};

  Notifier() = default;
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Spawns the timers on `io` (nothing when NOTIFY_SOCKET is unset). `loops`: the workers'
  // loops, which must outlive the run of `io`.
  void Start(asio::io_context& io, std::vector<asio::io_context*> loops,
             std::function<std::string()> status);
  // Cancels the timers; `io` then runs out of this class's work. `io`'s thread only.
  void Stop();

 private:
  struct Probes;  // one heartbeat per worker loop, shared with the probes posted to the loops
  asio::awaitable<void> AsyncStatus();
  asio::awaitable<void> AsyncWatchdog(std::chrono::microseconds interval);

  std::function<std::string()> status_;
  std::vector<asio::io_context*> loops_;
  std::shared_ptr<Probes> probes_;
  std::unique_ptr<asio::steady_timer> status_timer_;
  std::unique_ptr<asio::steady_timer> watchdog_timer_;
  bool stopped_ = false;
};

}  // namespace socks5::server::systemd

#endif  // SOCKS5_SERVER_SYSTEMD_H_
