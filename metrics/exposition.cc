#include "metrics/exposition.h"

#include <algorithm>
#include <limits>
#include <sstream>
#include <utility>

#include "metrics/labels.h"
#include "prometheus/text_serializer.h"

namespace socks5::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

using Labels = std::vector<ClientMetric::Label>;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

void AddCounter(MetricFamily& family, Labels labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  family.metric.push_back(std::move(metric));
}

void AddGauge(MetricFamily& family, Labels labels, double value) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  family.metric.push_back(std::move(metric));
}

MetricFamily Counter1(std::string name, std::string help, std::uint64_t value) {
  MetricFamily family = Family(std::move(name), std::move(help), MetricType::Counter);
  AddCounter(family, {}, static_cast<double>(value));
  return family;
}

MetricFamily Gauge1(std::string name, std::string help, std::int64_t value) {
  MetricFamily family = Family(std::move(name), std::move(help), MetricType::Gauge);
  AddGauge(family, {}, static_cast<double>(value));
  return family;
}

// One counter per value of E, labelled `label`.
template <typename E>
MetricFamily ByLabel(std::string name, std::string help, const char* label,
                     const PerLabel<E>& counters) {
  MetricFamily family = Family(std::move(name), std::move(help), MetricType::Counter);
  for (std::size_t i = 0; i < Count<E>(); ++i) {
    AddCounter(family, {{label, LabelOf(static_cast<E>(i))}},
               static_cast<double>(counters[i].Get()));
  }
  return family;
}

MetricFamily HistogramFamily(std::string name, std::string help, const Histogram& h) {
  MetricFamily family = Family(std::move(name), std::move(help), MetricType::Histogram);
  ClientMetric metric;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kSecondsBuckets.size(); ++i) {
    cumulative += h.bucket(i);
    metric.histogram.bucket.push_back({cumulative, kSecondsBuckets[i]});
  }
  cumulative += h.bucket(kSecondsBuckets.size());
  metric.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = static_cast<double>(h.sum_nanoseconds()) / 1e9;
  family.metric.push_back(std::move(metric));
  return family;
}

void SessionFamilies(const WorkerMetrics& m, std::vector<MetricFamily>& out) {
  MetricFamily total = Family("socks5d_sessions_total",
                              "Client connections that ended, by the protocol spoken, the "
                              "command requested and the last reply code sent.",
                              MetricType::Counter);
  MetricFamily active =
      Family("socks5d_sessions_active", "Sessions past their handshake, by protocol and command.",
             MetricType::Gauge);
  for (std::size_t p = 0; p < Count<Protocol>(); ++p) {
    for (std::size_t c = 0; c < Count<Command>(); ++c) {
      const char* protocol = LabelOf(static_cast<Protocol>(p));
      const char* command = LabelOf(static_cast<Command>(c));
      for (std::size_t r = 0; r < Count<Reply>(); ++r) {
        // Only what happened: 630 mostly impossible combinations would be noise.
        const std::uint64_t n = m.sessions[p][c][r].Get();
        if (n == 0) continue;
        AddCounter(total,
                   {{"protocol", protocol},
                    {"command", command},
                    {"reply", LabelOf(static_cast<Reply>(r))}},
                   static_cast<double>(n));
      }
      const bool common = static_cast<Protocol>(p) == Protocol::kSocks5 &&
                          static_cast<Command>(c) <= Command::kUdpAssociate;
      const std::int64_t n = m.active[p][c].Get();
      if (n != 0 || common) {
        AddGauge(active, {{"protocol", protocol}, {"command", command}}, static_cast<double>(n));
      }
    }
  }
  out.push_back(std::move(total));
  out.push_back(std::move(active));
  MetricFamily bytes = Family("socks5d_relayed_bytes_total",
                              "Payload bytes relayed by ended sessions (TCP and UDP), by "
                              "direction: up is client to target.",
                              MetricType::Counter);
  AddCounter(bytes, {{"direction", "up"}}, static_cast<double>(m.bytes_up.Get()));
  AddCounter(bytes, {{"direction", "down"}}, static_cast<double>(m.bytes_down.Get()));
  out.push_back(std::move(bytes));
  out.push_back(ByLabel<Handshake>("socks5d_handshakes_total", "Handshakes, by how they ended.",
                                   "outcome", m.handshakes));
}

