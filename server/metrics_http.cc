#include "server/metrics_http.h"

#include <array>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "net/socket.h"

namespace socks5::server {
namespace {

using net::kUseTuple;

std::string Reply(int code, const char* reason, absl::string_view type, absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", code, " ", reason, "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

// An exception out of a scrape's coroutine is logged (and that connection dropped); rethrown on
// this thread it would end the process.
void LogFailure(const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    net::LogError("metrics: %s", ex.what());
  }
}

enum class Head { kComplete, kTooBig, kGone };

// Reads until the blank line that ends a request head, at most `limit` bytes.
asio::awaitable<Head> AsyncReadHead(asio::ip::tcp::socket& socket, std::string& head,
                                    std::size_t limit) {
  std::array<char, 1024> buffer;
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), kUseTuple);
    if (ec) co_return Head::kGone;
    head.append(buffer.data(), n);
    if (head.find("\r\n\r\n") != std::string::npos || head.find("\n\n") != std::string::npos) {
      co_return Head::kComplete;
    }
    if (head.size() > limit) co_return Head::kTooBig;
  }
}

asio::awaitable<void> AsyncWriteReply(asio::ip::tcp::socket& socket, const std::string& reply) {
  co_await asio::async_write(socket, asio::buffer(reply), kUseTuple);
}

}  // namespace

MetricsHttp::MetricsHttp(std::function<std::string()> render) : render_(std::move(render)) {}

MetricsHttp::~MetricsHttp() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<asio::ip::tcp::endpoint> MetricsHttp::Start(
    const asio::ip::tcp::endpoint& endpoint) {
  std::error_code ec = net::OpenListener(acceptor_, endpoint, net::ListenOptions{});
  asio::ip::tcp::endpoint bound;
  if (!ec) bound = acceptor_.local_endpoint(ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("--metrics_listen: cannot listen on ",
                                               net::EndpointText(endpoint), ": ", ec.message()));
  }
  asio::co_spawn(io_, AsyncAccept(), LogFailure);
  thread_ = std::thread([this] { io_.run(); });
  return bound;
}

asio::awaitable<void> MetricsHttp::AsyncAccept() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // E.g. EMFILE: wait a little rather than spin on the pending connection.
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await net::AsyncWait(pause);
      continue;
    }
    if (connections_ >= kMaxConnections) {
      static net::RateLimitedWarning warning("metrics_max_connections", "refused", "connections");
      warning.Warn("metrics: %d scrape connections open (the cap); closing a new one",
                   kMaxConnections);
      continue;  // the socket closes here
    }
    ++connections_;
    asio::co_spawn(io_, AsyncServe(std::move(socket)), [this](const std::exception_ptr& e) {
      --connections_;
      LogFailure(e);
    });
  }
}

asio::awaitable<void> MetricsHttp::AsyncServe(asio::ip::tcp::socket socket) {
  std::string head;
  std::optional<Head> read = co_await net::AsyncWithDeadline(
      AsyncReadHead(socket, head, kMaxRequestBytes), kRequestTimeout);
  std::string reply;
  if (!read || *read == Head::kGone) co_return;  // timed out or closed: nothing to answer
  if (*read == Head::kTooBig) {
    reply = Reply(431, "Request Header Fields Too Large", "text/plain", "request too large\n");
  } else {
    reply = Respond(head);
  }
  co_await net::AsyncWithDeadline(AsyncWriteReply(socket, reply), kRequestTimeout);
  std::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
}

std::string MetricsHttp::Respond(absl::string_view head) {
  std::vector<absl::string_view> line =
      absl::StrSplit(head.substr(0, head.find_first_of("\r\n")), ' ');
  if (line.size() != 3 || !absl::StartsWith(line[2], "HTTP/")) {
    return Reply(400, "Bad Request", "text/plain", "bad request\n");
  }
  if (line[0] != "GET") return Reply(405, "Method Not Allowed", "text/plain", "GET only\n");
  absl::string_view path = line[1].substr(0, line[1].find('?'));
  if (path == "/healthz") return Reply(200, "OK", "text/plain", "ok\n");
  if (path == "/readyz") {
    if (ready_.load(std::memory_order_relaxed)) return Reply(200, "OK", "text/plain", "ready\n");
    return Reply(503, "Service Unavailable", "text/plain", "not ready\n");
  }
  if (path == "/metrics") {
    return Reply(200, "OK", "text/plain; version=0.0.4; charset=utf-8", render_());
  }
  return Reply(404, "Not Found", "text/plain", "not found\n");
}

}  // namespace socks5::server
