// The Asio idioms every I/O layer uses, each written down once here:
//
// Completion tokens: kUseTuple. An awaited operation reports its error as a value
// (`auto [ec, n] = co_await socket.async_read_some(buffer, kUseTuple);`) instead of throwing;
// no file defines its own token.
//
// Deadlines: AsyncWithDeadline(op, timeout). The operation races a timer with the awaitable `||`
// operator; whichever finishes first cancels the other, and `||` returns only when both have
// completed, so neither the timer nor the operation outlives the awaiting coroutine's frame. No
// other way to put a deadline on an operation is used (no timer callback that closes a socket).
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
#include <optional>
#include <utility>

#include "asio.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"

namespace socks5::net {

// The one completion token: the operation's results as a tuple, errors included.
inline constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Runs `op` and stores its value in `out`. Values cross the awaitable `||` only this way: Asio
// 1.22's `||` mishandles a move-only result that is not default-constructible (a connected socket
// came out of it already closed), so `||` only ever sees void. `out` is set whenever `op` ends,
// also after it lost the race and was cancelled: the `||` result's index says who finished first.
template <typename T>
asio::awaitable<void> AsyncInto(asio::awaitable<T> op, std::optional<T>& out) {
  out.emplace(co_await std::move(op));
}

// Runs `op` with a deadline: its value, or nullopt when `timeout` passed first (then `op` was
// cancelled and has completed).
template <typename T>
asio::awaitable<std::optional<T>> AsyncWithDeadline(asio::awaitable<T> op,
                                                    std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  std::optional<T> value;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto result = co_await (AsyncInto(std::move(op), value) || timer.async_wait(kUseTuple));
  if (result.index() != 0) co_return std::nullopt;
  co_return value;
}

// The same for an operation without a value: true when it finished in time.
inline asio::awaitable<bool> AsyncWithDeadline(asio::awaitable<void> op,
                                               std::chrono::steady_clock::duration timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto result = co_await (std::move(op) || timer.async_wait(kUseTuple));
  co_return result.index() == 0;
}

// Waits for `timer` to expire or be cancelled, whichever comes first (the error says which).
inline asio::awaitable<std::error_code> AsyncWait(asio::steady_timer& timer) {
  auto [ec] = co_await timer.async_wait(kUseTuple);
  co_return ec;
}

}  // namespace socks5::net

#endif  // SOCKS5_NET_ASYNC_H_
