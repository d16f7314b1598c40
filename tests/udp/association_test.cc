#include "udp/association.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/udp_header.h"

namespace socks5::udp {
namespace {

using Kind = Association::Step::Kind;
using std::chrono::seconds;

const IpAddress kClientIp(protocol::Ipv4{127, 0, 0, 1});
const IpAddress kOtherIp(protocol::Ipv4{127, 0, 0, 2});
const Endpoint kClient{kClientIp, 5000};
const Endpoint kTarget{IpAddress(protocol::Ipv4{10, 0, 0, 1}), 53};

protocol::Address Ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d,
                      std::uint16_t port) {
  return protocol::Address{protocol::Ipv4{a, b, c, d}, port};
}

// RSV FRAG ATYP DST.ADDR DST.PORT DATA
std::vector<std::uint8_t> Datagram(const protocol::Address& dst, std::string_view data,
                                   std::uint8_t frag = 0) {
  std::vector<std::uint8_t> out(protocol::kMaxUdpHeaderSize);
  out.resize(protocol::EncodeUdpHeader(protocol::UdpHeader{frag, dst}, out));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
std::string Text(std::span<const std::uint8_t> s) { return std::string(s.begin(), s.end()); }

class AssociationTest : public ::testing::Test {
 protected:
  explicit AssociationTest(protocol::Address requested = protocol::Address{},
                           AssociationOptions options = {})
      : association_(kClientIp, requested, std::move(options)) {}

  // The step's payload may point into the input, which is kept until the next call.
  Association::Step FromClient(std::vector<std::uint8_t> bytes, const Endpoint& source = kClient) {
    input_ = std::move(bytes);
    return association_.FromClient(source, input_, now_);
  }
  // Sends a datagram from the client that is expected to go straight to `kTarget`.
  void SendToTarget(std::string_view data) {
    Association::Step step = FromClient(Datagram(Ip4(10, 0, 0, 1, 53), data));
    ASSERT_EQ(step.kind, Kind::kSend);
    association_.Sent(step.target, step.payload.size());
  }

  Association association_;
  SteadyTime now_{};
  std::vector<std::uint8_t> input_;
};

TEST_F(AssociationTest, StandaloneDatagramGoesToItsTargetWithoutTheHeader) {
  Association::Step step = FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "query"));
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_EQ(step.target, kTarget);
  EXPECT_EQ(Text(step.payload), "query");
  association_.Sent(step.target, step.payload.size());
  EXPECT_EQ(association_.counters().dgrams_up, 1u);
  EXPECT_EQ(association_.counters().bytes_up, 5u);
}

TEST_F(AssociationTest, Ipv6TargetIsSentAsIs) {
  protocol::Ipv6 v6{};
  v6[15] = 1;
  Association::Step step = FromClient(Datagram(protocol::Address{v6, 7}, "x"));
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_EQ(step.target, (Endpoint{IpAddress(v6), 7}));
}

TEST_F(AssociationTest, FirstDatagramLocksTheClientPort) {
  EXPECT_FALSE(association_.client().has_value());
  SendToTarget("a");
  EXPECT_EQ(association_.client(), kClient);
  EXPECT_EQ(FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "b"), Endpoint{kClientIp, 5001}).kind,
            Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kWrongPort), 1u);
}

TEST_F(AssociationTest, ForeignIpIsDroppedAndDoesNotLockThePort) {
  EXPECT_EQ(FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "x"), Endpoint{kOtherIp, 5000}).kind,
            Kind::kNone);
  EXPECT_EQ(FromClient({0xff}, Endpoint{kOtherIp, 5000}).kind, Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kForeignIp), 2u);
  EXPECT_FALSE(association_.client().has_value());
  SendToTarget("still works");
}

