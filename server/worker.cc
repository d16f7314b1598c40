#include "server/worker.h"

#include <cerrno>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "net/socket.h"
#include "session/session.h"

namespace socks5::server {
namespace {

using net::kUseTuple;
using net::LogError;
using net::LogWarning;

// Out of descriptors or memory: the pending connection stays in the backlog and the acceptor
// would report it again at once. Back off instead of spinning.
bool IsResourceExhaustion(const std::error_code& ec) {
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return true;
    default:
      return false;
  }
}

// Logs an exception that escaped a coroutine instead of losing it (the bare `detached` token
// would swallow it).
void LogCompletion(const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    LogError("session ended by an exception: %s", ex.what());
  }
}

}  // namespace

Worker::Worker(const Config& config, int index, SessionCounter& sessions)
    : config_(config), sessions_(sessions), io_(std::make_unique<asio::io_context>(1)) {
  dns::ResolverOptions options;
  options.servers = config.dns_servers;
  options.timeout = config.dns_timeout;
  options.max_in_flight = config.dns_max_in_flight;              // --dns_max_in_flight
  options.queries_per_channel = config.dns_queries_per_channel;  // --dns_queries_per_channel
  auto resolver = dns::Resolver::Create(*io_, options);
  // Servers were validated at start-up; a failure here is a broken invariant.
  if (!resolver.ok()) {
    LogError("resolver: %s", resolver.status().ToString());
    std::abort();
  }
  resolver_ = std::move(*resolver);
  context_ = std::make_unique<session::Context>(config, *io_, *resolver_, sessions.active, index,
                                                config.workers);
}

void Worker::SetProcessWide(std::shared_ptr<const udp::DestinationPolicy> destinations,
                            udp::MemoryBudget* udp_memory) {
  context_->destinations = std::move(destinations);
  context_->udp_memory = udp_memory;
}

Worker::~Worker() {
  Stop();
  Join();
  acceptors_.clear();
  // The resolver's sockets and timers live on the loop: it goes first (sessions hold no pending
  // call into it that outlives a cancelled lookup). Destroying the loop then destroys the
  // suspended sessions (their access-log lines are written then), while the context's pools and
  // the counters they use are still alive.
  resolver_.reset();
  io_.reset();
  context_.reset();
}

absl::Status Worker::Listen(const std::vector<asio::ip::tcp::endpoint>& endpoints) {
  for (const auto& endpoint : endpoints) {
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(*io_);
    if (std::error_code ec =
            net::OpenListener(*acceptor, endpoint, net::ListenOptions{.reuse_port = true})) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", net::EndpointText(endpoint), ": ", ec.message()));
    }
    acceptors_.push_back(std::move(acceptor));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> Worker::LocalEndpoints() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& acceptor : acceptors_) {
    std::error_code ec;
    out.push_back(acceptor->local_endpoint(ec));
    if (ec) return absl::UnavailableError(absl::StrCat("listener: ", ec.message()));
  }
  return out;
}

void Worker::Start() {
  for (auto& acceptor : acceptors_) {
    asio::co_spawn(*io_, RunAcceptor(*acceptor), LogCompletion);
  }
  thread_ = std::thread([this] { io_->run(); });
}

void Worker::StopAccepting() {
  asio::post(*io_, [this] {
    std::error_code ignored;
    for (auto& acceptor : acceptors_) acceptor->close(ignored);
  });
}

void Worker::Stop() {
  if (io_) io_->stop();
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<void> Worker::RunAcceptor(asio::ip::tcp::acceptor& acceptor) {
  asio::steady_timer backoff(*io_);
  std::chrono::milliseconds delay(10);
  for (;;) {
    auto accepted = co_await acceptor.async_accept(kUseTuple);
    auto& [ec, socket] = accepted;
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      if (IsResourceExhaustion(ec)) {
        LogWarning("accept: %s; pausing accepts for %dms", ec.message(), delay.count());
        backoff.expires_after(delay);
        co_await net::AsyncWait(backoff);
        delay = std::min(delay * 2, std::chrono::milliseconds(1000));
      }
      continue;  // e.g. ECONNABORTED: the client gave up before we accepted
    }
    delay = std::chrono::milliseconds(10);
    if (sessions_.active.load(std::memory_order_relaxed) >= config_.max_sessions) {
      LogWarning("--max_sessions=%d reached; closing a new connection", config_.max_sessions);
      std::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(*io_, session::RunSession(*context_, std::move(socket)), LogCompletion);
  }
}

}  // namespace socks5::server
