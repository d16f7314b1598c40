#include "protocol/address.h"

#include <arpa/inet.h>

#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "tests/protocol/parse_cases.h"

namespace socks5::protocol {
namespace {

using ::socks5::protocol::testing::Domain;
using ::socks5::protocol::testing::V4;
using ::socks5::protocol::testing::V6;

TEST(AddressTest, TypeFollowsTheHost) {
  EXPECT_EQ(V4(1, 2, 3, 4, 80).type(), AddressType::kIPv4);
  EXPECT_EQ(V6("20010db8000000000000000000000001", 80).type(), AddressType::kIPv6);
  EXPECT_EQ(Domain("example.com", 80).type(), AddressType::kDomain);
  EXPECT_TRUE(Domain("example.com", 80).is_domain());
  EXPECT_FALSE(V4(1, 2, 3, 4, 80).is_domain());
  EXPECT_EQ(static_cast<int>(AddressType::kIPv4), 0x01);
  EXPECT_EQ(static_cast<int>(AddressType::kDomain), 0x03);
  EXPECT_EQ(static_cast<int>(AddressType::kIPv6), 0x04);
}

TEST(AddressTest, UnspecifiedIsAllZeroIpWhateverThePort) {
  EXPECT_TRUE(V4(0, 0, 0, 0, 0).is_unspecified_ip());
  EXPECT_TRUE(V4(0, 0, 0, 0, 1234).is_unspecified_ip());
  EXPECT_TRUE(V6("00000000000000000000000000000000", 0).is_unspecified_ip());
  EXPECT_TRUE(V6("00000000000000000000000000000000", 9).is_unspecified_ip());
  EXPECT_FALSE(V4(0, 0, 0, 1, 0).is_unspecified_ip());
  EXPECT_FALSE(V4(127, 0, 0, 1, 0).is_unspecified_ip());
  EXPECT_FALSE(V6("00000000000000000000000000000001", 0).is_unspecified_ip());
  EXPECT_FALSE(V6("00000000000000000000ffff00000000", 0).is_unspecified_ip());
  EXPECT_FALSE(Domain("0.0.0.0", 0).is_unspecified_ip());
  EXPECT_TRUE(NullAddress().is_unspecified_ip());
}

TEST(AddressTest, NullAddressIsIpv4ZeroPortZero) {
  EXPECT_EQ(NullAddress(), V4(0, 0, 0, 0, 0));
  EXPECT_EQ(NullAddress().encoded_size(), 7u);
}

TEST(AddressTest, EncodedSize) {
  EXPECT_EQ(V4(1, 2, 3, 4, 80).encoded_size(), 1u + 4 + 2);
  EXPECT_EQ(V6("20010db8000000000000000000000001", 80).encoded_size(), 1u + 16 + 2);
  EXPECT_EQ(Domain("a", 80).encoded_size(), 1u + 1 + 1 + 2);
  EXPECT_EQ(Domain(std::string(255, 'a'), 80).encoded_size(), 1u + 1 + 255 + 2);
}

TEST(AddressTest, EqualityComparesHostAndPort) {
  EXPECT_EQ(V4(1, 2, 3, 4, 80), V4(1, 2, 3, 4, 80));
  EXPECT_NE(V4(1, 2, 3, 4, 80), V4(1, 2, 3, 4, 81));
  EXPECT_NE(V4(1, 2, 3, 4, 80), V4(1, 2, 3, 5, 80));
  EXPECT_NE(Domain("a", 80), Domain("b", 80));
  // 0.0.0.0 and :: are different addresses even though both are "unspecified".
  EXPECT_NE(NullAddress(), V6("00000000000000000000000000000000", 0));
}

struct ToStringCase {
  Address address;
  std::string expected;
};

TEST(AddressToStringTest, Table) {
  const ToStringCase cases[] = {
      {V4(1, 2, 3, 4, 80), "1.2.3.4:80"},
      {V4(0, 0, 0, 0, 0), "0.0.0.0:0"},
      {V4(255, 255, 255, 255, 65535), "255.255.255.255:65535"},
      {V4(127, 0, 0, 1, 1080), "127.0.0.1:1080"},
      // RFC 5952 s.4: lower case, no leading zeros, the longest zero run (two or more groups)
      // becomes "::", the first one on a tie; a single zero group stays "0".
      {V6("20010db8000000000000000000000001", 80), "[2001:db8::1]:80"},
      {V6("00000000000000000000000000000000", 0), "[::]:0"},
      {V6("00000000000000000000000000000001", 443), "[::1]:443"},
      {V6("00010000000000000000000000000000", 1), "[1::]:1"},
      {V6("fe800000000000000000000000000001", 2), "[fe80::1]:2"},
      {V6("20010db8000000010001000100010001", 3), "[2001:db8:0:1:1:1:1:1]:3"},
      {V6("20010db8000000000001000000000001", 4), "[2001:db8::1:0:0:1]:4"},
      {V6("20010000000000010000000000000001", 5), "[2001:0:0:1::1]:5"},
      {V6("20010db8aaaabbbbccccddddeeeeffff", 6), "[2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff]:6"},
      {V6("00010002000300040005000600070000", 7), "[1:2:3:4:5:6:7:0]:7"},
      {V6("00000001000000000000000000000000", 8), "[0:1::]:8"},
      {V6("000a00b00c00d000000000000000000f", 9), "[a:b0:c00:d000::f]:9"},
      // RFC 5952 s.5: IPv4-mapped addresses end in dotted decimal.
      {V6("00000000000000000000ffffc0000201", 10), "[::ffff:192.0.2.1]:10"},
      {Domain("example.com", 80), "example.com:80"},
      {Domain("2001:db8::2", 80), "[2001:db8::2]:80"},
      {Domain("a", 0), "a:0"},
      {Domain("xn--bcher-kva.example", 443), "xn--bcher-kva.example:443"},
      // Names from the network cannot forge log lines or terminal escapes.
      {Domain("evil\nreply=00", 80), "evil\\x0areply=00:80"},
      {Domain("a\x1b[31mb", 1), "a\\x1b[31mb:1"},
      {Domain("caf\xc3\xa9", 1), "caf\\xc3\\xa9:1"},
      {Domain("back\\slash", 1), "back\\x5cslash:1"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.address.ToString(), c.expected);
  }
}

// The one escaping rule of the logs, on every byte value (net::LogSafe forwards to it).
TEST(EscapeForLogTest, EveryByte) {
  for (int b = 0; b < 256; ++b) {
    std::string in(1, static_cast<char>(b));
    std::string out = EscapeForLog(in);
    if (b < 0x20 || b >= 0x7f || b == '\\') {
      EXPECT_EQ(out.size(), 4u) << b;
      EXPECT_EQ(out.substr(0, 2), "\\x") << b;
    } else {
      EXPECT_EQ(out, in) << b;
    }
  }
  EXPECT_EQ(EscapeForLog(std::string_view("a\0b\r\n", 5)), "a\\x00b\\x0d\\x0a");
  EXPECT_EQ(EscapeForLog("user name:pw"), "user name:pw");
}

// The hand-written RFC 5952 formatter agrees with glibc's inet_ntop wherever glibc does not
// use its deprecated IPv4-compatible "::a.b.c.d" form.
TEST(AddressToStringTest, AgreesWithInetNtop) {
  std::mt19937 rng(12345);
  int compared = 0;
  for (int i = 0; i < 20000; ++i) {
    Ipv6 ip{};
    for (int group = 0; group < 8; ++group) {
      // Mostly zero groups, so that runs of every length and position show up.
      std::uint32_t r = rng();
      std::uint16_t value = (r & 3) != 0 ? 0 : static_cast<std::uint16_t>(r >> 16);
      if ((r & 0xc) == 0xc) value = static_cast<std::uint16_t>(value & 0x000f);
      ip[2 * group] = static_cast<std::uint8_t>(value >> 8);
      ip[2 * group + 1] = static_cast<std::uint8_t>(value & 0xff);
    }
    bool first_96_bits_zero = true;
    for (int b = 0; b < 12; ++b) first_96_bits_zero = first_96_bits_zero && ip[b] == 0;
    if (first_96_bits_zero) continue;  // glibc prints ::a.b.c.d here

    char text[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET6, ip.data(), text, sizeof(text)), nullptr);
    Address address{ip, 1};
    EXPECT_EQ(address.ToString(), std::string("[") + text + "]:1");
    ++compared;
  }
  EXPECT_GT(compared, 10000);
}

// The one host-name rule of the resolver and the rules file.
TEST(IsHostNameTest, Table) {
  const std::string longest_label(63, 'a');
  const std::string longest_name = longest_label + "." + longest_label + "." + longest_label + "." +
                                   std::string(61, 'b');  // 253 characters
  struct Case {
    std::string name;
    bool valid;
  } cases[] = {
      {"example.com", true},
      {"a", true},
      {"xn--bcher-kva.example", true},
      {"under_score.example", true},
      {"1.2.3.4", true},  // a name of digits: the caller tries an address first
      {longest_label + ".example", true},
      {longest_name, true},
      {"", false},
      {"example.com.", false},  // a final dot is the caller's to drop
      {".example.com", false},
      {"a..b", false},
      {longest_label + "a.example", false},  // a label of 64
      {longest_name + "b", false},           // 254 characters
      {"exa mple.com", false},
      {"exa*mple.com", false},
      {std::string("a\0b", 3), false},
      {"caf\xc3\xa9.example", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(IsHostName(c.name), c.valid) << EscapeForLog(c.name);
  }
}

}  // namespace
}  // namespace socks5::protocol
