// Asynchronous A + AAAA resolution on c-ares, one Resolver per worker io_context. The io_context
// owns the waiting (socket readiness and timers); c-ares owns the sockets. Answers are cached with
// their TTLs in a bounded cache (c-ares 1.18 has none), and concurrent lookups of one name share a
// single query.
//
// Hardening (issue 11, defects 6 and 7):
// - At most ResolverOptions::max_in_flight queries are in c-ares at once; over that a lookup fails
//   at once with Errc::kBusy. A LookupBudget bounds what one caller (a session, a UDP
//   association) has waiting; over it a lookup fails at once with Errc::kOverBudget.
// - Every queries_per_channel lookups a fresh c-ares channel, hence a fresh random UDP source
//   port, takes over; the old one finishes its queries and is then destroyed. c-ares 1.18 keeps
//   one UDP socket per server open while any query is pending, so under steady load every query
//   would otherwise leave from one port, and only the 16-bit query ID would stand between an
//   off-path spoofer and the cache. This is a mitigation, not a defence: c-ares does no DNSSEC;
//   point the servers at a local validating resolver (unbound, knot-resolver, systemd-resolved
//   with DNSSEC=yes) for answers that can be trusted.
#ifndef SOCKS5_DNS_RESOLVER_H_
#define SOCKS5_DNS_RESOLVER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "metrics/worker_metrics.h"

namespace socks5::dns {

// Resolution failures, as std::error_code in dns::Category().
enum class Errc {
  kNotFound = 1,  // NXDOMAIN, or the name has no A/AAAA records
  kTimeout = 2,   // no answer within ResolverOptions::timeout
  kServerFailure = 3,
  kBadName = 4,     // not a resolvable host name
  kCancelled = 5,   // the Resolver was destroyed with the query in flight
  kBusy = 6,        // ResolverOptions::max_in_flight queries are already in flight
  kOverBudget = 7,  // the caller's LookupBudget is used up
};
const std::error_category& Category();
std::error_code make_error_code(Errc e);

struct ResolverOptions {
  // "IP", "IP:PORT" or "[IPv6]:PORT"; empty means the system's resolv.conf.
  std::vector<std::string> servers;
  absl::Duration timeout = absl::Seconds(5);       // per lookup, all tries included
  std::size_t cache_entries = 4096;                // bound on cached names
  absl::Duration max_ttl = absl::Hours(1);         // cap on a cached answer's life
  absl::Duration negative_ttl = absl::Seconds(5);  // how long "not found" is cached
  // Queries (distinct names being looked up) in c-ares at once, all channels together; a lookup
  // that joins a query for the same name adds none. Over it: Errc::kBusy, at once. 0: no limit.
  // c-ares 1.18 walks every pending query on each timeout pass, so the cost per event grows with
  // this number; 1,000 keeps that walk to microseconds, and still allows 10,000 lookups a second
  // per worker at 100 ms each (a DNS server that needs longer for most names is failing anyway).
  std::size_t max_in_flight = 1000;
  // Lookups sent through one c-ares channel (one UDP socket per server, so one source port)
  // before a fresh channel takes over. 0: never rotate. With 100, a spoofer must match the port
  // as well as the ID for all but the next 99 lookups, at the cost of one channel set-up
  // (resolv.conf read, a socket) per 100 lookups. Old channels stay open until their last query
  // ends; at most kMaxChannels are open at once (a socket per server each), and while that many
  // are, the current channel carries on past this number.
  std::size_t queries_per_channel = 100;
};

// Bounds the lookups one caller (a session, a UDP association) has waiting at once: lookups that
// start a query and lookups that join one alike; IP literals, bad names and cache hits complete
// without waiting and are not counted. Over the limit a lookup completes at once (posted) with
// Errc::kOverBudget, which callers treat as they treat kBusy: reply 04 to a CONNECT or BIND, a
// counted drop for a UDP datagram. Use it on the Resolver's thread only. It may be destroyed
// while its lookups are still waiting: they complete as usual. A limit of 0 means no limit.
//
// Wiring: a CONNECT or BIND session awaits one lookup at a time, so it is bounded to 1 already. A
// UDP association looks names up for datagrams as they come, so it should own one budget (a
// limit of about 16: a client rarely talks to more new names at once) and pass it to every
// Resolve its ResolveFunction makes. A kBusy or kOverBudget answer says nothing about the name:
// do not remember it as "not found".
class LookupBudget {
 public:
  explicit LookupBudget(std::size_t limit) : state_(std::make_shared<State>(State{limit, 0})) {}
  std::size_t limit() const { return state_->limit; }
  std::size_t in_flight() const { return state_->in_flight; }

