// AsyncWithDeadline: the deadline cancels the operation, the operation finishing first wins, and
// both completing in the same loop iteration leaves nothing that touches freed memory (run under
// ASan).
#include "net/async.h"

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>

#include "gtest/gtest.h"

namespace socks5::net {
namespace {

using std::chrono::milliseconds;

// Waits on `timer`; reports how the wait ended.
asio::awaitable<int> WaitValue(asio::steady_timer& timer, bool& aborted) {
  auto [ec] = co_await timer.async_wait(kUseTuple);
  aborted = ec == asio::error::operation_aborted;
  co_return 7;
}

asio::awaitable<void> WaitVoid(asio::steady_timer& timer, bool& aborted) {
  auto [ec] = co_await timer.async_wait(kUseTuple);
  aborted = ec == asio::error::operation_aborted;
}

template <typename Awaitable>
void RunToCompletion(asio::io_context& io, Awaitable a) {
  bool done = false;
  asio::co_spawn(io, std::move(a), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  io.run();
  ASSERT_TRUE(done);
}

TEST(AsyncWithDeadlineTest, DeadlineCancelsTheOperation) {
  asio::io_context io;
  asio::steady_timer slow(io, std::chrono::hours(1));
  bool aborted = false;
  std::optional<std::optional<int>> result;
  auto start = std::chrono::steady_clock::now();
  RunToCompletion(io, [&]() -> asio::awaitable<void> {
    result = co_await AsyncWithDeadline(WaitValue(slow, aborted), milliseconds(20));
  }());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, std::nullopt);
  EXPECT_TRUE(aborted);  // the operation saw the cancellation and completed before the return
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(AsyncWithDeadlineTest, VoidDeadlineCancelsTheOperation) {
  asio::io_context io;
  asio::steady_timer slow(io, std::chrono::hours(1));
  bool aborted = false;
  std::optional<bool> in_time;
  RunToCompletion(io, [&]() -> asio::awaitable<void> {
    in_time = co_await AsyncWithDeadline(WaitVoid(slow, aborted), milliseconds(20));
  }());
  ASSERT_TRUE(in_time.has_value());
  EXPECT_FALSE(*in_time);
  EXPECT_TRUE(aborted);
}

TEST(AsyncWithDeadlineTest, OperationFinishingFirstWins) {
  asio::io_context io;
  asio::steady_timer quick(io, milliseconds(1));
  bool aborted = true;
  std::optional<std::optional<int>> result;
  auto start = std::chrono::steady_clock::now();
  RunToCompletion(io, [&]() -> asio::awaitable<void> {
    result = co_await AsyncWithDeadline(WaitValue(quick, aborted), std::chrono::hours(1));
  }());
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, std::optional<int>(7));
  EXPECT_FALSE(aborted);
  // io.run() returned: the hour-long deadline timer did not keep the loop alive.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(AsyncWithDeadlineTest, VoidOperationFinishingFirstWins) {
  asio::io_context io;
  asio::steady_timer quick(io, milliseconds(1));
  bool aborted = true;
  std::optional<bool> in_time;
  RunToCompletion(io, [&]() -> asio::awaitable<void> {
    in_time = co_await AsyncWithDeadline(WaitVoid(quick, aborted), std::chrono::hours(1));
  }());
  EXPECT_EQ(in_time, std::optional<bool>(true));
  EXPECT_FALSE(aborted);
}

// The operation's timer and the deadline expire together: both completions are queued in the
// same loop iteration, whichever runs first. The awaiting frame (and the operation's) are gone
// before the other completion's handler runs; ASan reports any access to them.
TEST(AsyncWithDeadlineTest, SimultaneousCompletionIsSafe) {
  for (int i = 0; i < 50; ++i) {
    asio::io_context io;
    auto expiry = std::chrono::steady_clock::now() + milliseconds(2);
    auto op_timer = std::make_unique<asio::steady_timer>(io, expiry);
    bool aborted = false;
    std::optional<std::optional<int>> result;
    RunToCompletion(io, [&]() -> asio::awaitable<void> {
      result = co_await AsyncWithDeadline(WaitValue(*op_timer, aborted),
                                          expiry - std::chrono::steady_clock::now());
      op_timer.reset();  // the operation's own state goes away right after the return
    }());
    ASSERT_TRUE(result.has_value());
    // Either outcome is allowed, but it must be consistent: a value only if not cancelled.
    if (result->has_value()) {
      EXPECT_EQ(**result, 7);
    }
  }
}

asio::awaitable<int> Throws(asio::steady_timer& timer) {
  co_await timer.async_wait(asio::use_awaitable);
  throw std::runtime_error("boom");
}

TEST(AsyncWithDeadlineTest, AnExceptionBeforeTheDeadlineReachesTheCaller) {
  asio::io_context io;
  asio::steady_timer quick(io, milliseconds(1));
  bool caught = false;
  RunToCompletion(io, [&]() -> asio::awaitable<void> {
    try {
      co_await AsyncWithDeadline(Throws(quick), std::chrono::hours(1));
    } catch (const std::runtime_error&) {
      caught = true;
    }
  }());
  EXPECT_TRUE(caught);
}

}  // namespace
}  // namespace socks5::net
