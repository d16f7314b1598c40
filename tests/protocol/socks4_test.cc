#include "protocol/socks4.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protocol/address.h"
#include "tests/protocol/parse_cases.h"

namespace socks5::protocol {
namespace {

using ::socks5::protocol::testing::ByteVector;
using ::socks5::protocol::testing::CaseName;
using ::socks5::protocol::testing::CheckEncoder;
using ::socks5::protocol::testing::CheckParseCase;
using ::socks5::protocol::testing::Domain;
using ::socks5::protocol::testing::EncodableCases;
using ::socks5::protocol::testing::Hex;
using ::socks5::protocol::testing::HexOf;
using ::socks5::protocol::testing::ParseCase;
using ::socks5::protocol::testing::Rejected;
using ::socks5::protocol::testing::V4;
using ::socks5::protocol::testing::V6;

const std::string k255(255, 'u');
const std::string k256(256, 'u');

Socks4Request V4Request(Command command, Address destination, std::string user = "") {
  return Socks4Request{Request{command, std::move(destination)}, std::move(user), false};
}

Socks4Request NameRequest(Command command, Address destination, std::string user = "") {
  return Socks4Request{Request{command, std::move(destination)}, std::move(user), true};
}

using Socks4Case = ParseCase<Socks4Request>;

// docs/conformance.md "SOCKS4 and SOCKS4a".
const Socks4Case kSocks4Cases[] = {
    {"ConnectNoUserId", "04 01 00 50 c6 33 64 02 00",
     V4Request(Command::kConnect, V4(198, 51, 100, 2, 80))},
    {"ConnectUserId", "04 01 1f 90 7f 00 00 01 " + HexOf("alice") + "00",
     V4Request(Command::kConnect, V4(127, 0, 0, 1, 8080), "alice")},
    {"Bind", "04 02 00 00 c6 33 64 02 00", V4Request(Command::kBind, V4(198, 51, 100, 2, 0))},
    {"BindAnyPeer", "04 02 00 00 00 00 00 00 00", V4Request(Command::kBind, V4(0, 0, 0, 0, 0))},
    {"Socks4aName", "04 01 00 50 00 00 00 01 00 " + HexOf("web.test") + "00",
     NameRequest(Command::kConnect, Domain("web.test", 80))},
    {"Socks4aNameAndUserId",
     "04 01 01 bb 00 00 00 ff " + HexOf("bob") + "00 " + HexOf("example.com") + "00",
     NameRequest(Command::kConnect, Domain("example.com", 443), "bob"),
     testing::Encodes::kDifferentBytes},
    {"Socks4aBind", "04 02 00 15 00 00 00 01 00 " + HexOf("ftp.test") + "00",
     NameRequest(Command::kBind, Domain("ftp.test", 21))},
    {"UserIdOf255Bytes", "04 01 00 50 0a 00 00 01 " + HexOf(k255) + "00",
     V4Request(Command::kConnect, V4(10, 0, 0, 1, 80), k255)},
    {"NameOf255Bytes", "04 01 00 50 00 00 00 01 00 " + HexOf(k255) + "00",
     NameRequest(Command::kConnect, Domain(k255, 80))},
    // USERID bytes are whatever the client sent (escaped when logged).
    {"UserIdControlBytes", "04 01 00 50 0a 00 00 01 0a 1b 5c 00",
     V4Request(Command::kConnect, V4(10, 0, 0, 1, 80), "\n\x1b\\")},
    // 0.0.0.0 is SOCKS4's, not 4a's (x must not be 0): the handlers refuse it as unspecified.
    {"ZeroAddressIsNotSocks4a", "04 01 00 50 00 00 00 00 00",
     V4Request(Command::kConnect, V4(0, 0, 0, 0, 80))},
    {"NotSocks4aWhenHighBytesSet", "04 01 00 50 00 00 01 01 00",
     V4Request(Command::kConnect, V4(0, 0, 1, 1, 80))},

    {"Empty", ""},
    {"HeaderOnly", "04 01 00 50 c6 33 64 02"},
    {"UserIdWithoutNul", "04 01 00 50 c6 33 64 02 " + HexOf("alice")},
    {"Socks4aWithoutName", "04 01 00 50 00 00 00 01 00"},
    {"Socks4aNameWithoutNul", "04 01 00 50 00 00 00 01 00 " + HexOf("web")},

    {"NotVersion4", "05 01 00", Rejected{std::nullopt, 1}},
    {"Command0", "04 00 00 50 c6 33 64 02 00", Rejected{Reply::kCommandNotSupported, 2}},
    {"Command3", "04 03 00 50 c6 33 64 02 00", Rejected{Reply::kCommandNotSupported, 2}},
    {"UserIdOver255Bytes", "04 01 00 50 0a 00 00 01 " + HexOf(k256) + "00",
     Rejected{Reply::kGeneralFailure, 8 + 256}},
    {"NameOver255Bytes", "04 01 00 50 00 00 00 01 00 " + HexOf(k256) + "00",
     Rejected{Reply::kGeneralFailure, 9 + 256}},
    {"EmptyName", "04 01 00 50 00 00 00 01 00 00", Rejected{Reply::kGeneralFailure, 10}},
};

class Socks4TableTest : public ::testing::TestWithParam<Socks4Case> {};

TEST_P(Socks4TableTest, Parses) { CheckParseCase<Socks4Request>(&ParseSocks4Request, GetParam()); }

class Socks4EncodeTest : public ::testing::TestWithParam<Socks4Case> {};

TEST_P(Socks4EncodeTest, EncodesToTheTableBytes) {
  const Socks4Case& c = GetParam();
  CheckEncoder([&](std::span<std::uint8_t> out) { return EncodeSocks4Request(c.value, out); },
               Hex(c.hex));
}

INSTANTIATE_TEST_SUITE_P(Socks4, Socks4TableTest, ::testing::ValuesIn(kSocks4Cases),
                         CaseName<Socks4Request>);
INSTANTIATE_TEST_SUITE_P(Socks4, Socks4EncodeTest,
                         ::testing::ValuesIn(EncodableCases(kSocks4Cases)),
                         CaseName<Socks4Request>);

TEST(Socks4RequestTest, RoundTrips) {
  const Socks4Request requests[] = {
      V4Request(Command::kConnect, V4(192, 0, 2, 1, 1), "x"),
      V4Request(Command::kBind, V4(192, 0, 2, 1, 2)),
      NameRequest(Command::kConnect, Domain("a.example", 3), k255),
      NameRequest(Command::kBind, Domain(k255, 4), k255),
  };
  for (const Socks4Request& request : requests) {
    ByteVector buffer(kMaxSocks4RequestSize);
    std::size_t written = EncodeSocks4Request(request, buffer);
    ASSERT_GT(written, 0u);
    auto parsed = ParseSocks4Request(std::span<const std::uint8_t>(buffer.data(), written));
    ASSERT_EQ(parsed.status, ParseStatus::kComplete);
    EXPECT_EQ(parsed.consumed, written);
    EXPECT_TRUE(parsed.value == request);
  }
}

TEST(Socks4RequestTest, LargestRequestIsTheBound) {
  ByteVector buffer(kMaxSocks4RequestSize);
  EXPECT_EQ(EncodeSocks4Request(NameRequest(Command::kConnect, Domain(k255, 1), k255), buffer),
            kMaxSocks4RequestSize);
}

TEST(Socks4RequestTest, EncoderRefusesWhatSocks4CannotCarry) {
  ByteVector out(kMaxSocks4RequestSize + 8);
  EXPECT_EQ(EncodeSocks4Request(V4Request(Command::kConnect, V6(std::string(32, '0'), 1)), out),
            0u);
  EXPECT_EQ(EncodeSocks4Request(V4Request(Command::kUdpAssociate, V4(1, 2, 3, 4, 1)), out), 0u);
  EXPECT_EQ(EncodeSocks4Request(V4Request(Command::kConnect, V4(1, 2, 3, 4, 1), k256), out), 0u);
  EXPECT_EQ(EncodeSocks4Request(
                V4Request(Command::kConnect, V4(1, 2, 3, 4, 1), std::string("a\0b", 3)), out),
            0u);
  EXPECT_EQ(EncodeSocks4Request(NameRequest(Command::kConnect, Domain("", 1)), out), 0u);
  EXPECT_EQ(EncodeSocks4Request(NameRequest(Command::kConnect, Domain(k256, 1)), out), 0u);
}

TEST(Socks4aMarkerTest, Table) {
  EXPECT_TRUE(IsSocks4aMarker(Ipv4{0, 0, 0, 1}));
  EXPECT_TRUE(IsSocks4aMarker(Ipv4{0, 0, 0, 255}));
  EXPECT_FALSE(IsSocks4aMarker(Ipv4{0, 0, 0, 0}));
  EXPECT_FALSE(IsSocks4aMarker(Ipv4{0, 0, 1, 1}));
  EXPECT_FALSE(IsSocks4aMarker(Ipv4{1, 0, 0, 1}));
}

struct ReplyRow {
  Reply reply;
  Address bound;
  std::string hex;
};

TEST(Socks4ReplyTest, Table) {
  const ReplyRow rows[] = {
      {Reply::kSucceeded, V4(198, 51, 100, 1, 40000), "00 5a 9c 40 c6 33 64 01"},
      {Reply::kSucceeded, NullAddress(), "00 5a 00 00 00 00 00 00"},
      // An IPv4-mapped address is the IPv4 address; a real IPv6 one cannot be carried.
      {Reply::kSucceeded, V6("00000000000000000000ffffc0000201", 21), "00 5a 00 15 c0 00 02 01"},
      {Reply::kSucceeded, V6("20010db8000000000000000000000001", 21), "00 5a 00 15 00 00 00 00"},
      {Reply::kSucceeded, Domain("web.test", 80), "00 5a 00 50 00 00 00 00"},
      {Reply::kGeneralFailure, NullAddress(), "00 5b 00 00 00 00 00 00"},
      {Reply::kNotAllowed, NullAddress(), "00 5b 00 00 00 00 00 00"},
      {Reply::kHostUnreachable, NullAddress(), "00 5b 00 00 00 00 00 00"},
      {Reply::kConnectionRefused, NullAddress(), "00 5b 00 00 00 00 00 00"},
      {Reply::kTtlExpired, V4(1, 2, 3, 4, 5), "00 5b 00 05 01 02 03 04"},
  };
  for (const ReplyRow& row : rows) {
    SCOPED_TRACE(row.hex);
    CheckEncoder(
        [&](std::span<std::uint8_t> out) { return EncodeSocks4Reply(row.reply, row.bound, out); },
        Hex(row.hex));
  }
}

TEST(Socks4ReplyTest, OnlySucceededIsGranted) {
  for (int code = 0; code <= 8; ++code) {
    EXPECT_EQ(Socks4ReplyCode(static_cast<Reply>(code)),
              code == 0 ? kSocks4Granted : kSocks4Rejected);
  }
}

}  // namespace
}  // namespace socks5::protocol
