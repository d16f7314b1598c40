#include "net/socket.h"

#include <fcntl.h>

#include <array>
#include <chrono>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace socks5::net {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

TEST(LocalAddressTowardTest, LoopbackAndPortZero) {
  asio::io_context io;
  auto v4 = LocalAddressToward(io, Ip("127.0.0.1"), 21);
  ASSERT_TRUE(v4.ok()) << v4.error().message();
  EXPECT_EQ(*v4, Ip("127.0.0.1"));
  auto port0 = LocalAddressToward(io, Ip("127.0.0.1"), 0);
  ASSERT_TRUE(port0.ok()) << port0.error().message();
  EXPECT_EQ(*port0, Ip("127.0.0.1"));
  auto mapped = LocalAddressToward(io, Ip("::ffff:127.0.0.1"), 21);
  ASSERT_TRUE(mapped.ok()) << mapped.error().message();
  EXPECT_EQ(*mapped, Ip("127.0.0.1"));
}

TEST(LocalAddressTowardTest, Ipv6Loopback) {
  asio::io_context io;
  auto v6 = LocalAddressToward(io, Ip("::1"), 21);
  ASSERT_TRUE(v6.ok()) << v6.error().message();
  EXPECT_EQ(*v6, Ip("::1"));
}

// Port-range choice against real sockets: an ephemeral port P that we hold makes the range
// P-P full; once released the same range yields P.
TEST(OpenBindListenerTest, RangeBusyThenFree) {
  asio::io_context io;
  asio::ip::tcp::acceptor holder(io, asio::ip::tcp::endpoint(Ip("127.0.0.1"), 0));
  const std::uint16_t port = holder.local_endpoint().port();
  PortPicker picker(PortRange{port, port});

  asio::ip::tcp::acceptor busy(io);
  EXPECT_EQ(OpenListenerInRange(busy, Ip("127.0.0.1"), &picker, {}), asio::error::address_in_use);
  EXPECT_FALSE(busy.is_open());

  holder.close();
  asio::ip::tcp::acceptor free(io);
  ASSERT_FALSE(OpenListenerInRange(free, Ip("127.0.0.1"), &picker, {}));
  EXPECT_EQ(free.local_endpoint(), asio::ip::tcp::endpoint(Ip("127.0.0.1"), port));
}

// A busy port is skipped and the next one of the range is used; successive listeners take
// successive ports (round-robin), not always the range's low end.
TEST(OpenBindListenerTest, SkipsBusyPortsRoundRobin) {
  asio::io_context io;
  // Two adjacent free ports P, P+1, below the ephemeral range (which a busy machine may have
  // filled with TIME_WAIT connections): hold P, check that P+1 binds, release it.
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 29998);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto port = static_cast<std::uint16_t>(pick(random));
    std::error_code ec;
    asio::ip::tcp::acceptor low(io);
    low.open(asio::ip::tcp::v4(), ec);
    if (!ec) low.bind(asio::ip::tcp::endpoint(Ip("127.0.0.1"), port), ec);
    if (!ec) low.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) continue;
    asio::ip::tcp::acceptor high(io);
    high.open(asio::ip::tcp::v4(), ec);
    if (!ec) high.bind(asio::ip::tcp::endpoint(Ip("127.0.0.1"), port + 1), ec);
    if (ec) continue;  // P+1 is someone else's; try another P
    high.close();
    // Range P..P+1 with P held: the picker skips P and takes P+1.
    PortPicker picker(PortRange{port, static_cast<std::uint16_t>(port + 1)});
    asio::ip::tcp::acceptor first(io);
    ASSERT_FALSE(OpenListenerInRange(first, Ip("127.0.0.1"), &picker, {}));
    EXPECT_EQ(first.local_endpoint().port(), port + 1);
    // Now both are in use (P by `low`, P+1 by `first`).
    asio::ip::tcp::acceptor none(io);
    EXPECT_EQ(OpenListenerInRange(none, Ip("127.0.0.1"), &picker, {}), asio::error::address_in_use);
    // Release P: the picker continues after P+1, wraps, and takes P.
    low.close();
    asio::ip::tcp::acceptor second(io);
    ASSERT_FALSE(OpenListenerInRange(second, Ip("127.0.0.1"), &picker, {}));
    EXPECT_EQ(second.local_endpoint().port(), port);
    return;
  }
  FAIL() << "no two adjacent free ports found in 20000-29999";
}

