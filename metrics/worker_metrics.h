// The counters one worker keeps for --metrics_listen (server/metrics_scrape.h sums every worker's
// at scrape time). Each WorkerMetrics is written by its worker's thread only, so an update is a
// relaxed load and store (no locked read-modify-write, no cache line shared with another
// worker); the scrape thread reads them with relaxed loads. Pure: no I/O, no clock (callers pass
// durations in).
#ifndef SOCKS5_METRICS_WORKER_METRICS_H_
#define SOCKS5_METRICS_WORKER_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace socks5::metrics {

// A monotonic count with one writer. Add() is not safe from two threads at once.
class Counter {
 public:
  void Add(std::uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A level with one writer (sessions active now).
class Gauge {
 public:
  void Add(std::int64_t delta) {
    value_.store(value_.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  std::int64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Upper bounds (seconds) of the duration histograms' buckets; +Inf follows.
inline constexpr std::array<double, 13> kSecondsBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// A histogram of durations with one writer: a fixed array of per-bucket counts (not cumulative;
// the exposition makes them so), the sample count and the sum in nanoseconds.
class Histogram {
 public:
  static constexpr std::size_t kBuckets = kSecondsBuckets.size() + 1;  // + the +Inf bucket
  void Observe(std::int64_t nanoseconds);
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].Get(); }
  std::uint64_t count() const { return count_.Get(); }
  std::uint64_t sum_nanoseconds() const { return sum_ns_.Get(); }
  // Adds `other`'s counts to this one (summing workers; the caller is this one's only writer).
  void AddFrom(const Histogram& other);

 private:
  std::array<Counter, kBuckets> buckets_;
  Counter count_;
  Counter sum_ns_;
};

// --- Label values. Each enum's names are in labels.h; kCount is the number of values. ---

// What the client spoke: AccessRecord::proto (null: SOCKS5).
enum class Protocol { kSocks5, kSocks4, kSocks4a, kHttp, kTls, kUnknown, kCount };
// The request's command; kUnknown: a command byte socks5d does not know; kNone: no request read.
enum class Command {
  kConnect,
  kBind,
  kUdpAssociate,
  kResolve,
  kResolvePtr,
  kUnknown,
  kNone,
  kCount
};
// The last reply code sent: SOCKS5's 00-08, SOCKS4's 5a-5d, kOther for anything else, kNone for
// no reply (the session ended before one).
enum class Reply {
  k00,
  k01,
  k02,
  k03,
  k04,
  k05,
  k06,
  k07,
  k08,
  k5a,
  k5b,
  k5c,
  k5d,
  kOther,
  kNone,
  kCount
};
// How a handshake ended. kOk: a request was read; kClosed: the client went away (or the
// connection failed) before it finished.
enum class Handshake : std::uint8_t {
  kOk,
  kTimeout,
  kClosed,
  kBadVersion,
  kNoAcceptableMethod,
  kAuthFailure,
  kBadRequest,
  kCount
};
// A DNS lookup sent to the servers (or refused before: kBusy, kOverBudget), by its result.
enum class DnsResult {
  kOk,
  kNotFound,
  kTimeout,
  kServerFailure,
  kBadName,
  kCancelled,
  kBusy,
  kOverBudget,
  kOther,
  kCount
};
// A cache hit, by what the cache held.
enum class DnsCacheHit { kFound, kNotFound, kCount };
// How a BIND that listened ended: a peer connected, the wait timed out, the client closed during
// it, or it failed otherwise (a refused peer, an error).
enum class BindOutcome { kConnected, kTimeout, kClientClosed, kFailed, kCount };
// A --rules_file decision: an allow rule, a deny rule, or the implicit deny at the end.
enum class RuleAction { kAllow, kDeny, kDefaultDeny, kCount };
// Why a fragment queue was abandoned (udp/reassembler.h ReassemblerStats).
enum class Abandoned {
  kStandalone,
  kOutOfOrder,
  kRepeat,
  kDstChanged,
  kTimeout,
  kTooBig,
  kTooMany,
  kCount
};
inline constexpr std::size_t kUdpDropKinds = 12;  // udp::kDropKinds (checked in session/)

template <typename E>
constexpr std::size_t Count() {
  return static_cast<std::size_t>(E::kCount);
}
template <typename E>
constexpr std::size_t Index(E e) {
  return static_cast<std::size_t>(e);
}

template <typename E>
using PerLabel = std::array<Counter, Count<E>()>;

// Everything one worker counts. Sessions are counted when they end (with the reply they got) and
// their bytes with them; `active` from the request until the end.
struct WorkerMetrics {
  // Sessions, by protocol x command x reply.
  std::array<std::array<std::array<Counter, Count<Reply>()>, Count<Command>()>, Count<Protocol>()>
      sessions;
  std::array<std::array<Gauge, Count<Command>()>, Count<Protocol>()> active;
  Counter bytes_up;    // client -> target, TCP relay and UDP payloads, of ended sessions
  Counter bytes_down;  // target -> client
  PerLabel<Handshake> handshakes;
  // CONNECT: connection attempts (each address tried), races won by an address other than the
  // first tried (a Happy Eyeballs fallback), and the time a successful race took.
  Counter connect_attempts;
  Counter connect_fallbacks;
  Histogram connect_seconds;
  // DNS (dns/resolver.h): lookups by result, cache hits, the time a lookup sent to the servers
  // took to its answer.
  PerLabel<DnsResult> dns_lookups;
  PerLabel<DnsCacheHit> dns_cache_hits;
  Histogram dns_seconds;
  // UDP ASSOCIATE, added when an association ends.
  Counter udp_associations;
  Counter udp_datagrams_up;
  Counter udp_datagrams_down;
  std::array<Counter, kUdpDropKinds> udp_drops;  // by udp::Drop
  Counter fragments_reassembled;
  PerLabel<Abandoned> fragments_abandoned;
  // BIND: listeners opened (first reply sent) and how their waits ended.
  Counter bind_waits;
  PerLabel<BindOutcome> bind_outcomes;
  // --rules_file: each session's deciding rule.
  PerLabel<RuleAction> rule_decisions;

  // Adds `other` to this (summing workers on the scrape thread; this one is its only writer).
  void AddFrom(const WorkerMetrics& other);
};

// The label values of a session's record (pure mappings, unit-tested).
Protocol ProtocolOf(const char* proto);  // AccessRecord::proto (null: SOCKS5)
Command CommandOf(const char* command);  // AccessRecord::command ("CONNECT", "-", "0x1f")
Reply ReplyOf(std::optional<std::uint8_t> reply);

}  // namespace socks5::metrics

#endif  // SOCKS5_METRICS_WORKER_METRICS_H_