TEST_F(AssociationTest, MalformedDatagramsAreDroppedWithoutLockingThePort) {
  const std::vector<std::vector<std::uint8_t>> bad = {
      {},                                // empty
      {0, 0, 0, 1, 10, 0},               // short IPv4 address
      {0, 1, 0, 1, 10, 0, 0, 1, 0, 53},  // RSV not zero
      {0, 0, 0, 9, 10, 0, 0, 1, 0, 53},  // unknown ATYP
      {0, 0, 0, 3, 0, 0, 53},            // empty domain
  };
  for (const auto& bytes : bad) {
    EXPECT_EQ(FromClient(bytes, Endpoint{kClientIp, 6000}).kind, Kind::kNone);
  }
  EXPECT_EQ(association_.counters().drop(Drop::kMalformed), bad.size());
  EXPECT_FALSE(association_.client().has_value());
  SendToTarget("after garbage");
  EXPECT_EQ(association_.client(), kClient);
}

class NamedPortTest : public AssociationTest {
 protected:
  NamedPortTest() : AssociationTest(Ip4(127, 0, 0, 1, 5000)) {}
};

TEST_F(NamedPortTest, TheNamedPortLocksForGoodWhenItSendsFirst) {
  EXPECT_EQ(association_.client(), kClient);
  SendToTarget("named");
  EXPECT_EQ(FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "x"), Endpoint{kClientIp, 4999}).kind,
            Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kWrongPort), 1u);
  EXPECT_EQ(association_.client(), kClient);
  EXPECT_EQ(association_.LogFields().find("dst_hint"), std::string::npos);
}

TEST_F(NamedPortTest, TheNamedPortTakesOverWhenItSendsLater) {
  const Endpoint other{kClientIp, 4999};
  Association::Step step = FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "first"), other);
  ASSERT_EQ(step.kind, Kind::kSend);
  association_.Sent(step.target, step.payload.size());
  EXPECT_EQ(association_.client(), other);
  SendToTarget("named");
  EXPECT_EQ(association_.client(), kClient);
  EXPECT_EQ(FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "late"), other).kind, Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kWrongPort), 1u);
  EXPECT_EQ(association_.FromRemote(kTarget), kClient);
}

// v2ray and Xray put the target in DST; here the target is on the client's own address
// (127.0.0.1:5000), and the client sends from another port. Its datagrams go to the target and the
// target's answers come back to the port the client sent from.
TEST_F(NamedPortTest, TargetInDstOnTheClientsOwnAddress) {
  const Endpoint source{kClientIp, 40000};
  const Endpoint target{kClientIp, 5000};
  Association::Step step = FromClient(Datagram(Ip4(127, 0, 0, 1, 5000), "query"), source);
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_EQ(step.target, target);
  association_.Sent(step.target, step.payload.size());
  EXPECT_EQ(association_.client(), source);
  EXPECT_EQ(association_.FromRemote(target), source);
  EXPECT_EQ(FromClient(Datagram(Ip4(127, 0, 0, 1, 5000), "x"), Endpoint{kClientIp, 40001}).kind,
            Kind::kNone);
  EXPECT_EQ(FromClient(Datagram(Ip4(127, 0, 0, 1, 5000), "x"), Endpoint{kOtherIp, 40000}).kind,
            Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kWrongPort), 1u);
  EXPECT_EQ(association_.counters().drop(Drop::kForeignIp), 1u);
  EXPECT_NE(association_.LogFields().find(" dst_hint=unused"), std::string::npos);
}

TEST_F(AssociationTest, FragmentsAreReassembledIntoOneDatagram) {
  const protocol::Address dst = Ip4(10, 0, 0, 1, 53);
  EXPECT_EQ(FromClient(Datagram(dst, "ab", 0x01)).kind, Kind::kNone);
  EXPECT_EQ(FromClient(Datagram(dst, "cd", 0x02)).kind, Kind::kNone);
  EXPECT_TRUE(association_.ReassemblyExpiry().has_value());
  Association::Step step = FromClient(Datagram(dst, "ef", 0x83));
  ASSERT_EQ(step.kind, Kind::kSend);
  EXPECT_EQ(step.target, kTarget);
  EXPECT_EQ(Text(step.payload), "abcdef");
  EXPECT_FALSE(association_.ReassemblyExpiry().has_value());
  EXPECT_EQ(association_.reassembly_stats().reassembled, 1u);
}

