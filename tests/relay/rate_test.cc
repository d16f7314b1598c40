// relay::RateLimiter (a token bucket driven by an explicit clock) and the RateLimiters registry.
#include "relay/rate.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace socks5::relay {
namespace {

using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;
constexpr auto kUp = RateDirection::kUp;
constexpr auto kDown = RateDirection::kDown;

TEST(RateLimiter, CapacityIsATenthOfASecondWithAFloor) {
  struct Case {
    std::uint64_t rate;
    std::uint64_t capacity;
  };
  for (const Case& c : {Case{1'000'000, 100'000}, Case{100'000, 16'384}, Case{1000, 1000},
                        Case{1, 1}, Case{1'000'000'000, 100'000'000}}) {
    EXPECT_EQ(RateLimiter(c.rate).capacity(), c.capacity) << c.rate;
  }
}

TEST(RateLimiter, GrantsWhatTheBucketHoldsAndRefillsAtTheRate) {
  const Clock::time_point t0 = Clock::now();
  RateLimiter limiter(1'000'000, t0);  // capacity 100,000
  EXPECT_EQ(limiter.Grant(kUp, 60'000, t0), 60'000u);
  EXPECT_EQ(limiter.Grant(kUp, 60'000, t0), 40'000u);  // what was left
  EXPECT_EQ(limiter.Grant(kUp, 1, t0), 0u);
  EXPECT_EQ(limiter.Grant(kDown, 1000, t0), 1000u);  // the other direction has its own bucket
  EXPECT_EQ(limiter.Grant(kUp, 100'000, t0 + milliseconds(30)), 30'000u);  // 30 ms of 1 MB/s
  // Never more than the capacity, however long it was idle.
  EXPECT_EQ(limiter.Grant(kUp, 1'000'000, t0 + std::chrono::seconds(60)), 100'000u);
}

// A direction reading in a loop asks again a few microseconds after it emptied the bucket. It
// must get nothing until a quarter of the bucket is back, or it takes every refill the moment it
// appears and the directions waiting on a timer never find a token (an integration test saw one
// of three sessions move 8 MB and the other two nothing).
TEST(RateLimiter, AnEmptiedBucketIsNotHandedOutAsATrickle) {
  const Clock::time_point t0 = Clock::now();
  RateLimiter limiter(2'000'000, t0);  // capacity 200,000; a quarter is 50,000 (25 ms)
  ASSERT_EQ(limiter.Grant(kUp, 1'000'000, t0), 200'000u);
  for (auto later : {std::chrono::microseconds(5), std::chrono::microseconds(500),
                     std::chrono::microseconds(24'000)}) {
    EXPECT_EQ(limiter.Grant(kUp, 65'536, t0 + later), 0u) << later.count() << " us";
  }
  EXPECT_EQ(limiter.Grant(kUp, 65'536, t0 + milliseconds(25)), 50'000u);
  // A small request is served once the bucket holds it (a quarter does not apply).
  EXPECT_EQ(limiter.Grant(kUp, 1000, t0 + milliseconds(25) + std::chrono::microseconds(600)),
            1000u);
}

TEST(RateLimiter, RefundReturnsUnusedTokensUpToTheCapacity) {
  const Clock::time_point t0 = Clock::now();
  RateLimiter limiter(1'000'000, t0);
  EXPECT_EQ(limiter.Grant(kUp, 100'000, t0), 100'000u);
  limiter.Refund(kUp, 30'000);  // the read moved 70,000
  EXPECT_EQ(limiter.Grant(kUp, 100'000, t0), 30'000u);
  limiter.Refund(kUp, 500'000);  // more than it holds: capped
  EXPECT_EQ(limiter.Grant(kUp, 1'000'000, t0), 100'000u);
}

TEST(RateLimiter, UntilRefilledIsTheTimeToHalfTheCapacity) {
  const Clock::time_point t0 = Clock::now();
  RateLimiter limiter(1'000'000, t0);
  EXPECT_EQ(limiter.UntilRefilled(kUp, t0), Clock::duration::zero());
  ASSERT_EQ(limiter.Grant(kUp, 100'000, t0), 100'000u);
  const auto wait = limiter.UntilRefilled(kUp, t0);
  EXPECT_GE(wait, milliseconds(50));
  EXPECT_LE(wait, milliseconds(51));
  EXPECT_EQ(limiter.Grant(kUp, 100'000, t0 + wait), 50'000u);
}

TEST(RateLimiter, DatagramsPassWhileTheBucketIsNotEmptyAndMayRunIntoDebt) {
  const Clock::time_point t0 = Clock::now();
  RateLimiter limiter(1000, t0);                                 // capacity 1000
  EXPECT_TRUE(limiter.Admit(kUp, 700, t0));                      // 300 left
  EXPECT_TRUE(limiter.Admit(kUp, 700, t0));                      // -400: in debt
  EXPECT_FALSE(limiter.Admit(kUp, 10, t0));                      // dropped, not charged
  EXPECT_FALSE(limiter.Admit(kUp, 10, t0 + milliseconds(400)));  // debt just repaid (0)
  EXPECT_TRUE(limiter.Admit(kUp, 10, t0 + milliseconds(402)));
  EXPECT_TRUE(limiter.Admit(kDown, 65'507, t0));  // a datagram larger than the bucket passes
  EXPECT_FALSE(limiter.Admit(kDown, 1, t0 + std::chrono::seconds(60)));  // 64.5 s of debt
  EXPECT_TRUE(limiter.Admit(kDown, 1, t0 + std::chrono::seconds(66)));
}

TEST(RateLimiter, SharedAcrossThreadsItNeverGrantsMoreThanTheBucketAndTheRate) {
  const Clock::time_point t0 = Clock::now();
  RateLimiter limiter(2'000'000, t0);  // capacity 200,000
  std::atomic<std::uint64_t> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) granted += limiter.Grant(kUp, 4096, Clock::now());
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_LE(static_cast<double>(granted.load()), 200'000 + 2'000'000 * seconds + 1);
  EXPECT_GE(granted.load(), 200'000u);
}

TEST(RateLimiters, OneLimiterPerKeyAndRateWhileHeld) {
  RateLimiters registry;
  std::shared_ptr<RateLimiter> a = registry.Get("rules:3 alice", 1000);
  std::shared_ptr<RateLimiter> b = registry.Get("rules:3 alice", 1000);
  EXPECT_EQ(a, b);  // alice's sessions share one bucket
  std::shared_ptr<RateLimiter> other_user = registry.Get("rules:3 bob", 1000);
  std::shared_ptr<RateLimiter> other_rate = registry.Get("rules:3 alice", 2000);  // after a reload
  EXPECT_NE(a, other_user);
  EXPECT_NE(a, other_rate);
  EXPECT_EQ(other_rate->rate(), 2000u);
  EXPECT_EQ(registry.size(), 3u);
  a.reset();
  EXPECT_EQ(registry.size(), 3u);  // b still holds it
  b.reset();
  EXPECT_EQ(registry.size(), 2u);  // released with its last holder
  other_user.reset();
  other_rate.reset();
  EXPECT_EQ(registry.size(), 0u);
  std::shared_ptr<RateLimiter> again = registry.Get("rules:3 alice", 1000);
  EXPECT_EQ(again->Grant(kUp, 5000, Clock::now()), 1000u);  // a fresh, full bucket
}

TEST(RateLimiters, ConcurrentGetAndReleaseKeepTheRegistryConsistent) {
  RateLimiters registry;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&registry, t] {
      for (int i = 0; i < 5000; ++i) {
        std::shared_ptr<RateLimiter> limiter = registry.Get(t % 2 == 0 ? "k1" : "k2", 1000);
        ASSERT_EQ(limiter->rate(), 1000u);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(registry.size(), 0u);
  std::shared_ptr<RateLimiter> global = RateLimiters::For("global", 10);
  EXPECT_EQ(global, RateLimiters::For("global", 10));
}

}  // namespace
}  // namespace socks5::relay
