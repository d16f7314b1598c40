#include "metrics/worker_metrics.h"

#include <cstring>

#include "metrics/labels.h"

namespace socks5::metrics {
namespace {

template <std::size_t N>
void AddArray(std::array<Counter, N>& to, const std::array<Counter, N>& from) {
  for (std::size_t i = 0; i < N; ++i) to[i].Add(from[i].Get());
}

template <typename E, std::size_t N>
const char* Name(E e, const char* const (&names)[N]) {
  static_assert(N == Count<E>());
  return names[Index(e)];
}

}  // namespace

void Histogram::Observe(std::int64_t nanoseconds) {
  if (nanoseconds < 0) nanoseconds = 0;
  const double seconds = static_cast<double>(nanoseconds) / 1e9;
  std::size_t i = 0;
  while (i < kSecondsBuckets.size() && seconds > kSecondsBuckets[i]) ++i;
  buckets_[i].Add();
  count_.Add();
  sum_ns_.Add(static_cast<std::uint64_t>(nanoseconds));
}

void Histogram::AddFrom(const Histogram& other) {
  AddArray(buckets_, other.buckets_);
  count_.Add(other.count_.Get());
  sum_ns_.Add(other.sum_ns_.Get());
}

void WorkerMetrics::AddFrom(const WorkerMetrics& o) {
  for (std::size_t p = 0; p < sessions.size(); ++p) {
    for (std::size_t c = 0; c < sessions[p].size(); ++c) {
      AddArray(sessions[p][c], o.sessions[p][c]);
      active[p][c].Add(o.active[p][c].Get());
    }
  }
  bytes_up.Add(o.bytes_up.Get());
  bytes_down.Add(o.bytes_down.Get());
  AddArray(handshakes, o.handshakes);
  connect_attempts.Add(o.connect_attempts.Get());
  connect_fallbacks.Add(o.connect_fallbacks.Get());
  connect_seconds.AddFrom(o.connect_seconds);
  AddArray(dns_lookups, o.dns_lookups);
  AddArray(dns_cache_hits, o.dns_cache_hits);
  dns_seconds.AddFrom(o.dns_seconds);
  udp_associations.Add(o.udp_associations.Get());
  udp_datagrams_up.Add(o.udp_datagrams_up.Get());
  udp_datagrams_down.Add(o.udp_datagrams_down.Get());
  AddArray(udp_drops, o.udp_drops);
  fragments_reassembled.Add(o.fragments_reassembled.Get());
  AddArray(fragments_abandoned, o.fragments_abandoned);
  bind_waits.Add(o.bind_waits.Get());
  AddArray(bind_outcomes, o.bind_outcomes);
  AddArray(rule_decisions, o.rule_decisions);
}

Protocol ProtocolOf(const char* proto) {
  if (proto == nullptr) return Protocol::kSocks5;
  for (Protocol p : {Protocol::kSocks4, Protocol::kSocks4a, Protocol::kHttp, Protocol::kTls}) {
    if (std::strcmp(proto, LabelOf(p)) == 0) return p;
  }
  return Protocol::kUnknown;
}

Command CommandOf(const char* command) {
  static constexpr std::pair<const char*, Command> kNames[] = {
      {"CONNECT", Command::kConnect},
      {"BIND", Command::kBind},
      {"UDP_ASSOCIATE", Command::kUdpAssociate},
      {"RESOLVE", Command::kResolve},
      {"RESOLVE_PTR", Command::kResolvePtr},
      {"-", Command::kNone},
  };
  if (command == nullptr) return Command::kNone;
  for (const auto& [name, value] : kNames) {
    if (std::strcmp(command, name) == 0) return value;
  }
  return Command::kUnknown;
}

Reply ReplyOf(std::optional<std::uint8_t> reply) {
  if (!reply) return Reply::kNone;
  if (*reply <= 0x08) return static_cast<Reply>(*reply);
  if (*reply >= 0x5a && *reply <= 0x5d) {
    return static_cast<Reply>(Index(Reply::k5a) + (*reply - 0x5a));
  }
  return Reply::kOther;
}

const char* LabelOf(Protocol p) {
  static const char* const kNames[] = {"socks5", "socks4", "socks4a", "http", "tls", "unknown"};
  return Name(p, kNames);
}
const char* LabelOf(Command c) {
  static const char* const kNames[] = {"connect",     "bind",    "udp_associate", "resolve",
                                       "resolve_ptr", "unknown", "none"};
  return Name(c, kNames);
}
const char* LabelOf(Reply r) {
  static const char* const kNames[] = {"00", "01", "02", "03", "04", "05",    "06",  "07",
                                       "08", "5a", "5b", "5c", "5d", "other", "none"};
  return Name(r, kNames);
}
const char* LabelOf(Handshake h) {
  static const char* const kNames[] = {
      "ok",           "timeout",    "closed", "bad_version", "no_acceptable_method",
      "auth_failure", "bad_request"};
  return Name(h, kNames);
}
const char* LabelOf(DnsResult r) {
  static const char* const kNames[] = {"ok",       "not_found", "timeout", "server_failure",
                                       "bad_name", "cancelled", "busy",    "over_budget",
                                       "other"};
  return Name(r, kNames);
}
const char* LabelOf(DnsCacheHit h) {
  static const char* const kNames[] = {"found", "not_found"};
  return Name(h, kNames);
}
const char* LabelOf(BindOutcome b) {
  static const char* const kNames[] = {"connected", "timeout", "client_closed", "failed"};
  return Name(b, kNames);
}
const char* LabelOf(RuleAction a) {
  static const char* const kNames[] = {"allow", "deny", "default_deny"};
  return Name(a, kNames);
}
const char* LabelOf(Abandoned a) {
  static const char* const kNames[] = {"standalone", "out_of_order", "repeat",  "dst_changed",
                                       "timeout",    "too_big",      "too_many"};
  return Name(a, kNames);
}

}  // namespace socks5::metrics