TEST_F(AssociationTest, ExpiredReassemblyQueueIsAbandoned) {
  const protocol::Address dst = Ip4(10, 0, 0, 1, 53);
  FromClient(Datagram(dst, "ab", 0x01));
  ASSERT_TRUE(association_.ReassemblyExpiry().has_value());
  EXPECT_EQ(*association_.ReassemblyExpiry(), now_ + seconds(5));
  now_ += seconds(5);
  association_.OnReassemblyTimer(now_);
  EXPECT_FALSE(association_.ReassemblyExpiry().has_value());
  EXPECT_EQ(FromClient(Datagram(dst, "cd", 0x82)).kind, Kind::kNone);  // position 2 alone
  EXPECT_EQ(association_.reassembly_stats().abandoned_timeout, 1u);
  EXPECT_EQ(association_.counters().drop(Drop::kFragment), 1u);
}

TEST_F(AssociationTest, DomainTargetIsResolvedOnceAndQueuedMeanwhile) {
  const protocol::Address dst{std::string("game.test"), 9000};
  Association::Step first = FromClient(Datagram(dst, "1"));
  ASSERT_EQ(first.kind, Kind::kResolve);
  EXPECT_EQ(first.name, "game.test");
  EXPECT_EQ(FromClient(Datagram(dst, "2")).kind, Kind::kNone);  // waits for the same lookup

  const IpAddress resolved(protocol::Ipv4{127, 0, 0, 5});
  std::vector<Association::Outbound> out = association_.Resolved("game.test", {resolved}, now_);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].target, (Endpoint{resolved, 9000}));
  EXPECT_EQ(Text(out[0].payload), "1");
  EXPECT_EQ(Text(out[1].payload), "2");

  Association::Step cached = FromClient(Datagram(dst, "3"));
  ASSERT_EQ(cached.kind, Kind::kSend);
  EXPECT_EQ(cached.target, (Endpoint{resolved, 9000}));
}

TEST_F(AssociationTest, UnresolvedDomainDropsItsQueue) {
  const protocol::Address dst{std::string("nx.test"), 9000};
  ASSERT_EQ(FromClient(Datagram(dst, "1")).kind, Kind::kResolve);
  FromClient(Datagram(dst, "2"));
  EXPECT_TRUE(association_.Resolved("nx.test", {}, now_).empty());
  EXPECT_EQ(association_.counters().drop(Drop::kUnresolved), 2u);
}

TEST_F(AssociationTest, RestrictedPolicyAdmitsOnlyEndpointsSentTo) {
  EXPECT_FALSE(association_.FromRemote(kTarget).has_value());  // no client yet, nothing sent
  SendToTarget("hello");
  EXPECT_EQ(association_.FromRemote(kTarget), kClient);
  EXPECT_FALSE(association_.FromRemote(Endpoint{kTarget.ip, 54}).has_value());
  EXPECT_FALSE(association_.FromRemote(Endpoint{kOtherIp, 53}).has_value());
  EXPECT_EQ(association_.counters().drop(Drop::kUnsolicited), 3u);
  association_.Delivered(7);
  EXPECT_EQ(association_.counters().dgrams_down, 1u);
  EXPECT_EQ(association_.counters().bytes_down, 7u);
}

class FullConeTest : public AssociationTest {
 protected:
  static AssociationOptions FullCone() {
    AssociationOptions options;
    options.reply_policy = ReplyPolicy::kFullCone;
    return options;
  }
  FullConeTest() : AssociationTest(protocol::Address{}, FullCone()) {}
};

TEST_F(FullConeTest, AnyRemoteReachesTheClientOnceItsPortIsKnown) {
  EXPECT_FALSE(association_.FromRemote(Endpoint{kOtherIp, 1}).has_value());
  SendToTarget("hello");
  EXPECT_EQ(association_.FromRemote(Endpoint{kOtherIp, 1}), kClient);
}

class DeniedTest : public AssociationTest {
 protected:
  static AssociationOptions DenyTen() {
    AssociationOptions options;
    auto policy = std::make_shared<DestinationPolicy>();
    policy->denied.push_back(IpPrefix{IpAddress(protocol::Ipv4{10, 0, 0, 0}), 8});
    policy->listen_ports.insert(1080);
    options.destinations = policy;
    return options;
  }
  DeniedTest() : AssociationTest(protocol::Address{}, DenyTen()) {}
};

