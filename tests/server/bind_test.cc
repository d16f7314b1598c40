#include <optional>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "server/bind_listener.h"
#include "server/bind_policy.h"

namespace socks5::server {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

TEST(BindPeerAllowedTest, Table) {
  struct Case {
    std::vector<const char*> expected;
    const char* peer;
    bool allowed;
  } cases[] = {
      // DST.ADDR all zeros: no expectation, anyone completes the BIND.
      {{}, "192.0.2.7", true},
      {{}, "::1", true},
      // The IP must match; ports never enter into it.
      {{"127.0.0.1"}, "127.0.0.1", true},
      {{"127.0.0.1"}, "127.0.0.2", false},
      {{"127.0.0.1"}, "::1", false},
      {{"::1"}, "::1", true},
      {{"::1"}, "::2", false},
      {{"2001:db8::1"}, "2001:db8::1", true},
      // IPv4-mapped IPv6 equals IPv4, on either side.
      {{"127.0.0.1"}, "::ffff:127.0.0.1", true},
      {{"::ffff:127.0.0.1"}, "127.0.0.1", true},
      {{"::ffff:127.0.0.1"}, "::ffff:127.0.0.1", true},
      {{"127.0.0.1"}, "::ffff:127.0.0.2", false},
      // A domain's addresses: any of them.
      {{"192.0.2.1", "2001:db8::5", "192.0.2.2"}, "192.0.2.2", true},
      {{"192.0.2.1", "2001:db8::5", "192.0.2.2"}, "2001:db8::5", true},
      {{"192.0.2.1", "2001:db8::5", "192.0.2.2"}, "192.0.2.3", false},
  };
  for (const Case& c : cases) {
    std::vector<asio::ip::address> expected;
    for (const char* e : c.expected) expected.push_back(Ip(e));
    EXPECT_EQ(BindPeerAllowed(expected, Ip(c.peer)), c.allowed)
        << "peer " << c.peer << ", " << c.expected.size() << " expected, first "
        << (c.expected.empty() ? "-" : c.expected.front());
  }
}

TEST(BindReplyAddressTest, AdvertisedWinsOverListener) {
  EXPECT_EQ(BindReplyAddress(Ip("192.0.2.10"), Ip("127.0.0.1")), Ip("192.0.2.10"));
  EXPECT_EQ(BindReplyAddress(Ip("2001:db8::10"), Ip("127.0.0.1")), Ip("2001:db8::10"));
}

TEST(BindReplyAddressTest, ListenerAddressWithoutAdvertise) {
  EXPECT_EQ(BindReplyAddress(std::nullopt, Ip("127.0.0.1")), Ip("127.0.0.1"));
  EXPECT_EQ(BindReplyAddress(std::nullopt, Ip("::1")), Ip("::1"));
  EXPECT_EQ(BindReplyAddress(std::nullopt, Ip("::ffff:10.1.2.3")), Ip("10.1.2.3"));
}

TEST(BindReplyAddressTest, NeverUnspecified) {
  EXPECT_EQ(BindReplyAddress(std::nullopt, Ip("0.0.0.0")), std::nullopt);
  EXPECT_EQ(BindReplyAddress(std::nullopt, Ip("::")), std::nullopt);
  EXPECT_EQ(BindReplyAddress(std::nullopt, Ip("::ffff:0.0.0.0")), std::nullopt);
  // An unspecified advertised address (rejected at start-up anyway) does not win.
  EXPECT_EQ(BindReplyAddress(Ip("0.0.0.0"), Ip("127.0.0.1")), Ip("127.0.0.1"));
  EXPECT_EQ(BindReplyAddress(Ip("::"), Ip("::")), std::nullopt);
}

TEST(LocalAddressTowardTest, LoopbackAndPortZero) {
  asio::io_context io;
  auto v4 = LocalAddressToward(io, Ip("127.0.0.1"), 21);
  ASSERT_FALSE(v4.first) << v4.first.message();
  EXPECT_EQ(v4.second, Ip("127.0.0.1"));
  auto port0 = LocalAddressToward(io, Ip("127.0.0.1"), 0);
  ASSERT_FALSE(port0.first) << port0.first.message();
  EXPECT_EQ(port0.second, Ip("127.0.0.1"));
  auto mapped = LocalAddressToward(io, Ip("::ffff:127.0.0.1"), 21);
  ASSERT_FALSE(mapped.first) << mapped.first.message();
  EXPECT_EQ(mapped.second, Ip("127.0.0.1"));
}

TEST(LocalAddressTowardTest, Ipv6Loopback) {
  asio::io_context io;
  auto v6 = LocalAddressToward(io, Ip("::1"), 21);
  ASSERT_FALSE(v6.first) << v6.first.message();
  EXPECT_EQ(v6.second, Ip("::1"));
}

// Port-range choice against real sockets: an ephemeral port P that we hold makes the range
// P-P full; once released the same range yields P.
TEST(OpenBindListenerTest, RangeBusyThenFree) {
  asio::io_context io;
  asio::ip::tcp::acceptor holder(io, asio::ip::tcp::endpoint(Ip("127.0.0.1"), 0));
  const std::uint16_t port = holder.local_endpoint().port();
  udp::PortPicker picker(udp::PortRange{port, port});

  asio::ip::tcp::acceptor busy(io);
  EXPECT_EQ(OpenBindListener(busy, Ip("127.0.0.1"), &picker), asio::error::address_in_use);
  EXPECT_FALSE(busy.is_open());

  holder.close();
  asio::ip::tcp::acceptor free(io);
  ASSERT_FALSE(OpenBindListener(free, Ip("127.0.0.1"), &picker));
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
    udp::PortPicker picker(udp::PortRange{port, static_cast<std::uint16_t>(port + 1)});
    asio::ip::tcp::acceptor first(io);
    ASSERT_FALSE(OpenBindListener(first, Ip("127.0.0.1"), &picker));
    EXPECT_EQ(first.local_endpoint().port(), port + 1);
    // Now both are in use (P by `low`, P+1 by `first`).
    asio::ip::tcp::acceptor none(io);
    EXPECT_EQ(OpenBindListener(none, Ip("127.0.0.1"), &picker), asio::error::address_in_use);
    // Release P: the picker continues after P+1, wraps, and takes P.
    low.close();
    asio::ip::tcp::acceptor second(io);
    ASSERT_FALSE(OpenBindListener(second, Ip("127.0.0.1"), &picker));
    EXPECT_EQ(second.local_endpoint().port(), port);
    return;
  }
  FAIL() << "no two adjacent free ports found in 20000-29999";
}

TEST(OpenBindListenerTest, EphemeralWithoutRange) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io);
  ASSERT_FALSE(OpenBindListener(acceptor, Ip("::1"), nullptr));
  EXPECT_EQ(acceptor.local_endpoint().address(), Ip("::1"));
  EXPECT_NE(acceptor.local_endpoint().port(), 0);
}

}  // namespace
}  // namespace socks5::server
