#include "metrics/worker_metrics.h"

#include <memory>

#include "gtest/gtest.h"
#include "metrics/labels.h"

namespace socks5::metrics {
namespace {

TEST(WorkerMetricsTest, LabelsOfTheAccessRecord) {
  EXPECT_EQ(ProtocolOf(nullptr), Protocol::kSocks5);
  EXPECT_EQ(ProtocolOf("socks4a"), Protocol::kSocks4a);
  EXPECT_EQ(ProtocolOf("http"), Protocol::kHttp);
  EXPECT_EQ(ProtocolOf("something new"), Protocol::kUnknown);
  EXPECT_EQ(CommandOf("CONNECT"), Command::kConnect);
  EXPECT_EQ(CommandOf("UDP_ASSOCIATE"), Command::kUdpAssociate);
  EXPECT_EQ(CommandOf("RESOLVE_PTR"), Command::kResolvePtr);
  EXPECT_EQ(CommandOf("-"), Command::kNone);
  EXPECT_EQ(CommandOf("0x1f"), Command::kUnknown);
  EXPECT_EQ(ReplyOf(std::nullopt), Reply::kNone);
  EXPECT_STREQ(LabelOf(ReplyOf(0x00)), "00");
  EXPECT_STREQ(LabelOf(ReplyOf(0x08)), "08");
  EXPECT_STREQ(LabelOf(ReplyOf(0x5a)), "5a");
  EXPECT_STREQ(LabelOf(ReplyOf(0x5d)), "5d");
  EXPECT_EQ(ReplyOf(0x09), Reply::kOther);
  EXPECT_EQ(ReplyOf(0xff), Reply::kOther);
}

TEST(WorkerMetricsTest, EveryLabelValueHasAName) {
  for (std::size_t i = 0; i < Count<Command>(); ++i) {
    EXPECT_NE(LabelOf(static_cast<Command>(i)), nullptr);
  }
  EXPECT_STREQ(LabelOf(Command::kNone), "none");
  EXPECT_STREQ(LabelOf(Handshake::kNoAcceptableMethod), "no_acceptable_method");
  EXPECT_STREQ(LabelOf(DnsResult::kOther), "other");
  EXPECT_STREQ(LabelOf(Abandoned::kTooMany), "too_many");
  EXPECT_STREQ(LabelOf(RuleAction::kDefaultDeny), "default_deny");
}

TEST(HistogramTest, BucketsByUpperBound) {
  Histogram h;
  h.Observe(1'000'000);       // 1 ms: the first bucket (le=0.001 includes its bound)
  h.Observe(1'000'001);       // just over: the second
  h.Observe(20'000'000'000);  // 20 s: +Inf
  h.Observe(-5);              // a clock step backwards counts as 0
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(Histogram::kBuckets - 1), 1u);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.sum_nanoseconds(), 1'000'000u + 1'000'001u + 20'000'000'000u);
}

TEST(WorkerMetricsTest, AddFromSumsEveryField) {
  auto a = std::make_unique<WorkerMetrics>();
  auto b = std::make_unique<WorkerMetrics>();
  a->sessions[0][1][2].Add(3);
  b->sessions[0][1][2].Add(4);
  a->active[1][0].Add(2);
  b->active[1][0].Add(-1);
  a->bytes_up.Add(10);
  b->bytes_down.Add(20);
  b->handshakes[Index(Handshake::kTimeout)].Add();
  b->connect_attempts.Add(5);
  b->connect_fallbacks.Add();
  b->connect_seconds.Observe(2'000'000);
  b->dns_lookups[Index(DnsResult::kBusy)].Add();
  b->dns_cache_hits[Index(DnsCacheHit::kFound)].Add(2);
  b->dns_seconds.Observe(1);
  b->udp_associations.Add();
  b->udp_datagrams_up.Add(7);
  b->udp_datagrams_down.Add(8);
  b->udp_drops[11].Add(9);
  b->fragments_reassembled.Add();
  b->fragments_abandoned[Index(Abandoned::kTimeout)].Add();
  b->bind_waits.Add();
  b->bind_outcomes[Index(BindOutcome::kConnected)].Add();
  b->rule_decisions[Index(RuleAction::kDeny)].Add();

  auto total = std::make_unique<WorkerMetrics>();
  total->AddFrom(*a);
  total->AddFrom(*b);
  EXPECT_EQ(total->sessions[0][1][2].Get(), 7u);
  EXPECT_EQ(total->active[1][0].Get(), 1);
  EXPECT_EQ(total->bytes_up.Get(), 10u);
  EXPECT_EQ(total->bytes_down.Get(), 20u);
  EXPECT_EQ(total->handshakes[Index(Handshake::kTimeout)].Get(), 1u);
  EXPECT_EQ(total->connect_attempts.Get(), 5u);
  EXPECT_EQ(total->connect_fallbacks.Get(), 1u);
  EXPECT_EQ(total->connect_seconds.count(), 1u);
  EXPECT_EQ(total->dns_lookups[Index(DnsResult::kBusy)].Get(), 1u);
  EXPECT_EQ(total->dns_cache_hits[Index(DnsCacheHit::kFound)].Get(), 2u);
  EXPECT_EQ(total->dns_seconds.count(), 1u);
  EXPECT_EQ(total->udp_associations.Get(), 1u);
  EXPECT_EQ(total->udp_datagrams_up.Get(), 7u);
  EXPECT_EQ(total->udp_datagrams_down.Get(), 8u);
  EXPECT_EQ(total->udp_drops[11].Get(), 9u);
  EXPECT_EQ(total->fragments_reassembled.Get(), 1u);
  EXPECT_EQ(total->fragments_abandoned[Index(Abandoned::kTimeout)].Get(), 1u);
  EXPECT_EQ(total->bind_waits.Get(), 1u);
  EXPECT_EQ(total->bind_outcomes[Index(BindOutcome::kConnected)].Get(), 1u);
  EXPECT_EQ(total->rule_decisions[Index(RuleAction::kDeny)].Get(), 1u);
}

}  // namespace
}  // namespace socks5::metrics