TEST_F(DeniedTest, DeniedTargetsAreDroppedWhetherNamedOrResolved) {
  EXPECT_EQ(FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "x")).kind, Kind::kNone);
  const protocol::Address dst{std::string("inside.test"), 53};
  ASSERT_EQ(FromClient(Datagram(dst, "y")).kind, Kind::kResolve);
  EXPECT_TRUE(
      association_.Resolved("inside.test", {IpAddress(protocol::Ipv4{10, 1, 1, 1})}, now_).empty());
  EXPECT_EQ(FromClient(Datagram(dst, "z")).kind, Kind::kNone);  // cached, still denied
  EXPECT_EQ(association_.counters().drop(Drop::kDenied), 3u);
  EXPECT_EQ(FromClient(Datagram(Ip4(127, 0, 0, 9, 53), "ok")).kind, Kind::kSend);
}

TEST_F(DeniedTest, UnspecifiedAndOwnEndpointsAreDropped) {
  EXPECT_EQ(FromClient(Datagram(Ip4(0, 0, 0, 0, 9), "a")).kind, Kind::kNone);
  EXPECT_EQ(FromClient(Datagram(protocol::Address{protocol::Ipv6{}, 9}, "b")).kind, Kind::kNone);
  EXPECT_EQ(FromClient(Datagram(Ip4(127, 0, 0, 1, 1080), "c")).kind, Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kDenied), 3u);
  EXPECT_EQ(FromClient(Datagram(Ip4(127, 0, 0, 1, 1081), "d")).kind, Kind::kSend);
}

TEST_F(DeniedTest, NameResolvingToAMixIsSentToAnAllowedAddress) {
  const protocol::Address dst{std::string("mix.test"), 53};
  ASSERT_EQ(FromClient(Datagram(dst, "y")).kind, Kind::kResolve);
  auto out = association_.Resolved(
      "mix.test",
      {IpAddress(protocol::Ipv4{0, 0, 0, 0}), IpAddress(protocol::Ipv4{10, 1, 1, 1}),
       IpAddress(protocol::Ipv4{127, 0, 0, 7})},
      now_);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].target, (Endpoint{IpAddress(protocol::Ipv4{127, 0, 0, 7}), 53}));
  Association::Step step = FromClient(Datagram(dst, "z"));
  ASSERT_EQ(step.kind, Kind::kSend);  // cached: the allowed address
  EXPECT_EQ(step.target, out[0].target);
}

// The rules hook (--rules_file, session/rules.h) after the destination policy: here, port 53
// only, and never the name "blocked.test" or 127.0.0.66. Every call is recorded.
class RulesHookTest : public AssociationTest {
 protected:
  struct Call {
    Endpoint target;
    std::string name;  // "" for a literal
  };
  static AssociationOptions WithHook(std::shared_ptr<std::vector<Call>> calls) {
    AssociationOptions options = DeniedTestOptions();
    options.rules_allow = [calls](const Endpoint& target, const std::string* name) {
      calls->push_back(Call{target, name ? *name : ""});
      return target.port == 53 && (name == nullptr || *name != "blocked.test") &&
             target.ip != IpAddress(protocol::Ipv4{127, 0, 0, 66});
    };
    return options;
  }
  static AssociationOptions DeniedTestOptions() {
    AssociationOptions options;
    auto policy = std::make_shared<DestinationPolicy>();
    policy->denied.push_back(IpPrefix{IpAddress(protocol::Ipv4{10, 0, 0, 0}), 8});
    options.destinations = policy;
    return options;
  }
  RulesHookTest() : RulesHookTest(std::make_shared<std::vector<Call>>()) {}
  explicit RulesHookTest(std::shared_ptr<std::vector<Call>> calls)
      : AssociationTest(protocol::Address{}, WithHook(calls)), calls_(calls) {}

  std::shared_ptr<std::vector<Call>> calls_;
};

