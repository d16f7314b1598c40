#include "net/readiness.h"

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "gtest/gtest.h"
#include "net/socket.h"

namespace socks5::net {
namespace {

using asio::ip::tcp;

// A connected loopback pair: `ours` (non-blocking, as the relay's) and `peer`.
struct Pair {
  explicit Pair(asio::io_context& io) : ours(io), peer(io) {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
    ours.non_blocking(true);
  }
  tcp::socket ours;
  tcp::socket peer;
};

// Runs `io` until `done` is set or a second passes.
void RunUntil(asio::io_context& io, const std::optional<std::error_code>& done) {
  io.restart();
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!done && std::chrono::steady_clock::now() < end)
    io.run_one_for(std::chrono::milliseconds(20));
}

TEST(ReadinessTest, WithoutMarkCompletesAtOnce) {
  asio::io_context io;
  Pair pair(io);
  std::optional<std::error_code> done;
  AsyncWaitReady(pair.ours, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  EXPECT_FALSE(done);  // posted, never inside the call
  RunUntil(io, done);
  ASSERT_TRUE(done);  // no data: the caller's read would find EAGAIN and mark it drained
  EXPECT_FALSE(*done);
}

TEST(ReadinessTest, DrainedWaitsForTheNextEdge) {
  asio::io_context io;
  Pair pair(io);
  std::array<char, 16> buffer;
  ASSERT_LT(::recv(pair.ours.native_handle(), buffer.data(), buffer.size(), 0), 0);  // EAGAIN
  MarkDrained(pair.ours, asio::socket_base::wait_read);
  std::optional<std::error_code> done;
  AsyncWaitReady(pair.ours, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done);  // nothing arrived: still waiting
  asio::write(pair.peer, asio::buffer("x", 1));
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
  EXPECT_EQ(::recv(pair.ours.native_handle(), buffer.data(), buffer.size(), 0), 1);
}

TEST(ReadinessTest, AnEventAfterTheMarkCompletesTheWait) {
  // Bytes that arrive between the EAGAIN and the wait (the reactor sees their edge while nothing
  // waits) are not missed.
  asio::io_context io;
  Pair pair(io);
  MarkDrained(pair.ours, asio::socket_base::wait_read);
  asio::write(pair.peer, asio::buffer("x", 1));
  // Let the reactor see the edge with no wait pending (a timer keeps run_for busy).
  asio::steady_timer tick(io, std::chrono::milliseconds(30));
  tick.async_wait([](std::error_code) {});
  io.run_for(std::chrono::milliseconds(50));
  std::optional<std::error_code> done;
  AsyncWaitReady(pair.ours, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
}

TEST(ReadinessTest, EofAndCloseEndTheWait) {
  asio::io_context io;
  Pair pair(io);
  MarkDrained(pair.ours, asio::socket_base::wait_read);
  std::optional<std::error_code> done;
  AsyncWaitReady(pair.ours, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  pair.peer.shutdown(tcp::socket::shutdown_send);
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);

  done.reset();
  MarkDrained(pair.ours, asio::socket_base::wait_read);
  AsyncWaitReady(pair.ours, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  pair.ours.close();
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, asio::error::operation_aborted);

  done.reset();
  AsyncWaitReady(pair.ours, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, asio::error::bad_descriptor);
}

TEST(ReadinessTest, ACancellationSlotCancelsTheWait) {
  // As the awaitable `||` cancels the losing side.
  asio::io_context io;
  Pair pair(io);
  MarkDrained(pair.ours, asio::socket_base::wait_read);
  asio::cancellation_signal signal;
  std::optional<std::error_code> done;
  AsyncWaitReady(
      pair.ours, asio::socket_base::wait_read,
      asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec) { done = ec; }));
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(done);
  signal.emit(asio::cancellation_type::terminal);
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, asio::error::operation_aborted);
  EXPECT_TRUE(pair.ours.is_open());
}

TEST(ReadinessTest, WritableAgainAfterTheSendBufferFilled) {
  asio::io_context io;
  Pair pair(io);
  int small = 4096;
  ::setsockopt(pair.ours.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(pair.peer.native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::array<char, 65536> bytes{};
  // Full both ways (our send queue and the peer's receive queue): a send still fails after the
  // loopback has had time to move what it could.
  for (int quiet = 0; quiet < 3;) {
    bool sent = false;
    while (::send(pair.ours.native_handle(), bytes.data(), bytes.size(), MSG_NOSIGNAL) > 0) {
      sent = true;
    }
    quiet = sent ? 0 : quiet + 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  MarkDrained(pair.ours, asio::socket_base::wait_write);
  std::optional<std::error_code> done;
  AsyncWaitReady(pair.ours, asio::socket_base::wait_write, [&](std::error_code ec) { done = ec; });
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done);  // full: still waiting
  // The peer reads on (for as long as the loop runs): our send queue empties.
  std::array<char, 65536> sink;
  std::function<void(std::error_code, std::size_t)> drain = [&](std::error_code ec, std::size_t) {
    if (!ec) pair.peer.async_read_some(asio::buffer(sink), drain);
  };
  drain({}, 0);
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
}

TEST(ReadinessTest, AcceptorWaitsForTheNextConnection) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  acceptor.non_blocking(true);
  MarkDrained(acceptor, asio::socket_base::wait_read);
  std::optional<std::error_code> done;
  AsyncWaitReady(acceptor, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done);
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
}

TEST(ReadinessTest, OpenNonBlockingStartsDrainedForReading) {
  // A new socket waits for its first bytes without completing at once.
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket socket(io);
  ASSERT_FALSE(OpenNonBlocking(socket, tcp::v4()));
  std::optional<std::error_code> connected;
  AsyncConnectNonBlocking(socket, acceptor.local_endpoint(),
                          [&](std::error_code ec) { connected = ec; });
  RunUntil(io, connected);
  ASSERT_TRUE(connected);
  ASSERT_FALSE(*connected);
  tcp::socket server(io);
  acceptor.accept(server);
  std::optional<std::error_code> done;
  AsyncWaitReady(socket, asio::socket_base::wait_read, [&](std::error_code ec) { done = ec; });
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done);
  asio::write(server, asio::buffer("banner", 6));
  RunUntil(io, done);
  ASSERT_TRUE(done);
  EXPECT_FALSE(*done);
}

}  // namespace
}  // namespace socks5::net
