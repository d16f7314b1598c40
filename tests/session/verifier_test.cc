// The verifier: checks on its threads, the bounded queue, the success cache, cancellation by the
// handshake deadline, and Stop with checks still queued.
#include "session/verifier.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/async.h"

namespace socks5::session {
namespace {

// alice:secret, "slow" (so it goes to the threads); a closed gate holds every Check until opened.
class GatedUsers : public Credentials {
 public:
  bool Check(absl::string_view user, absl::string_view password) const override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++started_;
      started_cv_.notify_all();
      open_cv_.wait(lock, [this] { return open_; });
      threads_.push_back(std::this_thread::get_id());
    }
    calls_.fetch_add(1);
    return user == "alice" && password == "secret";
  }
  bool Contains(absl::string_view user) const override { return user == "alice"; }
  bool slow() const override { return slow_; }

  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    open_cv_.notify_all();
  }
  void WaitStarted(int n) const {
    std::unique_lock<std::mutex> lock(mu_);
    started_cv_.wait(lock, [&] { return started_ >= n; });
  }
  int calls() const { return calls_.load(); }
  std::vector<std::thread::id> threads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }
  bool slow_ = true;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable open_cv_;
  mutable std::condition_variable started_cv_;
  bool open_ = true;
  mutable int started_ = 0;
  mutable std::atomic<int> calls_{0};
  mutable std::vector<std::thread::id> threads_;

 public:
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
};

asio::awaitable<void> Verify(Verifier* verifier, std::shared_ptr<const Credentials> users,
                             std::string user, std::string password, std::optional<Verdict>* out) {
  *out = co_await AsyncVerify(verifier, std::move(users), std::move(user), std::move(password));
}

// The same under a deadline; nullopt in *out when the deadline passed first.
asio::awaitable<void> VerifyWithin(Verifier* verifier, std::shared_ptr<const Credentials> users,
                                   std::chrono::milliseconds deadline,
                                   std::optional<std::optional<Verdict>>* out) {
  *out = co_await net::AsyncWithDeadline(AsyncVerify(verifier, std::move(users), "alice", "secret"),
                                         deadline);
}

// The verifier's count drops just after a job has posted its verdict: wait for it (bounded).
std::size_t PendingWhenIdle(const Verifier& verifier) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (verifier.pending() != 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return verifier.pending();
}

void Rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

// Runs one verification to its end on a fresh loop.
Verdict RunOne(Verifier* verifier, std::shared_ptr<const Credentials> users, std::string user,
               std::string password) {
  asio::io_context io;
  std::optional<Verdict> out;
  asio::co_spawn(io, Verify(verifier, std::move(users), std::move(user), std::move(password), &out),
                 Rethrow);
  io.run();
  EXPECT_TRUE(out.has_value());
  return out.value_or(Verdict::kCancelled);
}

TEST(VerifierTest, ChecksOffTheLoopAndCachesOnlySuccesses) {
  Verifier verifier({.threads = 2, .max_pending = 8, .cache_size = 16});
  auto users = std::make_shared<GatedUsers>();
  struct Step {
    const char* user;
    const char* password;
    Verdict verdict;
    int calls_after;  // Check calls so far: a cached success adds none
  } steps[] = {
      {"alice", "secret", Verdict::kAccepted, 1},
      {"alice", "secret", Verdict::kAccepted, 1},  // cached
      {"alice", "wrong", Verdict::kRejected, 2},
      {"alice", "wrong", Verdict::kRejected, 3},  // failures are never cached
      {"bob", "secret", Verdict::kRejected, 4},
      {"alice", "secret", Verdict::kAccepted, 4},
  };
  for (const Step& step : steps) {
    EXPECT_EQ(RunOne(&verifier, users, step.user, step.password), step.verdict) << step.password;
    EXPECT_EQ(users->calls(), step.calls_after) << step.user << ":" << step.password;
  }
  for (std::thread::id id : users->threads()) EXPECT_NE(id, std::this_thread::get_id());
  // Another set of credentials (a reloaded file) never sees the old one's successes.
  auto reloaded = std::make_shared<GatedUsers>();
  EXPECT_EQ(RunOne(&verifier, reloaded, "alice", "secret"), Verdict::kAccepted);
  EXPECT_EQ(reloaded->calls(), 1);
}

