#include "server/worker.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <limits>

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

// Connections accepted one after another before the acceptor yields to the sessions.
constexpr int kAcceptsPerTurn = 16;

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

Worker::Worker(const Config& config, int index, SessionCounter& sessions,
               session::Admission* admission)
    : config_(config),
      sessions_(sessions),
      own_admission_(admission != nullptr ? nullptr
                                          : std::make_unique<session::Admission>(
                                                config.descriptor_budget > 0
                                                    ? config.descriptor_budget
                                                    : std::numeric_limits<std::int64_t>::max() / 2,
                                                config.auth_throttle)),
      admission_(admission != nullptr ? admission : own_admission_.get()),
      reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)),
      io_(std::make_unique<asio::io_context>(1)) {
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
  context_->admission = admission_;
  context_->handshakes.set_global(&admission_->handshakes);
  resolver_->SetMetrics(&context_->metrics);  // ---- metrics ----
}

void Worker::SetProcessWide(std::shared_ptr<const udp::DestinationPolicy> destinations,
                            udp::MemoryBudget* udp_memory) {
  context_->destinations = std::move(destinations);
  context_->udp_memory = udp_memory;
}

void Worker::SetVerifier(session::Verifier* verifier) { context_->verifier = verifier; }
void Worker::SetPolicies(std::shared_ptr<const session::PolicyStore> policies) {
  context_->policies = std::move(policies);
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
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

absl::Status Worker::Listen(const std::vector<asio::ip::tcp::endpoint>& endpoints) {
  for (const auto& endpoint : endpoints) {
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(*io_);
    if (std::error_code ec = net::OpenListener(
            *acceptor, endpoint, net::ListenOptions{.reuse_port = true, .no_delay = true})) {
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
  std::error_code ignored;
  acceptor.non_blocking(true, ignored);  // accept4 below must not block: set once, not per wait
  int in_a_row = 0;  // accepted since the loop last let the worker's other work run
  for (;;) {
    if (++in_a_row > kAcceptsPerTurn) {
      in_a_row = 0;
      co_await asio::post(*io_, asio::use_awaitable);  // a flood does not starve the sessions
    }
    // accept4 until the backlog is empty, then one wait: a session's socket comes non-blocking
    // and with its peer's address (no ioctl, no getpeername; net/socket.h).
    asio::ip::tcp::socket socket(*io_);
    asio::ip::tcp::endpoint peer;
    std::error_code ec = net::AcceptNonBlocking(acceptor, socket, peer);
    if (ec == asio::error::would_block) {
      in_a_row = 0;
      auto [wait_ec] = co_await acceptor.async_wait(asio::socket_base::wait_read, kUseTuple);
      if (!acceptor.is_open() || wait_ec == asio::error::operation_aborted) co_return;
      continue;
    }
    if (ec) {
      if (!acceptor.is_open()) co_return;
      if ((ec.value() == EMFILE || ec.value() == ENFILE) && AcceptAndCloseWithReserve(acceptor)) {
        static net::RateLimitedWarning closed("accept", "refused", "connections");
        closed.Warn("accept: %s; closed a new connection with the reserve descriptor",
                    ec.message());
        continue;
      }
      if (IsResourceExhaustion(ec)) {
        static net::RateLimitedWarning paused("accept", "paused", "times");
        paused.Warn("accept: %s; pausing accepts for %dms", ec.message(), delay.count());
        backoff.expires_after(delay);
        co_await net::AsyncWait(backoff);
        delay = std::min(delay * 2, std::chrono::milliseconds(1000));
      }
      continue;  // e.g. ECONNABORTED: the client gave up before we accepted
    }
    delay = std::chrono::milliseconds(10);
    Admit(std::move(socket), peer);
  }
}

bool Worker::AcceptAndCloseWithReserve(asio::ip::tcp::acceptor& acceptor) {
  if (reserve_fd_ < 0) return false;
  ::close(reserve_fd_);
  // The acceptor is non-blocking (Asio made it so): no pending connection gives EAGAIN.
  int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) ::close(fd);
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0;
}

void Worker::Admit(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& remote) {
  std::error_code ignored;
  const session::AcceptVerdict verdict = session::DecideAccept(session::AcceptState{
      .active_sessions = sessions_.active.load(std::memory_order_relaxed),
      .max_sessions = config_.max_sessions,
      .handshakes = admission_->handshakes.load(std::memory_order_relaxed),
      .max_handshakes = config_.max_handshakes,
      .can_shed = context_->handshakes.size() > 0,
  });
  if (verdict == session::AcceptVerdict::kRefuseMaxSessions) {
    static net::RateLimitedWarning warning("max_sessions", "refused", "connections");
    warning.Warn("--max_sessions=%d reached; closing a new connection", config_.max_sessions);
    socket.close(ignored);
    return;
  }
  std::optional<session::DescriptorCharge> descriptor =
      session::DescriptorCharge::Try(&admission_->descriptors, 1);
  if (!descriptor) {
    static net::RateLimitedWarning warning("descriptor budget", "refused", "connections");
    warning.Warn("descriptor budget (%d of RLIMIT_NOFILE) reached; closing a new connection",
                 admission_->descriptors.limit());
    socket.close(ignored);
    return;
  }
  std::optional<session::ClientSlot> slot = session::ClientSlot::TryAcquire(
      admission_->clients, remote.address(), session::ClientKind::kSession,
      config_.max_sessions_per_client);
  if (!slot) {
    static net::RateLimitedWarning warning("max_sessions_per_client", "refused", "connections");
    warning.Warn("--max_sessions_per_client=%d reached for %s; closing a new connection",
                 config_.max_sessions_per_client, net::Unmapped(remote.address()).to_string());
    socket.close(ignored);
    return;
  }
  if (verdict == session::AcceptVerdict::kAcceptShedOldest && context_->handshakes.ShedOldest()) {
    static net::RateLimitedWarning warning("max_handshakes", "shed", "handshakes");
    warning.Warn("--max_handshakes=%d reached; closed the oldest handshake in progress",
                 config_.max_handshakes);
  }
  asio::co_spawn(
      *io_,
      session::RunSession(*context_, std::move(socket),
                          session::Admitted{std::move(slot), std::move(*descriptor), remote}),
      LogCompletion);
}

}  // namespace socks5::server
