// The scrape's data model: the summed WorkerMetrics and the process-wide values become
// prometheus-cpp MetricFamily values (its core library's data model), which its TextSerializer
// writes in the Prometheus text format. Pure: the caller gathers the numbers.
#ifndef SOCKS5_METRICS_EXPOSITION_H_
#define SOCKS5_METRICS_EXPOSITION_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "metrics/worker_metrics.h"
#include "prometheus/metric_family.h"

namespace socks5::metrics {

// A net::RateLimitedWarning site: a limit that was hit (or a resource that ran out), how often.
struct LimitCount {
  std::string limit;  // its site ("max_sessions"); spaces become '_'
  std::string event;  // what happened ("refused_connections")
  std::uint64_t count = 0;
};

// --metrics_per_user: one authenticated user's ended sessions and their bytes.
struct UserCount {
  std::string user;
  std::uint64_t sessions = 0;
  std::uint64_t bytes_up = 0;
  std::uint64_t bytes_down = 0;
};

// What only the process knows.
struct ProcessMetrics {
  std::string version;             // socks5d_build_info{version=...}
  std::int64_t sessions_open = 0;  // every open client connection (--max_sessions counts them)
  std::int64_t handshakes_active = 0;
  std::int64_t descriptors_in_use = 0;  // charged to the descriptor budget
  std::int64_t descriptor_budget = 0;
  std::uint64_t reloads = 0;  // SIGHUP reloads that published new files
  std::uint64_t reload_failures = 0;
  std::vector<LimitCount> limits;
  std::vector<const char*> udp_drop_names;  // udp::DropName, in udp::Drop order
  bool per_user = false;                    // export `users` (--metrics_per_user)
  std::vector<UserCount> users;
};

std::vector<prometheus::MetricFamily> Families(const WorkerMetrics& total,
                                               const ProcessMetrics& process);
// The Prometheus text format (version 0.0.4) of `families`.
std::string Render(const std::vector<prometheus::MetricFamily>& families);

// --metrics_per_user's table, shared by every worker: a session adds itself when it ends (a
// mutex, only then, only with the flag). At most `max_users` names; sessions of further users
// are counted under the user "(other)", so clients choosing names (--accept_any_credentials)
// cannot grow it without bound.
class UserTable {
 public:
  static constexpr const char* kOther = "(other)";
  explicit UserTable(std::size_t max_users) : max_users_(max_users) {}
  void Add(const std::string& user, std::uint64_t bytes_up, std::uint64_t bytes_down);
  std::vector<UserCount> Snapshot() const;  // sorted by user

 private:
  const std::size_t max_users_;
  mutable std::mutex mu_;
  std::size_t named_ = 0;  // users_ entries other than kOther
  absl::flat_hash_map<std::string, UserCount> users_;
};

}  // namespace socks5::metrics

#endif  // SOCKS5_METRICS_EXPOSITION_H_