TEST(VerifierTest, FastCredentialsAndNoVerifierCheckInline) {
  Verifier verifier({.threads = 1, .max_pending = 1});
  auto users = std::make_shared<GatedUsers>();
  users->slow_ = false;
  EXPECT_EQ(RunOne(&verifier, users, "alice", "secret"), Verdict::kAccepted);
  users->slow_ = true;
  EXPECT_EQ(RunOne(nullptr, users, "alice", "wrong"), Verdict::kRejected);
  for (std::thread::id id : users->threads()) EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(VerifierTest, OverMaxPendingIsBusyAtOnce) {
  Verifier verifier({.threads = 1, .max_pending = 2, .cache_size = 0});
  auto users = std::make_shared<GatedUsers>();
  users->Close();
  asio::io_context io;
  std::vector<std::optional<Verdict>> out(5);
  for (auto& o : out) asio::co_spawn(io, Verify(&verifier, users, "alice", "secret", &o), Rethrow);
  // Until the gate opens: one check runs, one waits, three are refused without waiting.
  while (!(out[2] && out[3] && out[4])) io.run_one();
  EXPECT_EQ(verifier.pending(), 2u);
  EXPECT_FALSE(out[0] || out[1]);
  users->Open();
  io.run();
  EXPECT_EQ(out[0], Verdict::kAccepted);
  EXPECT_EQ(out[1], Verdict::kAccepted);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(out[i], Verdict::kBusy) << i;
  EXPECT_EQ(PendingWhenIdle(verifier), 0u);
}

TEST(VerifierTest, DeadlineCancelsTheWaitAndTheLateVerdictIsDropped) {
  Verifier verifier({.threads = 1, .max_pending = 4, .cache_size = 0});
  auto users = std::make_shared<GatedUsers>();
  users->Close();
  asio::io_context io;
  std::optional<std::optional<Verdict>> first;
  std::optional<std::optional<Verdict>> second;
  asio::co_spawn(io, VerifyWithin(&verifier, users, std::chrono::milliseconds(50), &first),
                 Rethrow);
  asio::co_spawn(io, VerifyWithin(&verifier, users, std::chrono::milliseconds(50), &second),
                 Rethrow);
  const auto start = std::chrono::steady_clock::now();
  while (verifier.pending() < 2) io.run_one();
  users->WaitStarted(1);                    // the first check runs (held), the second is queued
  while (!(first && second)) io.run_one();  // both deadlines pass while the check is held
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_FALSE(first->has_value());
  EXPECT_FALSE(second->has_value());
  users->Open();
  io.run();  // the running check's verdict arrives and finds nobody waiting
  // The queued check was skipped: nobody waited for it any more.
  EXPECT_EQ(users->calls(), 1);
  EXPECT_EQ(PendingWhenIdle(verifier), 0u);
}

TEST(VerifierTest, StopFinishesTheRunningCheckAndAnswersTheQueuedBusy) {
  Verifier verifier({.threads = 1, .max_pending = 4, .cache_size = 0});
  auto users = std::make_shared<GatedUsers>();
  users->Close();
  asio::io_context io;
  std::vector<std::optional<Verdict>> out(3);
  for (auto& o : out) asio::co_spawn(io, Verify(&verifier, users, "alice", "secret", &o), Rethrow);
  while (verifier.pending() < 3) io.run_one();
  users->WaitStarted(1);
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    users->Open();
  });
  verifier.Stop();  // waits for the running check
  opener.join();
  io.run();
  EXPECT_EQ(out[0], Verdict::kAccepted);
  EXPECT_EQ(out[1], Verdict::kBusy);
  EXPECT_EQ(out[2], Verdict::kBusy);
  EXPECT_EQ(users->calls(), 1);
  // Stopped: everything is refused at once.
  EXPECT_EQ(RunOne(&verifier, users, "alice", "secret"), Verdict::kBusy);
}

}  // namespace
}  // namespace socks5::session
