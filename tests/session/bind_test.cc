#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "session/bind_policy.h"

namespace socks5::session {
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

}  // namespace
}  // namespace socks5::session
