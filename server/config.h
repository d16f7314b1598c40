// The server's configuration, built from flags in server/flags.cc and checked here. Its parsing
// helpers are pure functions (net/parse.h, net/port_range.h) so start-up errors are unit-testable
// and come back as absl::Status.
#ifndef SOCKS5_SERVER_CONFIG_H_
#define SOCKS5_SERVER_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "session/context.h"
#include "session/verifier.h"

namespace socks5::server {

// The whole configuration: what sessions read (session::Settings) and what only the process uses.
struct Config : session::Settings {
  std::vector<asio::ip::tcp::endpoint> listen;
  int workers = 1;
  bool allow_open_proxy = false;
  absl::Duration shutdown_grace = absl::Seconds(5);
  std::size_t max_sessions = 10000;
  std::vector<std::string> dns_servers;
  absl::Duration dns_timeout = absl::Seconds(5);
  // --- DNS caps and UDP memory (issue 11, defects 6, 7, 12) ---
  std::size_t dns_max_in_flight = 1000;       // dns::ResolverOptions::max_in_flight, per worker
  std::size_t dns_queries_per_channel = 100;  // dns::ResolverOptions::queries_per_channel
  std::size_t udp_memory_budget = 64 << 20;   // bytes, all workers (udp::MemoryBudget)
  // Admission (session/admission.h): descriptors sessions may charge (RLIMIT_NOFILE less a
  // reserve; 0: unlimited) and the RFC 1929 guessing throttle.
  std::int64_t descriptor_budget = 0;
  session::ThrottleOptions auth_throttle;
  // RFC 1929 verification threads, queue bound and success cache (session/verifier.h).
  session::VerifierOptions verifier;
  // The reloadable files (server/policy_files.h reads them at start-up and on SIGHUP). Fixed for
  // the process's life: without --users_file no reload turns authentication on, with it none
  // turns it off.
  std::string users_file;     // --users_file; "": no authentication
  std::string rules_file;     // --rules_file; "": no rules (everything allowed)
  bool watch_config = false;  // --watch_config: reload when they change (server/config_watch.h)
  // ---- metrics ----
  // --metrics_listen (server/metrics_scrape.h); unset: no metrics endpoint. Loopback unless a
  // users file or --allow_open_proxy, as --listen.
  std::optional<asio::ip::tcp::endpoint> metrics_listen;
  bool metrics_per_user = false;  // --metrics_per_user: bytes and sessions by user name
};

// Whole-configuration checks: the open-proxy safety rule, ranges and minimums.
absl::Status ValidateConfig(const Config& config);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_CONFIG_H_