void CommandFamilies(const WorkerMetrics& m, const ProcessMetrics& p,
                     std::vector<MetricFamily>& out) {
  out.push_back(Counter1("socks5d_connect_attempts_total",
                         "TCP connection attempts CONNECT made (each address tried).",
                         m.connect_attempts.Get()));
  out.push_back(Counter1("socks5d_connect_fallbacks_total",
                         "CONNECTs that succeeded through an address other than the first "
                         "tried (a Happy Eyeballs fallback).",
                         m.connect_fallbacks.Get()));
  out.push_back(HistogramFamily("socks5d_connect_duration_seconds",
                                "Time from the first connection attempt of a CONNECT to its "
                                "successful connection.",
                                m.connect_seconds));
  out.push_back(ByLabel<DnsResult>("socks5d_dns_lookups_total",
                                   "Name lookups sent to the DNS servers by result; busy and "
                                   "over_budget were refused before any query.",
                                   "result", m.dns_lookups));
  out.push_back(ByLabel<DnsCacheHit>("socks5d_dns_cache_hits_total",
                                     "Lookups answered from the DNS cache, by the answer.",
                                     "result", m.dns_cache_hits));
  out.push_back(HistogramFamily("socks5d_dns_lookup_duration_seconds",
                                "Time a lookup sent to the DNS servers took to its answer.",
                                m.dns_seconds));
  out.push_back(Counter1("socks5d_udp_associations_total", "UDP associations that ended.",
                         m.udp_associations.Get()));
  MetricFamily dgrams =
      Family("socks5d_udp_datagrams_total",
             "Datagrams relayed by ended UDP associations, by direction.", MetricType::Counter);
  AddCounter(dgrams, {{"direction", "up"}}, static_cast<double>(m.udp_datagrams_up.Get()));
  AddCounter(dgrams, {{"direction", "down"}}, static_cast<double>(m.udp_datagrams_down.Get()));
  out.push_back(std::move(dgrams));
  MetricFamily drops =
      Family("socks5d_udp_dropped_datagrams_total",
             "Datagrams ended UDP associations did not relay, by reason.", MetricType::Counter);
  for (std::size_t i = 0; i < m.udp_drops.size() && i < p.udp_drop_names.size(); ++i) {
    AddCounter(drops, {{"reason", p.udp_drop_names[i]}}, static_cast<double>(m.udp_drops[i].Get()));
  }
  out.push_back(std::move(drops));
  out.push_back(Counter1("socks5d_udp_fragments_reassembled_total",
                         "Fragmented UDP datagrams reassembled whole.",
                         m.fragments_reassembled.Get()));
  out.push_back(ByLabel<Abandoned>("socks5d_udp_fragments_abandoned_total",
                                   "Fragment queues abandoned, by reason.", "reason",
                                   m.fragments_abandoned));
  out.push_back(Counter1("socks5d_bind_waits_total",
                         "BIND listeners opened to wait for the incoming connection.",
                         m.bind_waits.Get()));
  out.push_back(ByLabel<BindOutcome>("socks5d_bind_outcomes_total", "How BIND waits ended.",
                                     "outcome", m.bind_outcomes));
  out.push_back(ByLabel<RuleAction>("socks5d_rule_decisions_total",
                                    "Sessions decided by --rules_file, by the deciding rule's "
                                    "action.",
                                    "action", m.rule_decisions));
}

void ProcessFamilies(const ProcessMetrics& p, std::vector<MetricFamily>& out) {
  MetricFamily limits = Family("socks5d_limits_hit_total",
                               "Times a limit refused or shed something (or a resource ran "
                               "out), by the limit and what happened; listed once hit.",
                               MetricType::Counter);
  for (const LimitCount& limit : p.limits) {
    AddCounter(limits, {{"limit", limit.limit}, {"event", limit.event}},
               static_cast<double>(limit.count));
  }
  out.push_back(std::move(limits));
  out.push_back(Gauge1("socks5d_open_connections",
                       "Client connections open (in their handshake or past it).",
                       p.sessions_open));
  out.push_back(
      Gauge1("socks5d_handshakes_active", "Connections in their handshake.", p.handshakes_active));
  out.push_back(Gauge1("socks5d_descriptors_in_use",
                       "Descriptors sessions hold, as charged to the descriptor budget.",
                       p.descriptors_in_use));
  out.push_back(Gauge1("socks5d_descriptor_budget",
                       "Descriptors sessions may hold (RLIMIT_NOFILE less a reserve).",
                       p.descriptor_budget));
  out.push_back(Counter1("socks5d_reloads_total",
                         "SIGHUP reloads that published the users and rules files.", p.reloads));
  out.push_back(Counter1("socks5d_reload_failures_total",
                         "SIGHUP reloads refused because a file was invalid.", p.reload_failures));
  MetricFamily info =
      Family("socks5d_build_info", "Always 1; the version is a label.", MetricType::Gauge);
  AddGauge(info, {{"version", p.version}}, 1);
  out.push_back(std::move(info));
  if (!p.per_user) return;
  MetricFamily sessions = Family("socks5d_user_sessions_total",
                                 "Ended sessions of each authenticated user (--metrics_per_user).",
                                 MetricType::Counter);
  MetricFamily bytes = Family("socks5d_user_relayed_bytes_total",
                              "Payload bytes of each authenticated user's ended sessions, by "
                              "direction (--metrics_per_user).",
                              MetricType::Counter);
  for (const UserCount& user : p.users) {
    AddCounter(sessions, {{"user", user.user}}, static_cast<double>(user.sessions));
    AddCounter(bytes, {{"user", user.user}, {"direction", "up"}},
               static_cast<double>(user.bytes_up));
    AddCounter(bytes, {{"user", user.user}, {"direction", "down"}},
               static_cast<double>(user.bytes_down));
  }
  out.push_back(std::move(sessions));
  out.push_back(std::move(bytes));
}

}  // namespace

std::vector<MetricFamily> Families(const WorkerMetrics& total, const ProcessMetrics& process) {
  std::vector<MetricFamily> out;
  SessionFamilies(total, out);
  CommandFamilies(total, process, out);
  ProcessFamilies(process, out);
  return out;
}

std::string Render(const std::vector<MetricFamily>& families) {
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, families);
  return text.str();
}

void UserTable::Add(const std::string& user, std::uint64_t bytes_up, std::uint64_t bytes_down) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = users_.find(user);
  if (it == users_.end()) {
    const bool room = named_ < max_users_;
    if (room) ++named_;
    it = users_.try_emplace(room ? user : std::string(kOther)).first;
    it->second.user = it->first;
  }
  ++it->second.sessions;
  it->second.bytes_up += bytes_up;
  it->second.bytes_down += bytes_down;
}

std::vector<UserCount> UserTable::Snapshot() const {
  std::vector<UserCount> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, count] : users_) out.push_back(count);
  }
  std::sort(out.begin(), out.end(),
            [](const UserCount& a, const UserCount& b) { return a.user < b.user; });
  return out;
}

}  // namespace socks5::metrics
