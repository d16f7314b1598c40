#include "server/relay.h"

#include <chrono>

#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "server/worker.h"

namespace socks5::server {
namespace {

using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);

struct RelayState {
  asio::ip::tcp::socket& client;
  asio::ip::tcp::socket& upstream;
  Clock::time_point last_activity = Clock::now();
  bool aborted = false;

  // A reset or error on one side: reset the other (SO_LINGER 0 then close) and stop both ways.
  void Abort() {
    if (aborted) return;
    aborted = true;
    std::error_code ignored;
    for (asio::ip::tcp::socket* s : {&client, &upstream}) {
      s->set_option(asio::socket_base::linger(true, 0), ignored);
      s->close(ignored);
    }
  }
};

// Moves bytes from `from` to `to` until EOF (then shuts down `to`'s write side) or an error.
// While the source has nothing to read, no buffer is held: wait for readability first, then
// borrow a buffer from the pool and read until the socket would block.
asio::awaitable<void> RunDirection(RelayState& state, asio::ip::tcp::socket& from,
                                   asio::ip::tcp::socket& to, BufferPool& pool,
                                   std::uint64_t& counter) {
  for (;;) {
    auto waited = co_await from.async_wait(asio::socket_base::wait_read, kUseTuple);
    if (std::get<0>(waited) || state.aborted) co_return state.Abort();
    BufferPool::Lease buffer = pool.Acquire();
    for (;;) {
      std::error_code ec;
      std::size_t n = from.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec == asio::error::eof) {
        std::error_code ignored;
        to.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        co_return;
      }
      if (ec) co_return state.Abort();
      state.last_activity = Clock::now();
      auto written = co_await asio::async_write(to, asio::buffer(buffer.data(), n), kUseTuple);
      if (std::get<0>(written)) co_return state.Abort();
      counter += n;
      state.last_activity = Clock::now();
      if (n < buffer.size()) break;  // drained for now; wait for readability again
    }
  }
}

// Ends the relay (by closing both sockets) once nothing has moved for `idle`.
asio::awaitable<void> RunIdleWatch(RelayState& state, std::chrono::nanoseconds idle) {
  asio::steady_timer timer(state.client.get_executor());
  for (;;) {
    timer.expires_at(state.last_activity + idle);
    auto waited = co_await timer.async_wait(kUseTuple);
    if (std::get<0>(waited)) co_return;  // cancelled: the relay finished
    if (Clock::now() - state.last_activity >= idle) {
      std::error_code ignored;
      state.client.close(ignored);
      state.upstream.close(ignored);
      co_return;
    }
  }
}

}  // namespace

asio::awaitable<void> AsyncRelay(Session& session, asio::ip::tcp::socket upstream) {
  std::error_code ec;
  upstream.set_option(asio::ip::tcp::no_delay(true), ec);
  if (!session.early_data.empty()) {
    auto written = co_await asio::async_write(upstream, asio::buffer(session.early_data), kUseTuple);
    if (std::get<0>(written)) co_return;
    session.bytes_up += session.early_data.size();
    session.early_data.clear();
    session.early_data.shrink_to_fit();
  }
  session.client.non_blocking(true, ec);
  upstream.non_blocking(true, ec);
  BufferPool& pool = session.worker.buffers();
  RelayState state{session.client, upstream};
  auto idle = absl::ToChronoNanoseconds(session.worker.config().idle_timeout);
  co_await ((RunDirection(state, session.client, upstream, pool, session.bytes_up) &&
             RunDirection(state, upstream, session.client, pool, session.bytes_down)) ||
            RunIdleWatch(state, idle));
  session.client.close(ec);
  upstream.close(ec);
}

}  // namespace socks5::server
