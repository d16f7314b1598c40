#include "server/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"

namespace socks5::server::systemd {
namespace {

bool NotifySocketSet() { return std::getenv("NOTIFY_SOCKET") != nullptr; }

void Notify(const std::string& state) {
  // 0: NOTIFY_SOCKET unset (nothing to do); < 0: the socket is gone, which must not stop serving.
  if (sd_notify(0, state.c_str()) < 0) {
    static net::RateLimitedWarning failed("sd_notify", "failed", "notifications");
    failed.Warn("sd_notify(%s): failed", state.substr(0, state.find('\n')));
  }
}

std::string DescriptorText(int fd) {
  return absl::StrCat("socket activation: passed descriptor ", fd);
}

void LogCompletion(const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    net::LogError("systemd notifier ended by an exception: %s", ex.what());
  }
}

}  // namespace

void NotifyReady() {
  if (!NotifySocketSet()) return;
  net::FlushLog();  // the journal shows `listening on` before systemd's "Started"
  Notify("READY=1");
}

void NotifyReloading() {
  if (!NotifySocketSet()) return;
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const std::uint64_t usec = static_cast<std::uint64_t>(now.tv_sec) * 1000000 +
                             static_cast<std::uint64_t>(now.tv_nsec) / 1000;
  Notify(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", usec));
}

void NotifyStopping() { Notify("STOPPING=1"); }

// --- Socket activation ---------------------------------------------------------------------------

absl::StatusOr<std::vector<PassedListener>> TakePassedListeners(const Config& config) {
  const int n = sd_listen_fds(0);
  if (n < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("socket activation: LISTEN_FDS: ", std::strerror(-n)));
  }
  std::vector<PassedListener> passed;
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; ++fd) {
    // AF_INET or AF_INET6, SOCK_STREAM, listening: what an acceptor can serve.
    const int is_tcp = sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, /*listening=*/1, 0);
    if (is_tcp <= 0) {
      const int is_stream = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, -1);
      const int is_listening = sd_is_socket(fd, AF_UNSPEC, 0, 1);
      return absl::FailedPreconditionError(absl::StrCat(
          DescriptorText(fd), " is not a listening TCP socket (",
          is_tcp < 0                               ? std::strerror(-is_tcp)
          : is_stream > 0 && is_listening > 0      ? "a listening stream socket, not IPv4/IPv6"
          : is_stream > 0                          ? "a stream socket that is not listening"
          : sd_is_socket(fd, AF_UNSPEC, 0, -1) > 0 ? "not a stream socket"
                                                   : "not a socket",
          "): the .socket unit needs ListenStream=HOST:PORT"));
    }
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(DescriptorText(fd), ": getsockname: ", std::strerror(errno)));
    }
    asio::ip::tcp::endpoint endpoint;
    endpoint.resize(length);
    std::memcpy(endpoint.data(), &address, length);
    passed.push_back(PassedListener{fd, endpoint});
  }
  std::vector<asio::ip::tcp::endpoint> endpoints;
  endpoints.reserve(passed.size());
  for (const auto& listener : passed) endpoints.push_back(listener.endpoint);
  if (absl::Status s = CheckOpenProxy(config, endpoints); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("socket activation: ", s.message()));
  }
  return passed;
}

absl::Status AdoptListeners(const std::vector<PassedListener>& passed, Worker& worker) {
  for (const auto& listener : passed) {
    const int fd = ::fcntl(listener.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      return absl::UnavailableError(
          absl::StrCat(DescriptorText(listener.fd), ": dup: ", std::strerror(errno)));
    }
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(worker.io());
    std::error_code ec;
    acceptor->assign(listener.endpoint.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return absl::UnavailableError(absl::StrCat(DescriptorText(listener.fd), ": ", ec.message()));
    }
    // As for --listen's sockets (net::ListenOptions::no_delay): accepted sockets inherit it.
    acceptor->set_option(asio::ip::tcp::no_delay(true), ec);
    worker.AddAcceptor(std::move(acceptor));
  }
  return absl::OkStatus();
}

void ClosePassed(const std::vector<PassedListener>& passed) {
  for (const auto& listener : passed) ::close(listener.fd);
}

// --- STATUS= and the watchdog --------------------------------------------------------------------

struct Notifier::Probes {
  explicit Probes(std::size_t n) : answered(n) {}
  // answered[i]: the number of the last probe worker i's loop ran; the pinger compares it with
  // the number it posted (sent[i], signal loop only).
  std::vector<std::atomic<std::uint64_t>> answered;
};

void Notifier::Start(asio::io_context& io, std::vector<asio::io_context*> loops,
                     std::function<std::string()> status) {
  if (!NotifySocketSet()) return;
  status_ = std::move(status);
  loops_ = std::move(loops);
  status_timer_ = std::make_unique<asio::steady_timer>(io);
  asio::co_spawn(io, AsyncStatus(), LogCompletion);
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    probes_ = std::make_shared<Probes>(loops_.size());
    watchdog_timer_ = std::make_unique<asio::steady_timer>(io);
    net::LogInfo("systemd watchdog: WATCHDOG=1 every %dms while all %d worker loops answer",
                 usec / 2000, loops_.size());
    asio::co_spawn(io, AsyncWatchdog(std::chrono::microseconds(usec)), LogCompletion);
  }
}

void Notifier::Stop() {
  stopped_ = true;
  if (status_timer_) status_timer_->cancel();
  if (watchdog_timer_) watchdog_timer_->cancel();
}

asio::awaitable<void> Notifier::AsyncStatus() {
  while (!stopped_) {
    Notify(absl::StrCat("STATUS=", status_()));
    status_timer_->expires_after(kStatusInterval);
    co_await net::AsyncWait(*status_timer_);
  }
}

asio::awaitable<void> Notifier::AsyncWatchdog(std::chrono::microseconds interval) {
  std::vector<std::uint64_t> sent(loops_.size(), 0);
  bool stalled = false;
  while (!stopped_) {
    // Which loops ran the probe of the previous tick (the first tick's probes are number 0,
    // answered by construction)?
    std::vector<std::size_t> late;
    for (std::size_t i = 0; i < loops_.size(); ++i) {
      if (probes_->answered[i].load(std::memory_order_acquire) != sent[i]) late.push_back(i);
    }
    if (late.empty()) {
      Notify("WATCHDOG=1");
      if (stalled) net::LogWarning("systemd watchdog: every worker loop answers again; pinging");
      stalled = false;
    } else if (!stalled) {
      net::LogError(
          "systemd watchdog: worker %d's loop has not run for %dms; no WATCHDOG=1 until it does "
          "(systemd restarts socks5d after WatchdogSec=)",
          late.front(), interval.count() / 2000);
      stalled = true;
    }
    // A new probe only where the last one was answered: a stuck loop holds one, not a backlog.
    for (std::size_t i = 0; i < loops_.size(); ++i) {
      if (probes_->answered[i].load(std::memory_order_acquire) != sent[i]) continue;
      const std::uint64_t number = ++sent[i];
      asio::post(*loops_[i], [probes = probes_, i, number] {
        probes->answered[i].store(number, std::memory_order_release);
      });
    }
    watchdog_timer_->expires_after(interval / 2);
    co_await net::AsyncWait(*watchdog_timer_);
  }
}

}  // namespace socks5::server::systemd
