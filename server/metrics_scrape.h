// --metrics_listen, as the server uses it: the HTTP endpoint (server/metrics_http.h) and what a
// scrape gathers — every worker's metrics::WorkerMetrics summed, the process-wide counts, the
// limits hit (net::RateLimitedWarning sites) and the build info — rendered with prometheus-cpp
// (metrics/exposition.h) on the endpoint's own thread.
#ifndef SOCKS5_SERVER_METRICS_SCRAPE_H_
#define SOCKS5_SERVER_METRICS_SCRAPE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "asio.hpp"
#include "metrics/exposition.h"
#include "metrics/worker_metrics.h"
#include "server/metrics_http.h"
#include "session/admission.h"

namespace socks5::server {

// The process-wide counters the server keeps for the scrape.
struct ProcessCounters {
  std::atomic<std::uint64_t> reloads{0};
  std::atomic<std::uint64_t> reload_failures{0};
};

// What a scrape reads. Everything must outlive the MetricsEndpoint.
struct MetricsSources {
  std::vector<const metrics::WorkerMetrics*> workers;
  const std::atomic<std::size_t>* sessions_open = nullptr;
  const session::Admission* admission = nullptr;
  const ProcessCounters* process = nullptr;
  const metrics::UserTable* users = nullptr;  // --metrics_per_user; null: not exported
};

// Everything one scrape exports, as text (the pure part is metrics::Families).
std::string RenderMetrics(const MetricsSources& sources);

class MetricsEndpoint {
 public:
  MetricsEndpoint();
  // Listens and logs `metrics on HOST:PORT` (the real port). /readyz is 503 until SetReady.
  absl::Status Start(const asio::ip::tcp::endpoint& endpoint);
  // Once every worker exists (before: a scrape sees no worker's counters).
  void SetSources(MetricsSources sources);
  void SetReady(bool ready) { http_.SetReady(ready); }

 private:
  std::mutex mu_;  // sources_: set on the main thread, read by scrapes
  MetricsSources sources_;
  MetricsHttp http_;  // last: its thread stops first, before what it reads goes
};

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_METRICS_SCRAPE_H_