TEST_F(RulesHookTest, LiteralTargetsAreDecidedAfterTheDestinationPolicy) {
  EXPECT_EQ(FromClient(Datagram(Ip4(127, 0, 0, 9, 53), "a")).kind, Kind::kSend);
  EXPECT_EQ(FromClient(Datagram(Ip4(127, 0, 0, 9, 54), "b")).kind, Kind::kNone);  // the rules
  EXPECT_EQ(FromClient(Datagram(Ip4(10, 0, 0, 1, 53), "c")).kind, Kind::kNone);   // the policy
  EXPECT_EQ(association_.counters().drop(Drop::kDenied), 2u);
  ASSERT_EQ(calls_->size(), 2u);  // the policy refused the third: the rules were not asked
  EXPECT_EQ((*calls_)[1].target, (Endpoint{IpAddress(protocol::Ipv4{127, 0, 0, 9}), 54}));
  EXPECT_EQ((*calls_)[1].name, "");
}

TEST_F(RulesHookTest, NamedTargetsAreDecidedWithTheName) {
  const protocol::Address blocked{std::string("blocked.test"), 53};
  ASSERT_EQ(FromClient(Datagram(blocked, "x")).kind, Kind::kResolve);
  EXPECT_TRUE(association_.Resolved("blocked.test", {IpAddress(protocol::Ipv4{127, 0, 0, 5})}, now_)
                  .empty());
  EXPECT_EQ(FromClient(Datagram(blocked, "y")).kind, Kind::kNone);  // cached, still refused
  EXPECT_EQ(association_.counters().drop(Drop::kDenied), 2u);
  ASSERT_FALSE(calls_->empty());
  EXPECT_EQ(calls_->back().name, "blocked.test");
  EXPECT_EQ(calls_->back().target, (Endpoint{IpAddress(protocol::Ipv4{127, 0, 0, 5}), 53}));
}

TEST_F(RulesHookTest, ANameResolvingToAMixIsSentToTheAddressTheRulesAllow) {
  const protocol::Address dst{std::string("mix.test"), 53};
  ASSERT_EQ(FromClient(Datagram(dst, "y")).kind, Kind::kResolve);
  auto out = association_.Resolved(
      "mix.test",
      {IpAddress(protocol::Ipv4{127, 0, 0, 66}), IpAddress(protocol::Ipv4{127, 0, 0, 7})}, now_);
  ASSERT_EQ(out.size(), 1u);  // 127.0.0.66 is skipped: refused by the rules
  EXPECT_EQ(out[0].target, (Endpoint{IpAddress(protocol::Ipv4{127, 0, 0, 7}), 53}));
  // The cached address, a port the rules refuse: dropped.
  EXPECT_EQ(FromClient(Datagram(protocol::Address{std::string("mix.test"), 54}, "z")).kind,
            Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kDenied), 1u);
}

TEST_F(AssociationTest, NameResolvingOnlyToUnspecifiedIsDeniedWithoutAPolicy) {
  const protocol::Address dst{std::string("zero.test"), 53};
  ASSERT_EQ(FromClient(Datagram(dst, "y")).kind, Kind::kResolve);
  EXPECT_TRUE(
      association_.Resolved("zero.test", {IpAddress(protocol::Ipv4{0, 0, 0, 0})}, now_).empty());
  EXPECT_EQ(FromClient(Datagram(dst, "z")).kind, Kind::kNone);
  EXPECT_EQ(association_.counters().drop(Drop::kDenied), 2u);
}

TEST_F(AssociationTest, BusyLookupIsDroppedAndNotRememberedAsNotFound) {
  const protocol::Address dst{std::string("busy.test"), 53};
  ASSERT_EQ(FromClient(Datagram(dst, "a")).kind, Kind::kResolve);
  ASSERT_EQ(FromClient(Datagram(dst, "b")).kind, Kind::kNone);  // queued behind it
  EXPECT_TRUE(association_.Resolved("busy.test", {}, now_, /*busy=*/true).empty());
  EXPECT_EQ(association_.counters().drop(Drop::kDnsBusy), 2u);
  EXPECT_EQ(association_.counters().drop(Drop::kUnresolved), 0u);
  EXPECT_EQ(association_.held_bytes(), 0u);
  // The next datagram tries again instead of being dropped as unresolved.
  EXPECT_EQ(FromClient(Datagram(dst, "c")).kind, Kind::kResolve);
}