 private:
  friend class Resolver;
  struct State {
    std::size_t limit;
    std::size_t in_flight;
  };
  std::shared_ptr<State> state_;  // shared with the handlers of its waiting lookups
};

// c-ares channels open at once per Resolver, the current one included: bounds the descriptors that
// rotation can hold (8 UDP sockets per server) when old channels wait on queries that never end.
inline constexpr std::size_t kMaxChannels = 8;

// Checks "IP[:PORT],..." server syntax (for start-up errors); used by Create too.
absl::Status ValidateServers(const std::vector<std::string>& servers);

// Not thread-safe: create, use and destroy it on its io_context's thread, and destroy it before
// the io_context. Names are looked up in /etc/hosts first, then DNS ("localhost" never leaves).
class Resolver {
 public:
  using Addresses = std::vector<asio::ip::address>;
  using Handler = std::function<void(std::error_code, Addresses)>;

  static absl::StatusOr<std::unique_ptr<Resolver>> Create(asio::io_context& io,
                                                          ResolverOptions options);
  ~Resolver();  // pending handlers are completed with Errc::kCancelled (posted, never inline)

  // Resolves `name` (A and AAAA). An IP literal completes with itself. The handler always runs
  // later on the io_context (posted), never inside this call. With a `budget`, the lookup counts
  // against it while it waits (see LookupBudget); the budget need only outlive this call.
  void Resolve(const std::string& name, Handler handler);
  void Resolve(const std::string& name, LookupBudget& budget, Handler handler);

  // Awaitable form: co_await resolver.AsyncResolve(name) -> {error_code, addresses}. `budget`, if
  // not null, must stay alive until the co_await starts (it does in the caller's frame).
  asio::awaitable<std::pair<std::error_code, Addresses>> AsyncResolve(
      std::string name, LookupBudget* budget = nullptr);

  // PTR lookup (RESOLVE_PTR): the name of `address` (the first PTR answer; the hosts file first,
  // as for Resolve). Failures as for Resolve (kNotFound for NXDOMAIN or no PTR record); bounded
  // by the same timeout, max_in_flight and budget, with the same posted completion. Answers are
  // not cached and concurrent lookups of one address are not shared (each is one query).
  using PtrHandler = std::function<void(std::error_code, std::string)>;
  void ResolvePtr(const asio::ip::address& address, PtrHandler handler);
  asio::awaitable<std::pair<std::error_code, std::string>> AsyncResolvePtr(
      asio::ip::address address);

  // Queries in c-ares now (what max_in_flight bounds; a query whose callers already got kTimeout
  // counts until c-ares ends its last try), and c-ares channels open now (the current one and
  // those still finishing their queries): for tests and statistics.
  std::size_t queries_in_flight() const;
  std::size_t channels() const;
  // ---- metrics ----
  // Counts A/AAAA lookups (by result, cache hits, their durations) in `metrics`, its worker's
  // (written on this loop's thread only); null: not counted. PTR lookups are not counted.
  void SetMetrics(metrics::WorkerMetrics* metrics);

 private:
  class Impl;
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace socks5::dns

template <>
struct std::is_error_code_enum<socks5::dns::Errc> : std::true_type {};

#endif  // SOCKS5_DNS_RESOLVER_H_
