#include "server/server.h"

#include <pthread.h>

#include <chrono>
#include <csignal>

#include "absl/strings/str_cat.h"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "net/socket.h"
#include "server/policy_files.h"

namespace socks5::server {
namespace {

using net::kUseTuple;
using net::LogInfo;

// How often a draining server looks at the session count.
constexpr std::chrono::milliseconds kDrainPoll(20);

// Returns when no session is open.
asio::awaitable<void> AsyncDrained(const SessionCounter& sessions) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (sessions.active.load() != 0) {
    poll.expires_after(kDrainPoll);
    co_await net::AsyncWait(poll);
  }
}

// Returns when a signal arrives (or the wait fails).
asio::awaitable<void> AsyncSignal(asio::signal_set& signals, const char* what) {
  auto [ec, signo] = co_await signals.async_wait(kUseTuple);
  if (!ec) LogInfo("signal %d%s", signo, what);
}

const char* IgnoredSignalText(int signo) {
  switch (signo) {
    case SIGHUP:
      return "(SIGHUP): ignored (shutting down: not reloaded)";
    case SIGUSR1:
      return "(SIGUSR1): ignored (it has no meaning to socks5d)";
    default:
      return ": ignored";
  }
}

// Removes `set`'s handlers and leaves `signals` ignored, with no moment at the default action in
// between (clearing a signal_set resets to SIG_DFL): the signals are blocked meanwhile, and a
// pending one is discarded when SIG_IGN is installed. Only the calling thread is left by then.
void ClearAndIgnore(asio::signal_set& set, std::initializer_list<int> signals) {
  sigset_t mask;
  sigset_t old;
  sigemptyset(&mask);
  for (int signo : signals) sigaddset(&mask, signo);
  pthread_sigmask(SIG_BLOCK, &mask, &old);
  std::error_code ignored;
  set.clear(ignored);
  for (int signo : signals) std::signal(signo, SIG_IGN);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// --watch_config: a burst of changes (a ConfigMap update is several renames) is one reload, and
// a writer that never pauses costs one reload a second.
constexpr absl::Duration kWatchDebounce = absl::Seconds(1);

}  // namespace

Server::Server(Config config)
    : config_(std::move(config)), udp_memory_(config_.udp_memory_budget) {}

Server::~Server() {
  metrics_.reset();  // its thread reads the workers: it stops before they go
  for (auto& worker : workers_) worker->Stop();
  for (auto& worker : workers_) worker->Join();
  // With every loop stopped and still alive: queued checks post their completions to them.
  if (verifier_) verifier_->Stop();
  workers_.clear();  // before the admission tables and the verifier they use
  ClearAndIgnore(other_signals_, {SIGHUP, SIGUSR1});
}

absl::Status Server::Start() {
  // The files first: a malformed one stops start-up with FILE:LINE before anything listens.
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(config_);
  if (!loaded.ok()) return loaded.status();
  if (loaded->policy.rules) LogInfo("rules_file=%s: %d rules", config_.rules_file, loaded->rules);
  policies_->Replace(std::move(loaded->policy));
  if (config_.watch_config) {
    auto watcher = ConfigWatcher::Create(signal_io_, {config_.users_file, config_.rules_file},
                                         kWatchDebounce, [this] {
                                           if (!shutting_down_) Reload();
                                         });
    if (!watcher.ok()) return watcher.status();
    config_watcher_ = *std::move(watcher);
  }
  if (absl::Status s = StartMetrics(); !s.ok()) return s;  // ---- metrics ----
  // Worker 0 binds the configured endpoints (port 0 becomes a real port); the other workers bind
  // the same ports with SO_REUSEPORT so the kernel spreads connections across them.
  std::vector<asio::ip::tcp::endpoint> endpoints = config_.listen;
  admission_ = std::make_unique<session::Admission>(
      config_.descriptor_budget > 0 ? config_.descriptor_budget : (std::int64_t{1} << 40),
      config_.auth_throttle);
  if (!config_.users_file.empty()) {
    verifier_ = std::make_unique<session::Verifier>(config_.verifier);
  }
  for (int i = 0; i < config_.workers; ++i) {
    auto worker = std::make_unique<Worker>(config_, i, sessions_, admission_.get());
    worker->SetVerifier(verifier_.get());
    if (absl::Status s = worker->Listen(endpoints); !s.ok()) return s;
    if (i == 0) {
      auto bound = worker->LocalEndpoints();
      if (!bound.ok()) return bound.status();
      endpoints = *std::move(bound);
    }
    workers_.push_back(std::move(worker));
  }
  // Own endpoints (docs/conformance.md C15): the real ports, this host's addresses now.
  auto destinations =
      session::MakeDestinationPolicy(config_.deny_destinations, endpoints, net::LocalAddresses());
  for (auto& worker : workers_) {
    worker->SetProcessWide(destinations, &udp_memory_);
    worker->SetPolicies(policies_);
    worker->SetUserMetrics(metric_users_.get());
  }
  for (auto& worker : workers_) worker->Start();
  for (const auto& endpoint : endpoints) {
    LogInfo("listening on %s (%d workers)", net::EndpointText(endpoint), config_.workers);
  }
  SetMetricsReady();  // ---- metrics ----
  return absl::OkStatus();
}

void Server::Reload() {
  std::lock_guard<std::mutex> lock(reload_mu_);
  // Everything is read and validated before the store changes: a bad file changes nothing.
  absl::StatusOr<LoadedPolicy> loaded = LoadPolicyFiles(config_);
  if (!loaded.ok()) {
    net::LogError("reload failed: %s (the previous users and rules stay in use)",
                  loaded.status().message());
    counters_.reload_failures.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  policies_->Replace(std::move(loaded->policy));
  LogInfo("reloaded %s", loaded->Summary());
  counters_.reloads.fetch_add(1, std::memory_order_relaxed);
}

asio::awaitable<void> Server::AsyncShutDown() {
  auto [ec, signo] = co_await signals_.async_wait(kUseTuple);
  if (ec) co_return;
  shutting_down_ = true;  // no reload while draining: nothing new starts that would use it
  if (metrics_) metrics_->SetReady(false);  // /readyz 503 before the drain
  LogInfo("signal %d: no longer accepting; %d sessions draining for up to %s", signo,
          sessions_.active.load(), absl::FormatDuration(config_.shutdown_grace));
  for (auto& worker : workers_) worker->StopAccepting();
  // The sessions drain, the grace passes, or a second signal cuts it short.
  using namespace asio::experimental::awaitable_operators;
  co_await net::AsyncWithDeadline(
      AsyncDrained(sessions_) || AsyncSignal(signals_, " again: stopping now"),
      absl::ToChronoNanoseconds(config_.shutdown_grace));
}

asio::awaitable<void> Server::AsyncOtherSignals() {
  for (;;) {
    auto [ec, signo] = co_await other_signals_.async_wait(kUseTuple);
    if (ec) co_return;  // cancelled: the server is stopping
    // One at a time on this thread: SIGHUPs in a burst reload one after the other (or queue up
    // in the set meanwhile), each reading the files as they are then, so the last contents win.
    if (signo == SIGHUP && !shutting_down_) {
      Reload();
    } else {
      LogInfo("signal %d %s", signo, IgnoredSignalText(signo));
    }
  }
}

asio::awaitable<void> Server::AsyncFlushWarnings() {
  while (!stop_flushing_) {
    flush_timer_.expires_after(std::chrono::seconds(1));
    co_await net::AsyncWait(flush_timer_);
    net::FlushRateLimitedWarnings();
  }
}

void Server::RunUntilSignalled() {
  auto rethrow = [](const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  };
  asio::co_spawn(signal_io_, AsyncOtherSignals(), rethrow);
  asio::co_spawn(signal_io_, AsyncFlushWarnings(), rethrow);
  asio::co_spawn(signal_io_, AsyncShutDown(), [this](const std::exception_ptr& e) {
    // Stop the ignoring loop and the summaries so run() returns (signal_io_ runs on this thread
    // only); the set keeps catching the signals.
    stop_flushing_ = true;
    flush_timer_.cancel();
    std::error_code ignored;
    other_signals_.cancel(ignored);
    if (config_watcher_) config_watcher_->Stop();
    if (e) std::rethrow_exception(e);
  });
  if (config_watcher_) config_watcher_->Start();
  signal_io_.run();
  LogInfo("stopping with %d sessions open", sessions_.active.load());
  for (auto& worker : workers_) worker->Stop();
  for (auto& worker : workers_) worker->Join();
}

}  // namespace socks5::server
