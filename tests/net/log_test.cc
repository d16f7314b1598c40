// The rate-limited warning's window decision (net/log.h).
#include "net/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
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

// Captures what is written to stderr (fd 2) while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    FlushLog();  // nothing of an earlier test's lines lands here
    EXPECT_EQ(::pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fds_[1], STDERR_FILENO);
  }
  ~StderrCapture() {
    FlushLog();
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // What has been written so far (waits up to `wait` for something to arrive).
  std::string Read(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
    pollfd p{fds_[0], POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(wait.count()));
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds_[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

TEST(LogBatching, InfoLinesAreWrittenTogetherWithinTheInterval) {
  StderrCapture capture;
  LogLine(LogLevel::kInfo, "first");
  LogLine(LogLevel::kInfo, "second");
  EXPECT_EQ(capture.Read(), "");  // batched: no write per line
  std::string out = capture.Read(std::chrono::milliseconds(2000));
  EXPECT_NE(out.find(" I first\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" I second\n"), std::string::npos) << out;
  EXPECT_LT(out.find("first"), out.find("second"));
}

TEST(LogBatching, AWarningWritesThePendingLinesFirstAndItselfAtOnce) {
  StderrCapture capture;
  LogLine(LogLevel::kInfo, "before");
  LogLine(LogLevel::kWarning, "warned");
  const std::string out = capture.Read();
  ASSERT_NE(out.find(" I before\n"), std::string::npos) << out;
  ASSERT_NE(out.find(" W warned\n"), std::string::npos) << out;
  EXPECT_LT(out.find("before"), out.find("warned"));
}

TEST(LogBatching, FlushLogWritesNow) {
  StderrCapture capture;
  LogLine(LogLevel::kInfo, "pending");
  FlushLog();
  EXPECT_NE(capture.Read().find(" I pending\n"), std::string::npos);
}

}  // namespace
}  // namespace socks5::net
