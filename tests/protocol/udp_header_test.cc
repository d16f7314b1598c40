#include "protocol/udp_header.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/messages.h"
#include "tests/protocol/parse_cases.h"

namespace socks5::protocol {
namespace {

using ::socks5::protocol::testing::ByteVector;
using ::socks5::protocol::testing::CheckEncoder;
using ::socks5::protocol::testing::Concat;
using ::socks5::protocol::testing::Domain;
using ::socks5::protocol::testing::Hex;
using ::socks5::protocol::testing::HexOf;
using ::socks5::protocol::testing::V4;
using ::socks5::protocol::testing::V6;

const std::string kV6Bytes = "20010db8000000000000000000000001";  // 2001:db8::1

struct UdpCase {
  std::string name;
  std::string header_hex;             // the header alone
  std::string payload_hex;            // DATA
  std::optional<UdpHeader> expected;  // nullopt: malformed
  bool canonical = true;              // encoding `expected` gives `header_hex`
};

void PrintTo(const UdpCase& c, std::ostream* os) {
  *os << c.name << " {" << c.header_hex << " | " << c.payload_hex << "}";
}

const UdpCase kUdpCases[] = {
    {"F4_IPv4", "00 00 00 01 7f 00 00 01 00 35", HexOf("query"),
     UdpHeader{0, V4(127, 0, 0, 1, 53)}},
    {"F4_IPv6", "00 00 00 04 " + kV6Bytes + " 00 35", "01 02 03", UdpHeader{0, V6(kV6Bytes, 53)}},
    {"F4_Domain", "00 00 00 03 0b " + HexOf("example.com") + " 00 35", "ff",
     UdpHeader{0, Domain("example.com", 53)}},
    {"Domain255", "00 00 00 03 ff " + HexOf(std::string(255, 'd')) + " ff ff", "00",
     UdpHeader{0, Domain(std::string(255, 'd'), 65535)}},
    {"EmptyPayload", "00 00 00 01 0a 00 00 01 00 07", "", UdpHeader{0, V4(10, 0, 0, 1, 7)}},
    {"F6_FirstFragment", "00 00 01 01 0a 00 00 01 00 07", "aa", UdpHeader{1, V4(10, 0, 0, 1, 7)}},
    {"F6_LastFragment3", "00 00 83 01 0a 00 00 01 00 07", "bb",
     UdpHeader{0x83, V4(10, 0, 0, 1, 7)}},
    {"F6_Position127", "00 00 7f 01 0a 00 00 01 00 07", "cc", UdpHeader{0x7f, V4(10, 0, 0, 1, 7)}},
    // A header followed by a payload that itself looks like a header: the payload is opaque.
    {"PayloadLooksLikeHeader", "00 00 00 01 0a 00 00 01 00 07", "00 00 00 01 0a 00 00 01 00 07",
     UdpHeader{0, V4(10, 0, 0, 1, 7)}},
    {"F9_RsvNonZeroLow", "00 01 00 01 7f 00 00 01 00 35", "00", std::nullopt},
    {"F9_RsvNonZeroHigh", "80 00 00 01 7f 00 00 01 00 35", "00", std::nullopt},
    {"F9_UnknownAtyp0", "00 00 00 00 7f 00 00 01 00 35", "00", std::nullopt},
    {"F9_UnknownAtyp2", "00 00 00 02 7f 00 00 01 00 35", "00", std::nullopt},
    {"F9_UnknownAtyp5", "00 00 00 05 7f 00 00 01 00 35", "00", std::nullopt},
    {"DomainLength0", "00 00 00 03 00 00 35", "00", std::nullopt},
    {"NulInDomain", "00 00 00 03 03 61 00 62 00 35", "00", std::nullopt},
    {"F9_Short", "00 00 00 01 7f 00 00 01 00", "", std::nullopt},
    {"F9_ShortIPv6", "00 00 00 04 " + kV6Bytes, "", std::nullopt},
    {"F9_ShortDomain", "00 00 00 03 0b " + HexOf("example"), "", std::nullopt},
    {"Empty", "", "", std::nullopt},
    {"RsvOnly", "00 00", "", std::nullopt},
};

class UdpTableTest : public ::testing::TestWithParam<UdpCase> {};

TEST_P(UdpTableTest, Parses) {
  const UdpCase& c = GetParam();
  const ByteVector header = Hex(c.header_hex);
  const ByteVector payload = Hex(c.payload_hex);
  const ByteVector datagram = Concat(header, payload);

  auto parsed = ParseUdpDatagram(datagram);
  ASSERT_EQ(parsed.has_value(), c.expected.has_value());
  if (!c.expected) return;
  EXPECT_EQ(parsed->header, *c.expected);
  // The payload is the rest of the datagram, in place: not copied, not trimmed.
  EXPECT_EQ(parsed->payload.data(), datagram.data() + header.size());
  EXPECT_EQ(ByteVector(parsed->payload.begin(), parsed->payload.end()), payload);

  // Every strict prefix of the header is malformed: a datagram never "needs more".
  for (std::size_t n = 0; n < header.size(); ++n) {
    EXPECT_FALSE(ParseUdpDatagram(std::span<const std::uint8_t>(header).first(n)).has_value())
        << "prefix of " << n << " bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(Datagrams, UdpTableTest, ::testing::ValuesIn(kUdpCases),
                         [](const auto& info) { return info.param.name; });

std::vector<UdpCase> EncodableUdpCases() {
  std::vector<UdpCase> out;
  for (const auto& c : kUdpCases) {
    if (c.expected && c.canonical) out.push_back(c);
  }
  return out;
}

class UdpEncodeTest : public ::testing::TestWithParam<UdpCase> {};

TEST_P(UdpEncodeTest, EncodesToTheTableBytes) {
  const UdpCase& c = GetParam();
  CheckEncoder([&](std::span<std::uint8_t> out) { return EncodeUdpHeader(*c.expected, out); },
               Hex(c.header_hex));
}

INSTANTIATE_TEST_SUITE_P(Datagrams, UdpEncodeTest, ::testing::ValuesIn(EncodableUdpCases()),
                         [](const auto& info) { return info.param.name; });

TEST(UdpHeaderTest, RoundTripsEveryFragAndAddressType) {
  const Address addresses[] = {V4(192, 0, 2, 1, 1), V6(kV6Bytes, 2), Domain("a.example", 3),
                               Domain(std::string(255, 'z'), 4)};
  const ByteVector payload = Hex("de ad be ef");
  for (int frag = 0; frag <= 0xff; ++frag) {
    for (const Address& address : addresses) {
      UdpHeader header{static_cast<std::uint8_t>(frag), address};
      ByteVector buffer(kMaxUdpHeaderSize + payload.size());
      std::size_t written = EncodeUdpHeader(header, buffer);
      ASSERT_EQ(written, 3 + address.encoded_size());
      std::copy(payload.begin(), payload.end(), buffer.begin() + written);
      buffer.resize(written + payload.size());

      auto parsed = ParseUdpDatagram(buffer);
      ASSERT_TRUE(parsed.has_value());
      EXPECT_EQ(parsed->header, header);
      EXPECT_EQ(ByteVector(parsed->payload.begin(), parsed->payload.end()), payload);
    }
  }
}

TEST(UdpHeaderTest, LargestHeaderFitsTheDocumentedMaximum) {
  ByteVector buffer(kMaxUdpHeaderSize);
  EXPECT_EQ(EncodeUdpHeader(UdpHeader{0, Domain(std::string(255, 'z'), 4)}, buffer),
            kMaxUdpHeaderSize);
}

TEST(UdpHeaderTest, EncodeRefusesDomainsTheWireCannotCarry) {
  ByteVector buffer(1024);
  EXPECT_EQ(EncodeUdpHeader(UdpHeader{0, Domain("", 4)}, buffer), 0u);
  EXPECT_EQ(EncodeUdpHeader(UdpHeader{0, Domain(std::string(256, 'z'), 4)}, buffer), 0u);
}

TEST(UdpHeaderTest, LargeDatagramPayloadIsWhole) {
  // docs/conformance.md F11: a 65,000-byte datagram is not truncated by the parser.
  ByteVector datagram = Hex("00 00 00 01 7f 00 00 01 00 35");
  std::size_t header_size = datagram.size();
  datagram.resize(65000, 0x5a);
  auto parsed = ParseUdpDatagram(datagram);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->payload.size(), 65000 - header_size);
}

}  // namespace
}  // namespace socks5::protocol
