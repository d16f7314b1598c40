#include "udp/destination.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "udp/budget.h"

namespace socks5::udp {
namespace {

IpAddress V4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return IpAddress(protocol::Ipv4{a, b, c, d});
}
IpAddress V6(std::initializer_list<std::pair<int, std::uint8_t>> bytes) {
  protocol::Ipv6 v6{};
  for (auto [i, b] : bytes) v6[static_cast<std::size_t>(i)] = b;
  return IpAddress(v6);
}
const IpAddress kLoopback6 = V6({{15, 1}});
const IpAddress kUnspecified6 = V6({});

DestinationPolicy Policy() {
  DestinationPolicy p;
  p.denied.push_back(IpPrefix{V4(10, 0, 0, 0), 8});
  p.denied.push_back(IpPrefix{V6({{0, 0x20}, {1, 0x01}, {2, 0x0d}, {3, 0xb8}}), 32});
  p.listen_ports = {1080, 1081};
  p.local_addresses = {V4(192, 168, 1, 5), V6({{0, 0xfe}, {1, 0x80}, {15, 5}})};
  return p;
}

TEST(DestinationTest, DecisionTable) {
  struct Case {
    IpAddress ip;
    std::uint16_t port;
    Verdict want;
  };
  const Case cases[] = {
      {V4(0, 0, 0, 0), 80, Verdict::kUnspecified},
      {V4(0, 1, 2, 3), 80, Verdict::kUnspecified},                // 0.0.0.0/8
      {V6({{10, 0xff}, {11, 0xff}}), 80, Verdict::kUnspecified},  // ::ffff:0.0.0.0
      {kUnspecified6, 80, Verdict::kUnspecified},
      {kUnspecified6, 1080, Verdict::kUnspecified},
      {V4(127, 0, 0, 1), 1080, Verdict::kOwnEndpoint},
      {V4(127, 9, 9, 9), 1081, Verdict::kOwnEndpoint},  // all of 127/8 is local
      {V6({{10, 0xff}, {11, 0xff}, {12, 127}, {15, 1}}), 1080, Verdict::kOwnEndpoint},
      {kLoopback6, 1080, Verdict::kOwnEndpoint},
      {V4(192, 168, 1, 5), 1080, Verdict::kOwnEndpoint},
      {V6({{0, 0xfe}, {1, 0x80}, {15, 5}}), 1081, Verdict::kOwnEndpoint},
      {V4(192, 168, 1, 6), 1080, Verdict::kAllow},  // another host
      {V4(127, 0, 0, 1), 1082, Verdict::kAllow},    // another port
      {kLoopback6, 80, Verdict::kAllow},
      {V4(10, 200, 0, 1), 80, Verdict::kDenied},
      {V6({{10, 0xff}, {11, 0xff}, {12, 10}, {15, 1}}), 80, Verdict::kDenied},  // mapped 10.0.0.1
      {V4(11, 0, 0, 1), 80, Verdict::kAllow},
      {V6({{0, 0x20}, {1, 0x01}, {2, 0x0d}, {3, 0xb8}, {15, 1}}), 80, Verdict::kDenied},
      {V6({{0, 0x20}, {1, 0x01}, {2, 0x0d}, {3, 0xb9}}), 80, Verdict::kAllow},
      {V4(10, 0, 0, 1), 1080, Verdict::kDenied},  // denied and not local
  };
  const DestinationPolicy policy = Policy();
  for (const Case& c : cases) {
    EXPECT_EQ(policy.Decide(Endpoint{c.ip, c.port}), c.want)
        << Endpoint{c.ip, c.port}.ToString() << ": " << VerdictName(policy.Decide({c.ip, c.port}));
  }
}

TEST(DestinationTest, EmptyPolicyStillRefusesTheUnspecifiedAddresses) {
  const DestinationPolicy policy;
  EXPECT_EQ(policy.Decide(Endpoint{V4(0, 0, 0, 0), 1}), Verdict::kUnspecified);
  EXPECT_EQ(policy.Decide(Endpoint{kUnspecified6, 1}), Verdict::kUnspecified);
  EXPECT_EQ(policy.Decide(Endpoint{V4(127, 0, 0, 1), 1}), Verdict::kAllow);
}

TEST(DestinationTest, PrefixLengths) {
  EXPECT_TRUE((IpPrefix{V4(10, 0, 0, 0), 0}).Contains(V4(200, 1, 1, 1)));
  EXPECT_FALSE((IpPrefix{V4(10, 0, 0, 0), 0}).Contains(kLoopback6));  // families differ
  EXPECT_TRUE((IpPrefix{V4(172, 16, 0, 0), 12}).Contains(V4(172, 31, 255, 255)));
  EXPECT_FALSE((IpPrefix{V4(172, 16, 0, 0), 12}).Contains(V4(172, 32, 0, 0)));
  EXPECT_TRUE((IpPrefix{V4(1, 2, 3, 4), 32}).Contains(V4(1, 2, 3, 4)));
  EXPECT_FALSE((IpPrefix{V4(1, 2, 3, 4), 32}).Contains(V4(1, 2, 3, 5)));
  EXPECT_TRUE((IpPrefix{kLoopback6, 128}).Contains(kLoopback6));
}

TEST(DestinationTest, FilterResolvedKeepsAllowedInOrderAndNamesTheRefusal) {
  const DestinationPolicy policy = Policy();
  Filtered mix =
      FilterResolved(policy, {V4(0, 0, 0, 0), V4(8, 8, 8, 8), V4(10, 0, 0, 1), V4(9, 9, 9, 9)}, 80);
  EXPECT_EQ(mix.allowed, (std::vector<IpAddress>{V4(8, 8, 8, 8), V4(9, 9, 9, 9)}));
  EXPECT_EQ(mix.refusal, Verdict::kAllow);
  EXPECT_EQ(FilterResolved(policy, {V4(0, 0, 0, 0), kUnspecified6}, 80).refusal,
            Verdict::kUnspecified);
  EXPECT_EQ(FilterResolved(policy, {V4(0, 0, 0, 0), V4(10, 1, 1, 1)}, 80).refusal,
            Verdict::kDenied);
  EXPECT_EQ(FilterResolved(policy, {V4(127, 0, 0, 1)}, 1080).refusal, Verdict::kOwnEndpoint);
}

TEST(MemoryBudgetTest, ChargesGrowWithinTheLimitAndAreGivenBack) {
  MemoryBudget budget(100);
  {
    Charge a(&budget);
    Charge b(&budget);
    EXPECT_TRUE(a.TryResize(60));
    EXPECT_FALSE(b.TryResize(41));
    EXPECT_EQ(b.bytes(), 0u);
    EXPECT_TRUE(b.TryResize(40));
    EXPECT_EQ(budget.used(), 100u);
    EXPECT_TRUE(a.TryResize(10));  // shrinking always works
    EXPECT_EQ(budget.used(), 50u);
    Charge c = std::move(a);
    EXPECT_EQ(a.bytes(), 0u);
    EXPECT_EQ(budget.used(), 50u);
    c.Set(200);  // follows memory held, past the limit
    EXPECT_EQ(budget.used(), 240u);
    EXPECT_FALSE(Charge(&budget).TryResize(1));
  }
  EXPECT_EQ(budget.used(), 0u);
  Charge unbounded;
  EXPECT_TRUE(unbounded.TryResize(1u << 30));
}

}  // namespace
}  // namespace socks5::udp