TEST(OpenBindListenerTest, EphemeralWithoutRange) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io);
  ASSERT_FALSE(OpenListenerInRange(acceptor, Ip("::1"), nullptr, {}));
  EXPECT_EQ(acceptor.local_endpoint().address(), Ip("::1"));
  EXPECT_NE(acceptor.local_endpoint().port(), 0);
}

// accept4 with the peer's address, a socket Asio uses without an ioctl of its own.
TEST(NonBlockingSocketTest, AcceptGivesANonBlockingSocketAndThePeer) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io);
  ASSERT_FALSE(OpenListener(acceptor, asio::ip::tcp::endpoint(Ip("127.0.0.1"), 0),
                            ListenOptions{.no_delay = true}));
  acceptor.non_blocking(true);
  asio::ip::tcp::socket accepted(io);
  asio::ip::tcp::endpoint peer;
  EXPECT_EQ(AcceptNonBlocking(acceptor, accepted, peer), asio::error::would_block);
  asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  std::error_code ec;
  for (int i = 0; i < 100 && (ec = AcceptNonBlocking(acceptor, accepted, peer)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(peer, client.local_endpoint());
  EXPECT_TRUE(::fcntl(accepted.native_handle(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(accepted.native_non_blocking());  // Asio knows: no ioctl before its operations
  asio::ip::tcp::no_delay nodelay;
  accepted.get_option(nodelay);
  EXPECT_TRUE(nodelay.value());  // inherited from the listener
  // Asynchronous operations work on it, and closing it is enough (no epoll_ctl DEL needed).
  std::array<char, 4> buffer{};
  std::size_t got = 0;
  accepted.async_read_some(asio::buffer(buffer), [&](std::error_code e, std::size_t n) {
    EXPECT_FALSE(e);
    got = n;
  });
  asio::write(client, asio::buffer("abc", 3));
  io.run_for(std::chrono::seconds(2));
  EXPECT_EQ(got, 3u);
  accepted.close();
}

TEST(NonBlockingSocketTest, ConnectCompletesOrFails) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(Ip("127.0.0.1"), 0));
  asio::ip::tcp::socket socket(io);
  ASSERT_FALSE(OpenNonBlocking(socket, asio::ip::tcp::v4()));
  EXPECT_TRUE(socket.native_non_blocking());
  std::optional<std::error_code> result;
  AsyncConnectNonBlocking(socket, acceptor.local_endpoint(),
                          [&](std::error_code ec) { result = ec; });
  io.run_for(std::chrono::seconds(2));
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result) << result->message();
  EXPECT_EQ(socket.remote_endpoint(), acceptor.local_endpoint());

  // A closed port: refused. (The listener's port, freed.)
  const asio::ip::tcp::endpoint gone = acceptor.local_endpoint();
  acceptor.close();
  asio::ip::tcp::socket refused(io);
  ASSERT_FALSE(OpenNonBlocking(refused, asio::ip::tcp::v4()));
  result.reset();
  AsyncConnectNonBlocking(refused, gone, [&](std::error_code ec) { result = ec; });
  io.restart();
  io.run_for(std::chrono::seconds(2));
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::connection_refused);

  // Closing the socket while the connect waits cancels it.
  asio::ip::tcp::socket cancelled(io);
  ASSERT_FALSE(OpenNonBlocking(cancelled, asio::ip::tcp::v4()));
  result.reset();
  asio::ip::tcp::acceptor backlog(io, asio::ip::tcp::endpoint(Ip("127.0.0.1"), 0));
  AsyncConnectNonBlocking(cancelled, backlog.local_endpoint(),
                          [&](std::error_code ec) { result = ec; });
  cancelled.close();
  io.restart();
  io.run_for(std::chrono::seconds(2));
  ASSERT_TRUE(result.has_value());  // aborted, or connected before the close: never hangs
}

}  // namespace
}  // namespace socks5::net
