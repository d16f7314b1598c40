#include "udp/name_cache.h"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"

namespace socks5::udp {
namespace {

using Outcome = NameCache::Outcome;
using std::chrono::seconds;

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
std::string Text(const std::vector<std::uint8_t>& v) { return std::string(v.begin(), v.end()); }

const IpAddress kIp(protocol::Ipv4{127, 0, 0, 5});
const IpAddress kIp2(protocol::Ipv4{127, 0, 0, 6});

class NameCacheTest : public ::testing::Test {
 protected:
  explicit NameCacheTest(NameCacheOptions options = {}) : cache_(options) {}
  NameCache::Route Lookup(const std::string& name, std::string_view payload,
                          std::uint16_t port = 53) {
    return cache_.Lookup(name, port, Bytes(payload), now_);
  }
  NameCache cache_;
  SteadyTime now_{};
};

TEST_F(NameCacheTest, FirstDatagramStartsOneLookupAndLaterOnesQueueBehindIt) {
  EXPECT_EQ(Lookup("game.test", "a").outcome, Outcome::kStartLookup);
  EXPECT_EQ(Lookup("game.test", "b", 54).outcome, Outcome::kQueued);
  EXPECT_EQ(Lookup("GAME.test", "c").outcome, Outcome::kQueued);  // names are case-insensitive
  EXPECT_EQ(cache_.queued(), 3u);
  EXPECT_EQ(cache_.queued_bytes(), 3u);

  NameCache::Completion done = cache_.Complete("game.test", {kIp, kIp2}, now_);
  ASSERT_TRUE(done.ip.has_value());
  EXPECT_EQ(*done.ip, kIp);  // the first address
  ASSERT_EQ(done.datagrams.size(), 3u);
  EXPECT_EQ(Text(done.datagrams[0].payload), "a");
  EXPECT_EQ(done.datagrams[1].port, 54);
  EXPECT_EQ(Text(done.datagrams[2].payload), "c");
  EXPECT_EQ(cache_.queued(), 0u);
  EXPECT_EQ(cache_.queued_bytes(), 0u);
}

TEST_F(NameCacheTest, FirstWaitingPortIsThePortOfTheOldestQueuedDatagram) {
  EXPECT_EQ(cache_.FirstWaitingPort("game.test"), std::nullopt);
  EXPECT_EQ(Lookup("game.test", "a", 4000).outcome, Outcome::kStartLookup);
  EXPECT_EQ(Lookup("Game.Test", "b", 53).outcome, Outcome::kQueued);
  EXPECT_EQ(cache_.FirstWaitingPort("GAME.test"), 4000);
  cache_.Complete("game.test", {kIp}, now_);
  EXPECT_EQ(cache_.FirstWaitingPort("game.test"), std::nullopt);  // none waits any more
}

TEST_F(NameCacheTest, AnswerIsReusedUntilItsTtlThenLookedUpAgain) {
  Lookup("game.test", "a");
  cache_.Complete("game.test", {kIp}, now_);
  now_ += seconds(29);
  NameCache::Route hit = Lookup("game.test", "b");
  EXPECT_EQ(hit.outcome, Outcome::kCached);
  EXPECT_EQ(hit.ip, kIp);
  EXPECT_EQ(cache_.queued(), 0u);  // a hit copies nothing
  now_ += seconds(1);
  EXPECT_EQ(Lookup("game.test", "c").outcome, Outcome::kStartLookup);
}

TEST_F(NameCacheTest, FailedLookupDropsItsQueueAndIsRememberedBriefly) {
  Lookup("nx.test", "a");
  Lookup("nx.test", "b");
  NameCache::Completion done = cache_.Complete("nx.test", {}, now_);
  EXPECT_FALSE(done.ip.has_value());
  EXPECT_EQ(done.datagrams.size(), 2u);  // handed back so the caller can count the drops
  EXPECT_EQ(cache_.queued(), 0u);
  EXPECT_EQ(Lookup("nx.test", "c").outcome, Outcome::kDropNotFound);
  now_ += seconds(5);
  EXPECT_EQ(Lookup("nx.test", "d").outcome, Outcome::kStartLookup);
}

TEST_F(NameCacheTest, CompletionOfAnUnknownNameChangesNothing) {
  NameCache::Completion done = cache_.Complete("never.test", {kIp}, now_);
  EXPECT_FALSE(done.ip.has_value());
  EXPECT_TRUE(done.datagrams.empty());
  EXPECT_EQ(cache_.names(), 0u);
}

class SmallNameCacheTest : public NameCacheTest {
 protected:
  static NameCacheOptions Small() {
    NameCacheOptions options;
    options.max_names = 2;
    options.max_queued = 3;
    options.max_queued_bytes = 10;
    return options;
  }
  SmallNameCacheTest() : NameCacheTest(Small()) {}
};

TEST_F(SmallNameCacheTest, QueueIsBoundedByCountAndBytes) {
  EXPECT_EQ(Lookup("a.test", "1234").outcome, Outcome::kStartLookup);
  EXPECT_EQ(Lookup("a.test", "5678").outcome, Outcome::kQueued);
  EXPECT_EQ(Lookup("a.test", "90abc").outcome, Outcome::kDropFull);  // 13 bytes > 10
  EXPECT_EQ(Lookup("a.test", "9").outcome, Outcome::kQueued);
  EXPECT_EQ(Lookup("a.test", "").outcome, Outcome::kDropFull);  // 4 datagrams > 3
  EXPECT_EQ(Lookup("b.test", "").outcome, Outcome::kDropFull);  // the bound is shared
  EXPECT_EQ(cache_.queued(), 3u);
  EXPECT_EQ(cache_.queued_bytes(), 9u);
}

TEST_F(SmallNameCacheTest, TableOfNamesIsBoundedAndNeverEvictsALookupInFlight) {
  Lookup("a.test", "");
  Lookup("b.test", "");
  EXPECT_EQ(Lookup("c.test", "").outcome, Outcome::kDropFull);  // both in flight
  cache_.Complete("a.test", {kIp}, now_);
  EXPECT_EQ(Lookup("c.test", "").outcome, Outcome::kStartLookup);  // a.test's answer evicted
  EXPECT_EQ(cache_.names(), 2u);
  EXPECT_EQ(Lookup("a.test", "").outcome, Outcome::kDropFull);  // gone, and no room
  NameCache::Completion b = cache_.Complete("b.test", {kIp2}, now_);
  EXPECT_EQ(b.datagrams.size(), 1u);
}

}  // namespace
}  // namespace socks5::udp
