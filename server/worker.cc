#include "server/worker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "server/log.h"
#include "server/session.h"

namespace socks5::server {
namespace {

using asio::experimental::as_tuple;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);

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
void LogCompletion(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    LogError("session ended by an exception: %s", ex.what());
  }
}

}  // namespace

BufferPool::Lease BufferPool::Acquire() {
  if (free_.empty()) return Lease(this, std::make_unique<std::uint8_t[]>(kBufferSize));
  std::unique_ptr<std::uint8_t[]> data = std::move(free_.back());
  free_.pop_back();
  return Lease(this, std::move(data));
}

void BufferPool::Return(std::unique_ptr<std::uint8_t[]> data) {
  if (free_.size() < kMaxFree) free_.push_back(std::move(data));
}

PipePool::~PipePool() {
  for (Pipe pipe : free_) Close(pipe);
}

PipePool::Pipe PipePool::Acquire() {
  if (!free_.empty()) {
    Pipe pipe = free_.back();
    free_.pop_back();
    return pipe;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {};
  // Larger than the default 64 KiB: fewer splice() calls per MiB (measured: 0.41 CPU s/GiB
  // relayed with 64 KiB pipes, 0.30 with 256 KiB, 0.25 with 1 MiB). The kernel may give less
  // (fs.pipe-max-size, or an unprivileged user past fs.pipe-user-pages-soft gets 2-page pipes):
  // a pipe that small is worse than a buffer, so let the relay copy instead.
  int size = ::fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
  if (size < 0) size = ::fcntl(fds[1], F_GETPIPE_SZ);
  if (size < kMinPipeSize) {
    Close({fds[0], fds[1]});
    return {};
  }
  return {fds[0], fds[1]};
}

void PipePool::Return(Pipe pipe) {
  if (free_.size() < kMaxFree) {
    free_.push_back(pipe);
  } else {
    Close(pipe);
  }
}

void PipePool::Close(Pipe pipe) {
  ::close(pipe.read_end);
  ::close(pipe.write_end);
}

Worker::Worker(const Config& config, int index, SessionCounter& sessions)
    : config_(config),
      index_(index),
      sessions_(sessions),
      io_(std::make_unique<asio::io_context>(1)) {
  dns::ResolverOptions options;
  options.servers = config.dns_servers;
  options.timeout = config.dns_timeout;
  auto resolver = dns::Resolver::Create(*io_, options);
  // Servers were validated at start-up; a failure here is a broken invariant.
  if (!resolver.ok()) {
    LogError("resolver: %s", resolver.status().ToString());
    std::abort();
  }
  resolver_ = std::move(*resolver);
}

Worker::~Worker() {
  Stop();
  Join();
  acceptors_.clear();
  resolver_.reset();
  // Destroying the loop destroys the suspended sessions (their access-log lines are written
  // then), while the pool and counters they use are still alive.
  io_.reset();
}

absl::Status Worker::Listen(const std::vector<asio::ip::tcp::endpoint>& endpoints) {
  for (const auto& endpoint : endpoints) {
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(*io_);
    std::error_code ec;
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) !=
          0) {
        ec = std::error_code(errno, std::system_category());
      }
    }
    if (!ec && endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ",
                                                 endpoint.address().to_string(), ":",
                                                 endpoint.port(), ": ", ec.message()));
    }
    acceptors_.push_back(std::move(acceptor));
  }
  return absl::OkStatus();
}

std::vector<asio::ip::tcp::endpoint> Worker::LocalEndpoints() const {
  std::vector<asio::ip::tcp::endpoint> out;
  for (const auto& acceptor : acceptors_) out.push_back(acceptor->local_endpoint());
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
        auto waited = co_await backoff.async_wait(kUseTuple);
        (void)waited;
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
    asio::co_spawn(*io_, RunSession(*this, std::move(socket)), LogCompletion);
  }
}

}  // namespace socks5::server
