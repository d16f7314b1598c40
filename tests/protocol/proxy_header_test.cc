#include "protocol/proxy_header.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/address.h"
#include "tests/protocol/parse_cases.h"

namespace socks5::protocol {
namespace {

using ::socks5::protocol::testing::ByteVector;
using ::socks5::protocol::testing::Concat;
using ::socks5::protocol::testing::Hex;
using ::socks5::protocol::testing::HexOf;
using ::socks5::protocol::testing::V4;
using ::socks5::protocol::testing::V6;

const char* Name(ProxyParseStatus s) {
  switch (s) {
    case ProxyParseStatus::kNeedMore:
      return "kNeedMore";
    case ProxyParseStatus::kComplete:
      return "kComplete";
    case ProxyParseStatus::kInvalid:
      return "kInvalid";
  }
  return "?";
}

ProxyParse Parse(const ByteVector& bytes, std::size_t n) {
  return ParseProxyHeader(std::span<const std::uint8_t>(bytes).first(n));
}

const std::string kSig = "0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a ";
const std::string kV6a = "20010db8000000000000000000000001";  // 2001:db8::1
const std::string kV6b = "20010db8000000000000000000000002";  // 2001:db8::2
// The early SOCKS greeting a client may send in the same segment as the header.
const ByteVector kSocksGreeting = Hex("05 01 00");

ProxyHeader Proxied(int version, const Address& source, const Address& destination) {
  ProxyHeader h;
  h.version = version;
  h.source = source;
  h.destination = destination;
  return h;
}

ProxyHeader Unproxied(int version, bool local) {
  ProxyHeader h;
  h.version = version;
  h.local = local;
  return h;
}

struct Complete {
  std::string name;
  std::string hex;
  ProxyHeader expected;
};

void PrintTo(const Complete& c, std::ostream* os) { *os << c.name << " {" << c.hex << "}"; }

const std::string kWorstV1Unknown =
    "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    "65535 65535\r\n";  // the spec's longest line: 107 bytes
const std::string kWorstV1Tcp6 =
    "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
    "65535 65535\r\n";

const Complete kComplete[] = {
    {"V1Tcp4", HexOf("PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\r\n"),
     Proxied(1, V4(192, 0, 2, 1, 56324), V4(198, 51, 100, 1, 1080))},
    {"V1Tcp4Ports0And65535", HexOf("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"),
     Proxied(1, V4(0, 0, 0, 0, 0), V4(255, 255, 255, 255, 65535))},
    {"V1Tcp6", HexOf("PROXY TCP6 2001:db8::1 2001:db8::2 40000 1080\r\n"),
     Proxied(1, V6(kV6a, 40000), V6(kV6b, 1080))},
    {"V1Tcp6Mapped", HexOf("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n"),
     Proxied(1, V6("00000000000000000000ffffc0000201", 1),
             V6("00000000000000000000000000000001", 2))},
    {"V1Tcp6Worst", HexOf(kWorstV1Tcp6),
     Proxied(1, V6(std::string(32, 'f'), 65535), V6(std::string(32, 'f'), 65535))},
    {"V1Unknown", HexOf("PROXY UNKNOWN\r\n"), Unproxied(1, false)},
    {"V1UnknownWorst107", HexOf(kWorstV1Unknown), Unproxied(1, false)},
    {"V2Inet", kSig + "21 11 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38",
     Proxied(2, V4(192, 0, 2, 1, 56324), V4(198, 51, 100, 1, 1080))},
    {"V2Inet6", kSig + "21 21 00 24 " + kV6a + kV6b + " 9c 40 04 38",
     Proxied(2, V6(kV6a, 40000), V6(kV6b, 1080))},
    // TLVs (here PP2_TYPE_AUTHORITY "ex" and a NOOP) are inside the length and skipped.
    {"V2InetWithTlvs",
     kSig + "21 11 00 14 c0 00 02 01 c6 33 64 01 dc 04 04 38 02 00 02 65 78 04 00 00",
     Proxied(2, V4(192, 0, 2, 1, 56324), V4(198, 51, 100, 1, 1080))},
    {"V2Local", kSig + "20 00 00 00", Unproxied(2, true)},
    {"V2LocalWithAddresses", kSig + "20 11 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38",
     Unproxied(2, true)},
    {"V2ProxyUnspec", kSig + "21 00 00 00", Unproxied(2, false)},
    {"V2ProxyUnspecWithTlv", kSig + "21 00 00 03 04 00 00", Unproxied(2, false)},
    {"V2ProxyUnix", kSig + "21 31 00 d8 " + std::string(216 * 2, '0'), Unproxied(2, false)},
};

class ProxyCompleteTest : public ::testing::TestWithParam<Complete> {};

TEST_P(ProxyCompleteTest, ParsesAtEverySplit) {
  const Complete& c = GetParam();
  const ByteVector bytes = Hex(c.hex);
  ProxyParse whole = Parse(bytes, bytes.size());
  ASSERT_STREQ(Name(whole.status), "kComplete") << whole.error;
  EXPECT_EQ(whole.consumed, bytes.size());
  EXPECT_TRUE(whole.header == c.expected);
  // A header split at every byte: each strict prefix asks for more, never more than is missing
  // (so a reader that reads exactly `need` bytes never reads into the client's data).
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    ProxyParse part = Parse(bytes, n);
    EXPECT_STREQ(Name(part.status), "kNeedMore") << "prefix of " << n << " bytes: " << part.error;
    EXPECT_GE(part.need, 1u) << "prefix of " << n;
    EXPECT_LE(n + part.need, bytes.size()) << "prefix of " << n;
  }
  // Early SOCKS data after the header is not part of it.
  const ByteVector longer = Concat(bytes, kSocksGreeting);
  ProxyParse with_data = Parse(longer, longer.size());
  ASSERT_STREQ(Name(with_data.status), "kComplete") << with_data.error;
  EXPECT_EQ(with_data.consumed, bytes.size());
  EXPECT_TRUE(with_data.header == c.expected);
  EXPECT_EQ(
      ByteVector(longer.begin() + static_cast<std::ptrdiff_t>(with_data.consumed), longer.end()),
      kSocksGreeting);
}

INSTANTIATE_TEST_SUITE_P(Table, ProxyCompleteTest, ::testing::ValuesIn(kComplete),
                         [](const auto& info) { return info.param.name; });

constexpr std::size_t kAtEnd = 0;

struct Rejected {
  std::string name;
  std::string hex;
  std::size_t decided_at;  // every shorter prefix needs more; from here on it is invalid
                           // (kAtEnd: at the last byte, the LF that ends a v1 line)
  std::string error;       // a part of the reason
};

void PrintTo(const Rejected& c, std::ostream* os) { *os << c.name << " {" << c.hex << "}"; }

std::string V1Line(const std::string& line) { return HexOf(line); }

const Rejected kRejected[] = {
    {"SocksGreeting", "05 01 00", 1, "no PROXY protocol header"},
    {"Socks4Connect", "04 01 00 50 7f 00 00 01 00", 1, "no PROXY protocol header"},
    {"Http", HexOf("GET / HTTP/1.1\r\n"), 1, "no PROXY protocol header"},
    {"V1LowerCase", HexOf("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), 1, "no PROXY protocol header"},
    {"V1NoSpace", HexOf("PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n"), 6, "no PROXY protocol header"},
    {"V1BareLf", V1Line("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), kAtEnd, "CRLF"},
    {"V1Tcp5", V1Line("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n"), kAtEnd, "not TCP4"},
    {"V1FourFields", V1Line("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"), kAtEnd, "PROTO SRC DST"},
    {"V1DoubleSpace", V1Line("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"), kAtEnd, "PROTO SRC DST"},
    {"V1TrailingSpace", V1Line("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"), kAtEnd, "PROTO SRC DST"},
    {"V1Octet256", V1Line("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"), kAtEnd, "bad IPv4"},
    {"V1LeadingZeroOctet", V1Line("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"), kAtEnd, "bad IPv4"},
    {"V1Tcp4WithIpv6", V1Line("PROXY TCP4 ::1 ::2 1 2\r\n"), kAtEnd, "bad IPv4"},
    {"V1Tcp6WithIpv4", V1Line("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"), kAtEnd, "bad IPv6"},
    {"V1Tcp6TwoGaps", V1Line("PROXY TCP6 1::2::3 ::1 1 2\r\n"), kAtEnd, "bad IPv6"},
    {"V1Port65536", V1Line("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"), kAtEnd, "bad port"},
    {"V1PortLeadingZero", V1Line("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"), kAtEnd, "bad port"},
    {"V1PortSign", V1Line("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"), kAtEnd, "bad port"},
    {"V1PortEmpty", V1Line("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n"), kAtEnd, "bad port"},
    // No LF in the first 107 bytes: decided at byte 107, whatever follows.
    {"V1NoEndIn107", V1Line("PROXY UNKNOWN " + std::string(100, 'a')), 107, "longer than 107"},
    {"V1Line108", V1Line("PROXY UNKNOWN " + std::string(92, 'a') + "\r\n"), 107, "longer than 107"},
    {"V2SignatureByte5", "0d 0a 0d 0a 00 0e 0a 51 55 49 54 0a 21 11 00 00", 6,
     "no PROXY protocol header"},
    {"V2Version1", kSig + "11 11 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38", 13, "version"},
    {"V2Version3", kSig + "31 11 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38", 13, "version"},
    {"V2Command2", kSig + "22 11 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38", 13, "command"},
    {"V2Family4", kSig + "21 41 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38", 14, "family"},
    {"V2Transport3", kSig + "21 13 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38", 14, "family"},
    {"V2InetTooShort", kSig + "21 11 00 0b c0 00 02 01 c6 33 64 01 dc 04 04", 16, "too short"},
    {"V2Inet6TooShort", kSig + "21 21 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38", 16, "too short"},
    {"V2UnixTooShort", kSig + "21 31 00 24 " + kV6a + kV6b + " 9c 40 04 38", 16, "too short"},
    {"V2InetDgram", kSig + "21 12 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38", 16, "DGRAM"},
    // Over the limit: refused from the length field on, before the body is read.
    {"V2OverLimit", kSig + "21 11 ff ff c0 00 02 01 c6 33 64 01 dc 04 04 38", 16, "over the limit"},
    {"V2Just1025", kSig + "21 11 03 f1 c0 00 02 01 c6 33 64 01 dc 04 04 38", 16, "over the limit"},
};

class ProxyRejectedTest : public ::testing::TestWithParam<Rejected> {};

TEST_P(ProxyRejectedTest, DecidedAtTheDecidingByte) {
  const Rejected& c = GetParam();
  const ByteVector bytes = Hex(c.hex);
  const std::size_t decided_at = c.decided_at == kAtEnd ? bytes.size() : c.decided_at;
  ASSERT_LE(decided_at, bytes.size());
  for (std::size_t n = 0; n < decided_at; ++n) {
    EXPECT_STREQ(Name(Parse(bytes, n).status), "kNeedMore") << "prefix of " << n << " bytes";
  }
  for (std::size_t n = decided_at; n <= bytes.size(); ++n) {
    ProxyParse p = Parse(bytes, n);
    ASSERT_STREQ(Name(p.status), "kInvalid") << "prefix of " << n << " bytes";
    EXPECT_NE(p.error.find(c.error), std::string::npos) << p.error;
  }
  const ByteVector longer = Concat(bytes, kSocksGreeting);
  EXPECT_STREQ(Name(Parse(longer, longer.size()).status), "kInvalid");
}

INSTANTIATE_TEST_SUITE_P(Table, ProxyRejectedTest, ::testing::ValuesIn(kRejected),
                         [](const auto& info) { return info.param.name; });

TEST(ProxyHeaderTest, NeedCountsForV2) {
  const ByteVector bytes = Hex(kSig + "21 11 00 0c c0 00 02 01 c6 33 64 01 dc 04 04 38");
  EXPECT_EQ(Parse(bytes, 0).need, 15u);  // "PROXY UNKNOWN\r\n" is 15 bytes
  EXPECT_EQ(Parse(bytes, 5).need, 11u);
  EXPECT_EQ(Parse(bytes, 15).need, 1u);
  EXPECT_EQ(Parse(bytes, 16).need, 12u);  // the length field is in: exactly what is left
  EXPECT_EQ(Parse(bytes, 27).need, 1u);
}

TEST(ProxyHeaderTest, LimitIsTheCallers) {
  // 16 + 1008 = 1024 bytes: at the default limit, accepted; with a smaller limit, refused.
  ByteVector bytes = Hex(kSig + "21 11 03 f0 c0 00 02 01 c6 33 64 01 dc 04 04 38");
  bytes.resize(1024, 0);  // a NOOP-ish TLV area of zeros (type 0 is unassigned, skipped)
  EXPECT_STREQ(Name(ParseProxyHeader(bytes).status), "kComplete");
  EXPECT_EQ(ParseProxyHeader(bytes).consumed, 1024u);
  EXPECT_STREQ(Name(ParseProxyHeader(bytes, 512).status), "kInvalid");
  // The limit never goes below what AF_UNIX addresses need.
  const ByteVector unix_header = Hex(kSig + "21 31 00 d8 " + std::string(216 * 2, '0'));
  EXPECT_STREQ(Name(ParseProxyHeader(unix_header, 0).status), "kComplete");
}

TEST(ProxyHeaderTest, EncodersRoundTrip) {
  const Address s4 = V4(192, 0, 2, 1, 56324);
  const Address d4 = V4(198, 51, 100, 1, 1080);
  const Address s6 = V6(kV6a, 40000);
  const Address d6 = V6(kV6b, 1080);
  EXPECT_EQ(EncodeProxyV1(s4, d4), "PROXY TCP4 192.0.2.1 198.51.100.1 56324 1080\r\n");
  EXPECT_EQ(EncodeProxyV1(s6, d6), "PROXY TCP6 2001:db8::1 2001:db8::2 40000 1080\r\n");
  EXPECT_EQ(EncodeProxyV1(s4, d6), "");
  const std::string v2 = EncodeProxyV2(s6, d6);
  EXPECT_EQ(ByteVector(v2.begin(), v2.end()),
            Hex(kSig + "21 21 00 24 " + kV6a + kV6b + " 9c 40 04 38"));
  for (const std::string& header : {EncodeProxyV1(s6, d6), v2, EncodeProxyV2(s4, d4)}) {
    const ByteVector bytes(header.begin(), header.end());
    const ProxyParse p = ParseProxyHeader(bytes);
    ASSERT_STREQ(Name(p.status), "kComplete");
    EXPECT_EQ(p.consumed, bytes.size());
  }
}

}  // namespace
}  // namespace socks5::protocol
