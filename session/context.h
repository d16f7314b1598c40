// What a session may use, and nothing more: the settings it reads, its worker's loop, resolver,
// relay pools and port pickers, and the session count. The worker owns one Context and outlives
// every session on it; a session holds a reference, never the worker.
#ifndef SOCKS5_SESSION_CONTEXT_H_
#define SOCKS5_SESSION_CONTEXT_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "asio.hpp"
#include "dns/resolver.h"
#include "metrics/exposition.h"
#include "metrics/worker_metrics.h"
#include "net/parse.h"
#include "net/port_range.h"
#include "policy/rules.h"
#include "relay/pools.h"
#include "session/admission.h"
#include "session/credentials.h"
#include "session/egress.h"
#include "session/policy.h"
#include "session/verifier.h"
#include "udp/budget.h"
#include "udp/destination.h"
#include "udp/policy.h"

namespace socks5::session {

// The configuration a session reads. server::Config extends it with what only the process uses
// (listeners, workers, resolver servers, shutdown).
// The users and the rules are not here: they are reloadable (session/policy.h, Context::policies).
struct Settings {
  absl::Duration handshake_timeout = absl::Seconds(10);
  // Without a users file: choose user/password whenever a client offers it, not only when it
  // offers nothing else (protocol::AuthPolicy::kAnyCredentials). No effect with a users file.
  bool accept_any_credentials = false;
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Minutes(5);
  // --socks4: SOCKS4/4a requests served (session/socks4.h); false: each one answered 5B.
  bool socks4 = true;
  std::vector<net::Cidr> deny_destinations;
  // BIND
  std::optional<net::PortRange> bind_port_range;
  absl::Duration bind_timeout = absl::Minutes(2);
  std::optional<asio::ip::address> advertise_address;
  // UDP ASSOCIATE
  std::optional<net::PortRange> udp_port_range;
  udp::ReplyPolicy udp_reply_policy = udp::ReplyPolicy::kRestricted;
  absl::Duration udp_reassembly_timeout = absl::Seconds(5);
  absl::Duration udp_idle_timeout = absl::Minutes(5);
  // --- Destinations, UDP memory, lookups (issue 11, defects 2, 3, 6, 12) ---
  // Lookups one association may have waiting (dns::LookupBudget); over it a datagram to a new
  // name is dropped (drop_dns_busy). A CONNECT or BIND awaits one lookup at a time: no budget.
  std::size_t udp_max_lookups_per_association = 16;
  // Admission (session/admission.h; 0: no cap).
  std::size_t max_sessions_per_client = 256;
  std::size_t max_associations_per_client = 16;
  std::size_t max_handshakes = 0;
  int connect_max_attempts_in_flight = 4;
  // --- Egress and per-user limits (issue 12) ---
  Egress outbound;                        // --outbound_address (session/egress.h)
  std::size_t max_sessions_per_user = 0;  // 0: no cap (UserTable)
  // --access_log_format=json: each access line is a JSON object (AccessRecord::JsonLine).
  bool access_log_json = false;

  // True when `address` is denied by --deny_destinations (answered with REP 02).
  bool IsDenied(const asio::ip::address& address) const;
};

// The destination policy: `deny` (--deny_destinations), the ports of `listeners` (real ports),
// and `local` (this host's addresses, net::LocalAddresses()).
std::shared_ptr<const udp::DestinationPolicy> MakeDestinationPolicy(
    const std::vector<net::Cidr>& deny, const std::vector<asio::ip::tcp::endpoint>& listeners,
    const std::vector<asio::ip::address>& local);

// One worker's share of everything; used only on that worker's thread (no locks) except
// `active_sessions`, which counts across all workers.
struct Context {
  // `index` of `workers`: where this worker's pickers start in the port ranges, so that workers
  // do not all try the same ports first.
  Context(const Settings& settings, asio::io_context& io, dns::Resolver& resolver,
          std::atomic<std::size_t>& active_sessions, int index, int workers);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Round-robin pickers over --bind_port_range and --udp_port_range; null when unset.
  net::PortPicker* bind_ports() { return bind_ports_ ? &*bind_ports_ : nullptr; }
  net::PortPicker* udp_ports() { return udp_ports_ ? &*udp_ports_ : nullptr; }

  const Settings& settings;
  asio::io_context& io;
  dns::Resolver& resolver;
  std::atomic<std::size_t>& active_sessions;
  relay::Pools pools;
  // --- Destinations and UDP memory (issue 11, defects 2, 3, 12) ---
  // The one decision on every destination (udp/destination.h). Built from --deny_destinations by
  // the constructor; the server replaces it, before its workers start, with one that also knows
  // the listening ports and this host's addresses. Never null.
  std::shared_ptr<const udp::DestinationPolicy> destinations;
  // The process-wide --udp_memory_budget (owned by the server, shared by every worker); null: none.
  udp::MemoryBudget* udp_memory = nullptr;
  // The users and rules (session/policy.h): the server's process-wide store, replaced on SIGHUP; a
  // session reads it once, when it starts (Session::policy()). Tests fill their own. Never null.
  std::shared_ptr<const PolicyStore> policies = std::make_shared<PolicyStore>();
  // Admission (session/admission.h): the process-wide tables (null in tests without a server)
  // and this worker's handshakes in progress.
  Admission* admission = nullptr;
  HandshakeRegistry handshakes;
  // RFC 1929 checks off the loop (session/verifier.h), process-wide, owned by the server; null:
  // checks run inline (tests without a server).
  Verifier* verifier = nullptr;
  // ---- metrics ----
  // This worker's counters (metrics/worker_metrics.h): written on this worker's thread only,
  // read by the --metrics_listen scrape.
  metrics::WorkerMetrics metrics;
  // --metrics_per_user's process-wide table (owned by the server); null: not kept.
  metrics::UserTable* metric_users = nullptr;

 private:
  std::optional<net::PortPicker> bind_ports_;
  std::optional<net::PortPicker> udp_ports_;
};

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_CONTEXT_H_
