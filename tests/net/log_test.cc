// The rate-limited warning's window decision (net/log.h).
#include "net/log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace socks5::net {
namespace {

TEST(RateLimitedWarning, LogsABurstThenCountsThenSummarises) {
  RateLimitedWarning site("max_sessions", "refused", "connections", /*burst=*/3, absl::Seconds(5));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  int logged = 0;
  for (int i = 0; i < 100; ++i) logged += site.Admit(t0 + absl::Milliseconds(i));
  EXPECT_EQ(logged, 3);
  EXPECT_EQ(site.TakeSummary(t0 + absl::Seconds(1)), "");  // the interval has not ended
  EXPECT_EQ(site.TakeSummary(t0 + absl::Seconds(5)),
            "max_sessions: refused 97 connections in the last 5s (not logged one by one)");
  EXPECT_EQ(site.TakeSummary(t0 + absl::Seconds(11)), "");  // nothing suppressed since
  // A new window logs a burst again.
  logged = 0;
  for (int i = 0; i < 10; ++i) logged += site.Admit(t0 + absl::Seconds(20));
  EXPECT_EQ(logged, 3);
}

TEST(RateLimitedWarning, QuietSiteNeverSummarises) {
  RateLimitedWarning site("x", "refused", "connections", 5, absl::Seconds(1));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(site.Admit(t0));
  EXPECT_EQ(site.TakeSummary(t0 + absl::Seconds(10)), "");
}

TEST(RateLimitedWarning, CountsEveryEventAcrossThreads) {
  RateLimitedWarning site("x", "refused", "connections", 10, absl::Hours(1));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  std::atomic<int> logged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) logged += site.Admit(t0);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(logged.load(), 10);
  EXPECT_EQ(site.TakeSummary(t0 + absl::Hours(1)),
            "x: refused 3990 connections in the last 3600s (not logged one by one)");
}

}  // namespace
}  // namespace socks5::net