TEST(AssociationBudgetTest, FragmentsAndQueuedDatagramsAreChargedExactly) {
  MemoryBudget budget(8192);
  {
    AssociationOptions options;
    options.memory_budget = &budget;
    Association a(kClientIp, protocol::Address{}, options);
    SteadyTime now{};
    const std::string chunk(3000, 'x');
    auto frag1 = Datagram(Ip4(10, 0, 0, 1, 53), chunk, 1);
    EXPECT_EQ(a.FromClient(kClient, frag1, now).kind, Kind::kNone);
    EXPECT_EQ(budget.used(), a.held_bytes());
    EXPECT_GE(budget.used(), 3000u);
    auto frag2 = Datagram(Ip4(10, 0, 0, 1, 53), chunk, 2);
    EXPECT_EQ(a.FromClient(kClient, frag2, now).kind, Kind::kNone);
    EXPECT_EQ(budget.used(), a.held_bytes());
    // A third would need more than the 8 KiB: dropped and counted, the charge unchanged.
    auto frag3 = Datagram(Ip4(10, 0, 0, 1, 53), chunk, 3);
    const std::size_t before = budget.used();
    EXPECT_EQ(a.FromClient(kClient, frag3, now).kind, Kind::kNone);
    EXPECT_EQ(a.counters().drop(Drop::kBudget), 1u);
    EXPECT_EQ(budget.used(), before);
    // A standalone datagram abandons the queue: the charge goes back.
    auto whole = Datagram(Ip4(10, 0, 0, 1, 53), "x");
    EXPECT_EQ(a.FromClient(kClient, whole, now).kind, Kind::kSend);
    EXPECT_EQ(budget.used(), 0u);
    // Datagrams queued behind a lookup are charged until it completes.
    const protocol::Address dst{std::string("slow.test"), 53};
    auto named = Datagram(dst, chunk);
    EXPECT_EQ(a.FromClient(kClient, named, now).kind, Kind::kResolve);
    EXPECT_EQ(budget.used(), 3000u);
    EXPECT_EQ(a.FromClient(kClient, named, now).kind, Kind::kNone);
    EXPECT_EQ(budget.used(), 6000u);
    EXPECT_EQ(a.FromClient(kClient, named, now).kind, Kind::kNone);  // over: dropped
    EXPECT_EQ(a.counters().drop(Drop::kBudget), 2u);
    EXPECT_EQ(budget.used(), 6000u);
    EXPECT_EQ(a.Resolved("slow.test", {IpAddress(protocol::Ipv4{10, 0, 0, 2})}, now).size(), 2u);
    EXPECT_EQ(budget.used(), 0u);
    // A cached name holds nothing, so the budget does not stop it even when it is used up.
    Charge hog(&budget);
    ASSERT_TRUE(hog.TryResize(budget.limit()));
    EXPECT_EQ(a.FromClient(kClient, named, now).kind, Kind::kSend);
    EXPECT_EQ(a.counters().drop(Drop::kBudget), 2u);
    hog.Set(0);
    // Held at destruction: given back.
    EXPECT_EQ(a.FromClient(kClient, frag1, now).kind, Kind::kNone);
    EXPECT_GT(budget.used(), 0u);
  }
  EXPECT_EQ(budget.used(), 0u);
}

TEST_F(AssociationTest, LogFieldsNameEveryCounter) {
  SendToTarget("a");
  FromClient({1, 2, 3});
  association_.Delivered(1);
  std::string fields = association_.LogFields();
  EXPECT_EQ(fields,
            " dgrams_up=1 dgrams_down=1 drop_foreign=0 drop_wrong_port=0 drop_malformed=1"
            " drop_fragment=0 drop_denied=0 drop_unresolved=0 drop_queue_full=0"
            " drop_unsolicited=0 drop_too_big=0 drop_send_error=0 drop_budget=0"
            " drop_dns_busy=0 frags=0 reassembled=0"
            " frag_abandoned=0 frag_timeout=0");
}

}  // namespace
}  // namespace socks5::udp
