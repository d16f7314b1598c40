#include "server/server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/log.h"

namespace socks5::server {
namespace {

std::string EndpointText(const asio::ip::tcp::endpoint& e) {
  if (e.address().is_v6()) return absl::StrCat("[", e.address().to_string(), "]:", e.port());
  return absl::StrCat(e.address().to_string(), ":", e.port());
}

}  // namespace

Server::Server(Config config) : config_(std::move(config)) {}

Server::~Server() {
  for (auto& worker : workers_) worker->Stop();
  workers_.clear();
}

absl::Status Server::Start() {
  // Worker 0 binds the configured endpoints (port 0 becomes a real port); the other workers bind
  // the same ports with SO_REUSEPORT so the kernel spreads connections across them.
  std::vector<asio::ip::tcp::endpoint> endpoints = config_.listen;
  for (int i = 0; i < config_.workers; ++i) {
    auto worker = std::make_unique<Worker>(config_, i, sessions_);
    if (absl::Status s = worker->Listen(endpoints); !s.ok()) return s;
    if (i == 0) endpoints = worker->LocalEndpoints();
    workers_.push_back(std::move(worker));
  }
  for (auto& worker : workers_) worker->Start();
  for (const auto& endpoint : endpoints) {
    LogInfo("listening on %s (%d workers)", EndpointText(endpoint), config_.workers);
  }
  return absl::OkStatus();
}

void Server::RunUntilSignalled() {
  asio::io_context& io = signal_io_;
  asio::signal_set& signals = signals_;
  bool draining = false;
  bool done = false;
  asio::steady_timer poll(io);
  auto deadline = std::chrono::steady_clock::now();
  std::function<void()> check_drained = [&] {
    if (done) return;
    if (sessions_.active.load() == 0 || std::chrono::steady_clock::now() >= deadline) {
      done = true;
      signals.cancel();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(20));
    poll.async_wait([&](std::error_code ec) {
      if (!ec) check_drained();
    });
  };
  std::function<void(std::error_code, int)> on_signal = [&](std::error_code ec, int signo) {
    if (ec || done) return;
    if (draining) {
      LogInfo("signal %d again: stopping now", signo);
      done = true;
      poll.cancel();
      return;
    }
    draining = true;
    LogInfo("signal %d: no longer accepting; %d sessions draining for up to %s", signo,
            sessions_.active.load(), absl::FormatDuration(config_.shutdown_grace));
    for (auto& worker : workers_) worker->StopAccepting();
    deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(config_.shutdown_grace);
    signals.async_wait(on_signal);
    check_drained();
  };
  signals.async_wait(on_signal);
  io.run();
  LogInfo("stopping with %d sessions open", sessions_.active.load());
  for (auto& worker : workers_) worker->Stop();
  for (auto& worker : workers_) worker->Join();
}

}  // namespace socks5::server
