// The Asio idioms every I/O layer uses, each written down once here:
//
// Completion tokens: kUseTuple. An awaited operation reports its error as a value
// (`auto [ec, n] = co_await socket.async_read_some(buffer, kUseTuple);`) instead of throwing;
// no file defines its own token.
//
// Deadlines: AsyncWithDeadline(op, timeout). The operation runs as a co_spawn'ed coroutine whose
// cancellation slot belongs to a small shared state; a steady_timer's handler (which holds only a
// shared_ptr to that state) emits terminal cancellation when the timeout passes first. The awaiting
// coroutine always waits for the operation to complete (cancelled or not) and then cancels the
// timer, so the operation never outlives the awaiting frame, and a timer completion that is
// already queued touches only the shared state it owns (it sees the operation finished and does
// nothing). This replaced racing a timer with the awaitable `||` operator, which co_spawns both
// branches and allocates a parallel group's state: ~8 000 instructions per call. No other way to
// put a deadline on an operation is used (no timer callback that closes a socket). The
// operation does not see a cancellation of the awaiting coroutine itself (nothing here cancels a
// coroutine that awaits AsyncWithDeadline); the timer and the awaiting coroutine share one
// io_context, run by one thread.
//
// Callback safety: a completion handler captures only what keeps its target alive — a shared_ptr
// (shared_from_this; a weak_ptr when the handler must not extend the life) — or, for objects on
// a coroutine's frame (the TCP relay), a pointer to something that coroutine keeps alive until
// every handler it started has run (it waits for them before it returns). Never `[&]` or
// `[&socket]` into a frame that may return while the handler is still queued: a completion that
// is already queued cannot be cancelled.
//
// Results: Result<T> (net/result.h) for "a value or an error_code".
#ifndef SOCKS5_NET_ASYNC_H_
#define SOCKS5_NET_ASYNC_H_

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "asio.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"

namespace socks5::net {

// The one completion token: the operation's results as a tuple, errors included.
inline constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Runs `op` and stores its value in `out`. Values cross the awaitable `||` (and
// AsyncWithDeadline) only this way: Asio 1.22's `||` mishandles a move-only result that is not
// default-constructible (a connected socket came out of it already closed), so `||` only ever
// sees void. `out` is set whenever `op` ends, also after it lost the race and was cancelled: the
// `||` result's index says who finished first.
template <typename T>
asio::awaitable<void> AsyncInto(asio::awaitable<T> op, std::optional<T>& out) {
  out.emplace(co_await std::move(op));
}

namespace detail {

// What the deadline timer's handler shares with the awaiting coroutine.
struct DeadlineState {
  asio::cancellation_signal signal;  // the operation's cancellation slot is signal.slot()
  bool finished = false;             // the operation completed: the timer must not cancel it
  bool fired = false;                // the timeout passed first and cancelled the operation
};

// Runs `op` under a deadline: true when it finished first (its exception, if any, is rethrown),
// false when the timeout passed first (then `op` was cancelled and has completed; an exception it
// threw because of the cancellation is dropped).
inline asio::awaitable<bool> AsyncRunWithDeadline(asio::awaitable<void> op,
                                                  std::chrono::steady_clock::duration timeout) {
  auto executor = co_await asio::this_coro::executor;
  auto state = std::make_shared<DeadlineState>();
  asio::steady_timer timer(executor, timeout);
  timer.async_wait([state](const std::error_code& ec) {
    if (ec || state->finished) return;  // cancelled, or queued after the operation completed
    state->fired = true;
    state->signal.emit(asio::cancellation_type::terminal);
  });
  std::exception_ptr error;
  try {
    co_await asio::co_spawn(
        executor, std::move(op),
        asio::bind_cancellation_slot(state->signal.slot(), asio::use_awaitable));
  } catch (...) {
    error = std::current_exception();
  }
  state->finished = true;
  timer.cancel();
  if (state->fired) co_return false;
  if (error) std::rethrow_exception(error);
  co_return true;
}

}  // namespace detail

// Runs `op` with a deadline: its value, or nullopt when `timeout` passed first (then `op` was
// cancelled and has completed).
template <typename T>
asio::awaitable<std::optional<T>> AsyncWithDeadline(asio::awaitable<T> op,
                                                    std::chrono::steady_clock::duration timeout) {
  std::optional<T> value;
  if (!co_await detail::AsyncRunWithDeadline(AsyncInto(std::move(op), value), timeout)) {
    co_return std::nullopt;
  }
  co_return value;
}

// The same for an operation without a value: true when it finished in time.
inline asio::awaitable<bool> AsyncWithDeadline(asio::awaitable<void> op,
                                               std::chrono::steady_clock::duration timeout) {
  co_return co_await detail::AsyncRunWithDeadline(std::move(op), timeout);
}

// Waits for `timer` to expire or be cancelled, whichever comes first (the error says which).
inline asio::awaitable<std::error_code> AsyncWait(asio::steady_timer& timer) {
  auto [ec] = co_await timer.async_wait(kUseTuple);
  co_return ec;
}

}  // namespace socks5::net

#endif  // SOCKS5_NET_ASYNC_H_
