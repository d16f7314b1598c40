#include "session/session_metrics.h"

#include "session/session.h"
#include "udp/association.h"

namespace socks5::session {
namespace {

using metrics::Index;

static_assert(metrics::kUdpDropKinds == udp::kDropKinds);

std::optional<std::uint8_t> ReplyByte(const AccessRecord& record) {
  if (!record.reply) return std::nullopt;
  return static_cast<std::uint8_t>(*record.reply);
}

metrics::BindOutcome BindOutcomeOf(const AccessRecord::CommandFields& fields) {
  if (fields.peer) return metrics::BindOutcome::kConnected;
  if (fields.outcome == "timeout") return metrics::BindOutcome::kTimeout;
  if (fields.outcome == "client_closed") return metrics::BindOutcome::kClientClosed;
  return metrics::BindOutcome::kFailed;
}

}  // namespace

void CountHandshake(Context& context, const AccessRecord& record) {
  metrics::WorkerMetrics& m = context.metrics;
  m.handshakes[Index(record.handshake)].Add();
  if (record.handshake == metrics::Handshake::kOk) {
    m.active[Index(metrics::ProtocolOf(record.proto))][Index(metrics::CommandOf(record.command))]
        .Add(1);
  }
}

void CountConnect(Context& context, const ConnectResult& result, std::chrono::nanoseconds took) {
  if (!result.ok()) return;
  context.metrics.connect_seconds.Observe(took.count());
  if (result->candidate != 0) context.metrics.connect_fallbacks.Add();
}

void CountAssociation(Context& context, const udp::Association& association) {
  metrics::WorkerMetrics& m = context.metrics;
  const udp::AssociationCounters& counters = association.counters();
  m.udp_associations.Add();
  m.udp_datagrams_up.Add(counters.dgrams_up);
  m.udp_datagrams_down.Add(counters.dgrams_down);
  for (std::size_t i = 0; i < udp::kDropKinds; ++i) m.udp_drops[i].Add(counters.drops[i]);
  const udp::ReassemblerStats& stats = association.reassembly_stats();
  m.fragments_reassembled.Add(stats.reassembled);
  const std::pair<metrics::Abandoned, std::uint64_t> abandoned[] = {
      {metrics::Abandoned::kStandalone, stats.abandoned_by_standalone},
      {metrics::Abandoned::kOutOfOrder, stats.abandoned_out_of_order},
      {metrics::Abandoned::kRepeat, stats.abandoned_repeat},
      {metrics::Abandoned::kDstChanged, stats.abandoned_dst_changed},
      {metrics::Abandoned::kTimeout, stats.abandoned_timeout},
      {metrics::Abandoned::kTooBig, stats.abandoned_too_big},
      {metrics::Abandoned::kTooMany, stats.abandoned_too_many},
  };
  for (const auto& [reason, n] : abandoned) m.fragments_abandoned[Index(reason)].Add(n);
}

void CountSessionEnd(Context& context, const AccessRecord& record,
                     const std::optional<std::string>& user) {
  metrics::WorkerMetrics& m = context.metrics;
  const std::size_t protocol = Index(metrics::ProtocolOf(record.proto));
  const metrics::Command command = metrics::CommandOf(record.command);
  m.sessions[protocol][Index(command)][Index(metrics::ReplyOf(ReplyByte(record)))].Add();
  if (record.handshake == metrics::Handshake::kOk) m.active[protocol][Index(command)].Add(-1);
  m.bytes_up.Add(record.bytes.bytes_up);
  m.bytes_down.Add(record.bytes.bytes_down);
  if (record.rule_decided) {
    const metrics::RuleAction action = record.rule == nullptr ? metrics::RuleAction::kDefaultDeny
                                       : record.rule->allow   ? metrics::RuleAction::kAllow
                                                              : metrics::RuleAction::kDeny;
    m.rule_decisions[Index(action)].Add();
  }
  if (command == metrics::Command::kBind && record.command_fields && record.command_fields->bound) {
    m.bind_waits.Add();
    m.bind_outcomes[Index(BindOutcomeOf(*record.command_fields))].Add();
  }
  if (context.metric_users != nullptr && user) {
    context.metric_users->Add(*user, record.bytes.bytes_up, record.bytes.bytes_down);
  }
}

}  // namespace socks5::session
