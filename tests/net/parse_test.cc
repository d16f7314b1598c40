#include "net/parse.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace socks5::net {
namespace {

using ::testing::HasSubstr;

TEST(ParseHostPortTest, AcceptsIpv4Ipv6AndPortZero) {
  auto v4 = ParseHostPort("127.0.0.1:1080");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->address().to_string(), "127.0.0.1");
  EXPECT_EQ(v4->port(), 1080);
  auto v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_TRUE(v6->address().is_v6());
  EXPECT_EQ(v6->port(), 0);
}

TEST(ParseHostPortTest, RejectsMalformedWithReason) {
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"127.0.0.1", "HOST:PORT"},       {"::1:1080", "brackets"},
      {"[::1]1080", "[ADDRESS]:PORT"},  {"[::1", "[ADDRESS]:PORT"},
      {"localhost:1080", "not an IP"},  {"127.0.0.1:65536", "not a port"},
      {"127.0.0.1:", "not a port"},     {"127.0.0.1:-1", "not a port"},
      {"127.0.0.1:http", "not a port"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseHostPort(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message)) << c.text;
  }
}

TEST(ParseListenListTest, SeveralAddresses) {
  auto list = ParseListenList("127.0.0.1:1080, [::1]:1081");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].port(), 1081);
  EXPECT_FALSE(ParseListenList("").ok());
  EXPECT_FALSE(ParseListenList("127.0.0.1:1080,bad").ok());
}

TEST(CidrTest, ContainsByPrefix) {
  auto net8 = ParseCidr("10.0.0.0/8");
  ASSERT_TRUE(net8.ok());
  EXPECT_TRUE(net8->Contains(asio::ip::make_address("10.200.1.1")));
  EXPECT_FALSE(net8->Contains(asio::ip::make_address("11.0.0.1")));
  // IPv4-mapped IPv6 is the IPv4 address.
  EXPECT_TRUE(net8->Contains(asio::ip::make_address("::ffff:10.1.2.3")));
  EXPECT_FALSE(net8->Contains(asio::ip::make_address("2001:db8::1")));

  auto odd = ParseCidr("192.168.4.0/22");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->Contains(asio::ip::make_address("192.168.7.255")));
  EXPECT_FALSE(odd->Contains(asio::ip::make_address("192.168.8.0")));

  auto host = ParseCidr("::1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->prefix_length, 128);
  EXPECT_TRUE(host->Contains(asio::ip::make_address("::1")));
  EXPECT_FALSE(host->Contains(asio::ip::make_address("::2")));

  auto all = ParseCidr("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains(asio::ip::make_address("203.0.113.9")));

  EXPECT_FALSE(ParseCidr("10.0.0.0/33").ok());
  EXPECT_FALSE(ParseCidr("10.0.0.0/x").ok());
  EXPECT_FALSE(ParseCidr("example.com/8").ok());
}

}  // namespace
}  // namespace socks5::net
