// The --metrics_listen endpoint: a small HTTP/1.1 responder (one request per connection, then
// close) on its own thread and io_context, never on a worker loop, so a slow scrape cannot delay
// a session. Serves /metrics (the text `render` returns, called on this thread), /healthz (200
// while the process serves) and /readyz (200 while SetReady(true): every listener open and no
// shutdown begun; 503 otherwise). Other paths 404, other methods than GET 405.
// Limits: a request head of at most kMaxRequestBytes (431 beyond), kRequestTimeout to send it and
// again to take the answer (then the connection is closed), kMaxConnections connections at once
// (a further one is closed at accept, counted as limit=metrics_max_connections).
#ifndef SOCKS5_SERVER_METRICS_HTTP_H_
#define SOCKS5_SERVER_METRICS_HTTP_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "asio.hpp"

namespace socks5::server {

class MetricsHttp {
 public:
  // 8 KiB: a scraper's request head is ~200 bytes; curl's and browsers' are under 2 KiB.
  static constexpr std::size_t kMaxRequestBytes = 8192;
  // 5 s: Prometheus's default scrape timeout is 10 s, and a scrape here takes milliseconds.
  static constexpr std::chrono::seconds kRequestTimeout{5};
  // 16: a few Prometheus servers, a health checker and an operator's curl, with room to spare;
  // a client opening more cannot make the process hold more descriptors or render more often.
  static constexpr int kMaxConnections = 16;

  explicit MetricsHttp(std::function<std::string()> render);
  ~MetricsHttp();  // stops and joins the thread
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  // Binds `endpoint` and starts the thread; returns the bound endpoint (the real port).
  absl::StatusOr<asio::ip::tcp::endpoint> Start(const asio::ip::tcp::endpoint& endpoint);
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  // The response to one request head (exposed for tests): status line, headers and body.
  std::string Respond(absl::string_view head);

 private:
  asio::awaitable<void> AsyncAccept();
  asio::awaitable<void> AsyncServe(asio::ip::tcp::socket socket);

  std::function<std::string()> render_;
  std::atomic<bool> ready_{false};
  int connections_ = 0;  // io_'s thread only
  asio::io_context io_{1};
  asio::ip::tcp::acceptor acceptor_{io_};
  std::thread thread_;
};

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_METRICS_HTTP_H_
