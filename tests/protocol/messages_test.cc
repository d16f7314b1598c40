#include "protocol/messages.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gmock/gmock.h"
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
using ::socks5::protocol::testing::Encodes;
using ::socks5::protocol::testing::Hex;
using ::socks5::protocol::testing::HexOf;
using ::socks5::protocol::testing::ParseCase;
using ::socks5::protocol::testing::Rejected;
using ::socks5::protocol::testing::V4;
using ::socks5::protocol::testing::V6;

constexpr auto kComplete = ParseStatus::kComplete;
constexpr auto kInvalid = ParseStatus::kInvalid;

const std::string k255(255, 'x');
const std::string k255Hex = HexOf(k255);
const std::string kV6Bytes = "20010db8000000000000000000000001";  // 2001:db8::1

// ---- Greeting (docs/conformance.md A) ----

using GreetingCase = ParseCase<Greeting>;

std::vector<std::uint8_t> AllMethods() {
  std::vector<std::uint8_t> methods;
  for (int m = 0; m < 255; ++m) methods.push_back(static_cast<std::uint8_t>(m));
  return methods;
}

std::string AllMethodsHex() {
  std::string hex = "05 ff";
  for (int m = 0; m < 255; ++m) hex += " " + HexOf(std::string(1, static_cast<char>(m)));
  return hex;
}

const GreetingCase kGreetingCases[] = {
    {"A1_NoAuth", "05 01 00", Greeting{{0x00}}},
    {"A2_NoAuthAndUserPass", "05 02 00 02", Greeting{{0x00, 0x02}}},
    {"A3_NothingAcceptable", "05 01 80", Greeting{{0x80}}},
    {"A4_ZeroMethods", "05 00", Greeting{{}}},
    {"UserPassOnly", "05 01 02", Greeting{{0x02}}},
    {"DuplicateMethods", "05 03 02 02 00", Greeting{{0x02, 0x02, 0x00}}},
    {"All255Methods", AllMethodsHex(), Greeting{AllMethods()}},
    {"A5_Socks4Connect", "04 01 00 50 7f 00 00 01 00", Rejected{std::nullopt, 1}},
    {"Version0", "00 01 00", Rejected{std::nullopt, 1}},
    {"Version4AloneIsEnough", "04", Rejected{std::nullopt, 1}},
    {"HttpRequest", HexOf("GET / HTTP/1.1\r\n"), Rejected{std::nullopt, 1}},
    {"TlsClientHello", "16 03 01 00 a5", Rejected{std::nullopt, 1}},
    {"Empty", ""},
    {"MethodsMissing", "05 03 00 02"},
};

class GreetingTableTest : public ::testing::TestWithParam<GreetingCase> {};

TEST_P(GreetingTableTest, Parses) { CheckParseCase<Greeting>(&ParseGreeting, GetParam()); }

class GreetingEncodeTest : public ::testing::TestWithParam<ParseCase<Greeting>> {};

TEST_P(GreetingEncodeTest, EncodesToTheTableBytes) {
  const GreetingCase& c = GetParam();
  CheckEncoder([&](std::span<std::uint8_t> out) { return EncodeGreeting(c.value, out); },
               Hex(c.hex));
}

INSTANTIATE_TEST_SUITE_P(Greetings, GreetingTableTest, ::testing::ValuesIn(kGreetingCases),
                         CaseName<Greeting>);
INSTANTIATE_TEST_SUITE_P(Greetings, GreetingEncodeTest,
                         ::testing::ValuesIn(EncodableCases(kGreetingCases)), CaseName<Greeting>);

TEST(GreetingTest, EncodeRefusesMoreThan255Methods) {
  Greeting too_many{std::vector<std::uint8_t>(256, 0x00)};
  ByteVector out(1024);
  EXPECT_EQ(EncodeGreeting(too_many, out), 0u);
}

struct ChooseMethodCase {
  std::vector<std::uint8_t> offered;
  AuthPolicy policy;
  std::uint8_t chosen;
};

TEST(ChooseMethodTest, Table) {
  constexpr auto kUsers = AuthPolicy::kUsersFile;
  constexpr auto kNoUsers = AuthPolicy::kNoUsers;
  constexpr auto kAny = AuthPolicy::kAnyCredentials;
  const ChooseMethodCase cases[] = {
      {{0x00}, kNoUsers, kMethodNoAuth},            // A1
      {{0x00, 0x02}, kUsers, kMethodUserPass},      // A2
      {{0x02, 0x00}, kUsers, kMethodUserPass},      // order does not matter
      {{0x00, 0x02}, kNoUsers, kMethodNoAuth},      // no users: no-auth even if both offered
      {{0x02, 0x00}, kNoUsers, kMethodNoAuth},      // ... in either order
      {{0x80}, kNoUsers, kMethodNoAcceptable},      // A3
      {{0x80}, kUsers, kMethodNoAcceptable},        // A3
      {{0x80}, kAny, kMethodNoAcceptable},          // A3
      {{}, kNoUsers, kMethodNoAcceptable},          // A4
      {{}, kUsers, kMethodNoAcceptable},            // A4
      {{}, kAny, kMethodNoAcceptable},              // A4
      {{0x00}, kUsers, kMethodNoAcceptable},        // A9: no-auth offered, users file configured
      {{0x00, 0x01}, kUsers, kMethodNoAcceptable},  // GSSAPI is not supported
      {{0x01}, kNoUsers, kMethodNoAcceptable},      // GSSAPI alone
      {{0xff}, kNoUsers, kMethodNoAcceptable},
      // Method 02 without a users file (Tor clients, torsocks -i): any credentials.
      {{0x02}, kNoUsers, kMethodUserPass},        // the only method offered
      {{0x02, 0x02}, kNoUsers, kMethodUserPass},  // offered twice, still the only one
      {{0x01, 0x02}, kNoUsers, kMethodUserPass},  // beside one we do not speak
      {{0x02}, kAny, kMethodUserPass},
      {{0x00, 0x02}, kAny, kMethodUserPass},  // --accept_any_credentials: 02 first
      {{0x02, 0x00}, kAny, kMethodUserPass},
      {{0x00}, kAny, kMethodNoAuth},  // no 02 offered: no-auth as usual
      {{0x00, 0x80}, kAny, kMethodNoAuth},
      {{0x02}, kUsers, kMethodUserPass},  // a users file: nothing changes
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ChooseMethod(Greeting{c.offered}, c.policy), c.chosen)
        << "offered " << ::testing::PrintToString(c.offered) << " policy "
        << static_cast<int>(c.policy);
  }
}

TEST(MethodSelectionTest, Encodes) {
  CheckEncoder([](std::span<std::uint8_t> out) { return EncodeMethodSelection(0x00, out); },
               Hex("05 00"));
  CheckEncoder([](std::span<std::uint8_t> out) { return EncodeMethodSelection(0x02, out); },
               Hex("05 02"));
  CheckEncoder(
      [](std::span<std::uint8_t> out) { return EncodeMethodSelection(kMethodNoAcceptable, out); },
      Hex("05 ff"));
  EXPECT_EQ(kMethodSelectionSize, 2u);
}

// ---- Username/password (docs/conformance.md B) ----

using UserPassCase = ParseCase<UserPass>;

const UserPassCase kUserPassCases[] = {
    {"B1_UserAndPassword", "01 03 " + HexOf("bob") + " 06 " + HexOf("secret"),
     UserPass{"bob", "secret"}},
    {"OneByteEach", "01 01 61 01 62", UserPass{"a", "b"}},
    {"B5_255ByteUserAndPassword", "01 ff " + k255Hex + " ff " + k255Hex, UserPass{k255, k255}},
    {"BinaryBytesKept", "01 02 00 ff 02 0a 0d", UserPass{std::string("\x00\xff", 2), "\n\r"}},
    {"B3_Version5", "05 03 " + HexOf("bob") + " 01 61", Rejected{Reply::kGeneralFailure, 1}},
    {"B3_Version0", "00", Rejected{Reply::kGeneralFailure, 1}},
    {"B4_UsernameLength0", "01 00 01 61", Rejected{Reply::kGeneralFailure, 2}},
    {"B4_PasswordLength0", "01 03 " + HexOf("bob") + " 00", Rejected{Reply::kGeneralFailure, 6}},
    {"B4_BothLengths0", "01 00 00", Rejected{Reply::kGeneralFailure, 2}},
    {"Empty", ""},
    {"PasswordMissing", "01 03 " + HexOf("bob") + " 06 " + HexOf("sec")},
};

class UserPassTableTest : public ::testing::TestWithParam<UserPassCase> {};

TEST_P(UserPassTableTest, Parses) { CheckParseCase<UserPass>(&ParseUserPass, GetParam()); }

class UserPassEncodeTest : public ::testing::TestWithParam<ParseCase<UserPass>> {};

TEST_P(UserPassEncodeTest, EncodesToTheTableBytes) {
  const UserPassCase& c = GetParam();
  CheckEncoder([&](std::span<std::uint8_t> out) { return EncodeUserPass(c.value, out); },
               Hex(c.hex));
}

INSTANTIATE_TEST_SUITE_P(UserPass, UserPassTableTest, ::testing::ValuesIn(kUserPassCases),
                         CaseName<UserPass>);
INSTANTIATE_TEST_SUITE_P(UserPass, UserPassEncodeTest,
                         ::testing::ValuesIn(EncodableCases(kUserPassCases)), CaseName<UserPass>);

TEST(UserPassTest, EncodeRefusesEmptyOrOverlongFields) {
  ByteVector out(1024);
  EXPECT_EQ(EncodeUserPass(UserPass{"", "p"}, out), 0u);
  EXPECT_EQ(EncodeUserPass(UserPass{"u", ""}, out), 0u);
  EXPECT_EQ(EncodeUserPass(UserPass{std::string(256, 'u'), "p"}, out), 0u);
  EXPECT_EQ(EncodeUserPass(UserPass{"u", std::string(256, 'p')}, out), 0u);
  EXPECT_EQ(EncodeUserPass(UserPass{k255, k255}, out), kMaxUserPassSize);
}

TEST(UserPassTest, RoundTripsEveryLength) {
  for (std::size_t len = 1; len <= 255; ++len) {
    UserPass up{std::string(len, 'u'), std::string(256 - len, 'p')};
    ByteVector buffer(kMaxUserPassSize);
    std::size_t written = EncodeUserPass(up, buffer);
    ASSERT_EQ(written, 3 + 256u);
    auto parsed = ParseUserPass(std::span<const std::uint8_t>(buffer).first(written));
    ASSERT_EQ(parsed.status, kComplete) << "length " << len;
    EXPECT_EQ(parsed.consumed, written);
    EXPECT_EQ(parsed.value, up);
  }
}

TEST(AuthStatusTest, Encodes) {
  CheckEncoder([](std::span<std::uint8_t> out) { return EncodeAuthStatus(true, out); },
               Hex("01 00"));
  CheckEncoder([](std::span<std::uint8_t> out) { return EncodeAuthStatus(false, out); },
               Hex("01 01"));
}

// ---- Addresses (shared by requests, replies and UDP headers) ----

using AddressCase = ParseCase<Address>;

const AddressCase kAddressCases[] = {
    {"IPv4", "01 7f 00 00 01 00 50", V4(127, 0, 0, 1, 80)},
    {"IPv4Unspecified", "01 00 00 00 00 00 00", V4(0, 0, 0, 0, 0)},
    {"IPv4MaxPort", "01 ff ff ff ff ff ff", V4(255, 255, 255, 255, 65535)},
    {"IPv6", "04 " + kV6Bytes + " 01 bb", V6(kV6Bytes, 443)},
    {"Domain", "03 0b " + HexOf("example.com") + " 00 50", Domain("example.com", 80)},
    {"Domain255", "03 ff " + k255Hex + " 12 34", Domain(k255, 0x1234)},
    {"Atyp0", "00 7f 00 00 01 00 50", Rejected{Reply::kAddressTypeNotSupported, 1}},
    {"Atyp2", "02", Rejected{Reply::kAddressTypeNotSupported, 1}},
    {"AtypFF", "ff", Rejected{Reply::kAddressTypeNotSupported, 1}},
    {"DomainLength0", "03 00 00 50", Rejected{Reply::kGeneralFailure, 2}},
    {"DomainWithNul", "03 03 61 00 62 00 50", Rejected{Reply::kGeneralFailure, 5}},
    {"DomainStartsWithNul", "03 02 00 61 00 50", Rejected{Reply::kGeneralFailure, 4}},
    {"DomainEndsWithNul", "03 02 61 00 00 50", Rejected{Reply::kGeneralFailure, 4}},
    {"PortMissing", "01 7f 00 00 01 00"},
};

class AddressTableTest : public ::testing::TestWithParam<AddressCase> {};

TEST_P(AddressTableTest, Parses) { CheckParseCase<Address>(&ParseAddress, GetParam()); }

class AddressEncodeTest : public ::testing::TestWithParam<ParseCase<Address>> {};

TEST_P(AddressEncodeTest, EncodesToTheTableBytes) {
  const AddressCase& c = GetParam();
  CheckEncoder([&](std::span<std::uint8_t> out) { return EncodeAddress(c.value, out); },
               Hex(c.hex));
  EXPECT_EQ(c.value.encoded_size(), Hex(c.hex).size());
}

INSTANTIATE_TEST_SUITE_P(Addresses, AddressTableTest, ::testing::ValuesIn(kAddressCases),
                         CaseName<Address>);
INSTANTIATE_TEST_SUITE_P(Addresses, AddressEncodeTest,
                         ::testing::ValuesIn(EncodableCases(kAddressCases)), CaseName<Address>);

TEST(AddressEncodeLimitsTest, RefusesDomainsTheWireCannotCarry) {
  ByteVector out(1024);
  EXPECT_EQ(EncodeAddress(Domain("", 80), out), 0u);
  EXPECT_EQ(EncodeAddress(Domain(std::string(256, 'a'), 80), out), 0u);
  EXPECT_EQ(EncodeRequest(Request{Command::kConnect, Domain("", 80)}, out), 0u);
  EXPECT_EQ(EncodeReply(Reply::kSucceeded, Domain(std::string(256, 'a'), 80), out), 0u);
}

TEST(AddressEncodeLimitsTest, WritesNulDomainsSoTestsCanSendThem) {
  ByteVector out(16);
  std::size_t written = EncodeAddress(Domain(std::string("a\0b", 3), 80), out);
  ASSERT_EQ(written, 7u);
  EXPECT_EQ(ByteVector(out.begin(), out.begin() + written), Hex("03 03 61 00 62 00 50"));
  auto parsed = ParseAddress(std::span<const std::uint8_t>(out).first(written));
  EXPECT_EQ(parsed.status, kInvalid);
  EXPECT_EQ(parsed.reply, Reply::kGeneralFailure);
}

TEST(AddressRoundTripTest, EveryDomainLengthAndPort) {
  std::vector<Address> addresses = {V4(0, 0, 0, 0, 0), V4(10, 1, 2, 3, 65535),
                                    V6("00000000000000000000000000000000", 0),
                                    V6("fe800000000000000000000000000001", 1)};
  for (std::size_t len = 1; len <= 255; ++len) {
    std::string name;
    for (std::size_t i = 0; i < len; ++i) name.push_back(static_cast<char>(1 + (i * 7) % 255));
    addresses.push_back(Domain(name, static_cast<std::uint16_t>(len * 257)));
  }
  for (const Address& a : addresses) {
    ByteVector buffer(kMaxRequestSize);
    std::size_t written = EncodeAddress(a, buffer);
    ASSERT_EQ(written, a.encoded_size()) << a.ToString();
    auto parsed = ParseAddress(std::span<const std::uint8_t>(buffer).first(written));
    ASSERT_EQ(parsed.status, kComplete) << a.ToString();
    EXPECT_EQ(parsed.consumed, written);
    EXPECT_EQ(parsed.value, a);
  }
}

// ---- Requests (docs/conformance.md C) ----

using RequestCase = ParseCase<Request>;

const RequestCase kRequestCases[] = {
    {"C1_ConnectIPv4", "05 01 00 01 7f 00 00 01 00 50",
     Request{Command::kConnect, V4(127, 0, 0, 1, 80)}},
    {"C2_ConnectIPv6", "05 01 00 04 " + kV6Bytes + " 01 bb",
     Request{Command::kConnect, V6(kV6Bytes, 443)}},
    {"C3_ConnectDomain", "05 01 00 03 0b " + HexOf("example.com") + " 00 50",
     Request{Command::kConnect, Domain("example.com", 80)}},
    {"ConnectDomain255", "05 01 00 03 ff " + k255Hex + " ff ff",
     Request{Command::kConnect, Domain(k255, 65535)}},
    {"BindUnspecified", "05 02 00 01 00 00 00 00 00 00",
     Request{Command::kBind, V4(0, 0, 0, 0, 0)}},
    {"UdpAssociateIPv6", "05 03 00 04 00000000000000000000000000000000 00 00",
     Request{Command::kUdpAssociate, V6("00000000000000000000000000000000", 0)}},
    {"C11_RsvNonZeroAccepted", "05 01 ff 01 0a 00 00 01 1f 90",
     Request{Command::kConnect, V4(10, 0, 0, 1, 8080)}, Encodes::kDifferentBytes},
    {"C11_Rsv01Accepted", "05 02 01 03 01 61 00 15", Request{Command::kBind, Domain("a", 21)},
     Encodes::kDifferentBytes},
    {"C12_Version4", "04 01 00 50 7f 00 00 01 00", Rejected{std::nullopt, 1}},
    {"C12_Version0", "00 01 00 01 7f 00 00 01 00 50", Rejected{std::nullopt, 1}},
    {"C8_Command0", "05 00 00 01 7f 00 00 01 00 50", Rejected{Reply::kCommandNotSupported, 2}},
    {"C8_Command4", "05 04 00 01 7f 00 00 01 00 50", Rejected{Reply::kCommandNotSupported, 2}},
    {"C8_CommandFF", "05 ff", Rejected{Reply::kCommandNotSupported, 2}},
    {"C9_Atyp0", "05 01 00 00 7f 00 00 01 00 50", Rejected{Reply::kAddressTypeNotSupported, 4}},
    {"C9_Atyp2", "05 01 00 02 7f 00 00 01 00 50", Rejected{Reply::kAddressTypeNotSupported, 4}},
    {"C9_Atyp5", "05 03 00 05", Rejected{Reply::kAddressTypeNotSupported, 4}},
    {"C10_DomainLength0", "05 01 00 03 00 00 50", Rejected{Reply::kGeneralFailure, 5}},
    {"C10_NulInDomain", "05 01 00 03 0c " + HexOf("example.com") + "00 00 50",
     Rejected{Reply::kGeneralFailure, 17}},
    {"C10_NulFirstInDomain", "05 01 00 03 03 00 61 62 00 50", Rejected{Reply::kGeneralFailure, 8}},
    // Tor's extensions (tor's doc/socks-extensions.txt; docs/conformance.md T).
    {"T1_ResolveName", "05 f0 00 03 08 " + HexOf("web.test") + " 00 00",
     Request{Command::kResolve, Domain("web.test", 0)}},
    {"T1_ResolveNamePort80", "05 f0 00 03 0b " + HexOf("example.com") + " 00 50",
     Request{Command::kResolve, Domain("example.com", 80)}},
    {"T1_ResolveIPv4Literal", "05 f0 00 01 c0 00 02 01 00 00",
     Request{Command::kResolve, V4(192, 0, 2, 1, 0)}},
    {"T2_ResolvePtrIPv4", "05 f1 00 01 c6 33 64 02 00 00",
     Request{Command::kResolvePtr, V4(198, 51, 100, 2, 0)}},
    {"T2_ResolvePtrIPv6", "05 f1 00 04 " + kV6Bytes + " 00 00",
     Request{Command::kResolvePtr, V6(kV6Bytes, 0)}},
    {"T2_ResolvePtrLiteralAsName", "05 f1 00 03 09 " + HexOf("192.0.2.1") + " 00 00",
     Request{Command::kResolvePtr, Domain("192.0.2.1", 0)}},
    {"T_ResolveBadAtyp", "05 f0 00 05", Rejected{Reply::kAddressTypeNotSupported, 4}},
    {"T_ResolveNulInName", "05 f0 00 03 02 61 00 00 00", Rejected{Reply::kGeneralFailure, 7}},
    {"T_CommandF2", "05 f2 00 03 01 61 00 00", Rejected{Reply::kCommandNotSupported, 2}},
    {"T_CommandEF", "05 ef 00 03 01 61 00 00", Rejected{Reply::kCommandNotSupported, 2}},
    {"T_ResolvePortMissing", "05 f0 00 03 01 61 00"},
    // Validation order: VER before CMD before ATYP.
    {"BadVersionWinsOverBadCommand", "04 09 00 09", Rejected{std::nullopt, 1}},
    {"BadCommandWinsOverBadAtyp", "05 09 00 09", Rejected{Reply::kCommandNotSupported, 2}},
    {"Empty", ""},
    {"PortMissing", "05 01 00 03 01 61 00"},
};

class RequestTableTest : public ::testing::TestWithParam<RequestCase> {};

TEST_P(RequestTableTest, Parses) { CheckParseCase<Request>(&ParseRequest, GetParam()); }

class RequestEncodeTest : public ::testing::TestWithParam<ParseCase<Request>> {};

TEST_P(RequestEncodeTest, EncodesToTheTableBytes) {
  const RequestCase& c = GetParam();
  CheckEncoder([&](std::span<std::uint8_t> out) { return EncodeRequest(c.value, out); },
               Hex(c.hex));
}

INSTANTIATE_TEST_SUITE_P(Requests, RequestTableTest, ::testing::ValuesIn(kRequestCases),
                         CaseName<Request>);
INSTANTIATE_TEST_SUITE_P(Requests, RequestEncodeTest,
                         ::testing::ValuesIn(EncodableCases(kRequestCases)), CaseName<Request>);

TEST(RequestTest, RoundTripsEveryCommandAndAddressType) {
  const Command commands[] = {Command::kConnect, Command::kBind, Command::kUdpAssociate,
                              Command::kResolve, Command::kResolvePtr};
  const Address addresses[] = {V4(192, 0, 2, 1, 1), V6(kV6Bytes, 2), Domain("a.example", 3),
                               Domain(k255, 4)};
  for (Command command : commands) {
    for (const Address& address : addresses) {
      Request request{command, address};
      ByteVector buffer(kMaxRequestSize);
      std::size_t written = EncodeRequest(request, buffer);
      ASSERT_EQ(written, 3 + address.encoded_size());
      auto parsed = ParseRequest(std::span<const std::uint8_t>(buffer).first(written));
      ASSERT_EQ(parsed.status, kComplete);
      EXPECT_EQ(parsed.consumed, written);
      EXPECT_EQ(parsed.value, request);
    }
  }
}

TEST(RequestTest, PipelinedRequestAfterGreetingIsLeftForTheNextParse) {
  // docs/conformance.md A7: greeting and request arrive in one segment.
  ByteVector bytes = Hex("05 01 00  05 01 00 01 7f 00 00 01 00 50");
  auto greeting = ParseGreeting(bytes);
  ASSERT_EQ(greeting.status, kComplete);
  ASSERT_EQ(greeting.consumed, 3u);
  auto request = ParseRequest(std::span<const std::uint8_t>(bytes).subspan(greeting.consumed));
  ASSERT_EQ(request.status, kComplete);
  EXPECT_EQ(request.consumed, 10u);
  EXPECT_EQ(request.value, (Request{Command::kConnect, V4(127, 0, 0, 1, 80)}));
}

TEST(CommandNameTest, NamesTheAccessLogUses) {
  EXPECT_STREQ(CommandName(Command::kConnect), "CONNECT");
  EXPECT_STREQ(CommandName(Command::kBind), "BIND");
  EXPECT_STREQ(CommandName(Command::kUdpAssociate), "UDP_ASSOCIATE");
  EXPECT_STREQ(CommandName(Command::kResolve), "RESOLVE");
  EXPECT_STREQ(CommandName(Command::kResolvePtr), "RESOLVE_PTR");
}

TEST(PtrQueryAddressTest, Table) {
  struct Case {
    Address destination;
    std::optional<Address> query;
  };
  const Case cases[] = {
      {V4(198, 51, 100, 2, 0), V4(198, 51, 100, 2, 0)},
      {V6(kV6Bytes, 0), V6(kV6Bytes, 0)},
      {V6("00000000000000000000ffffc6336402", 7), V4(198, 51, 100, 2, 7)},  // mapped: IPv4
      {Domain("192.0.2.1", 0), V4(192, 0, 2, 1, 0)},  // a literal spelled as a name
      {Domain("2001:db8::1", 0), V6(kV6Bytes, 0)},
      {Domain("::ffff:198.51.100.2", 0), V4(198, 51, 100, 2, 0)},
      {Domain("web.test", 0), std::nullopt},  // no address to look up
      {Domain("192.0.2.1.", 0), std::nullopt},
      {Domain("192.0.2", 0), std::nullopt},
      {Domain(" 192.0.2.1", 0), std::nullopt},
      {Domain("[2001:db8::1]", 0), std::nullopt},
      {Domain(std::string(46, '1'), 0), std::nullopt},
      {Domain(k255, 0), std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(PtrQueryAddress(c.destination), c.query) << c.destination.ToString();
  }
}

// A RESOLVE_PTR answer: the name in BND.ADDR (ATYP 03), port 0 (docs/conformance.md T2).
TEST(ReplyTest, ResolvePtrAnswerIsADomainAddress) {
  CheckEncoder(
      [](std::span<std::uint8_t> out) {
        return EncodeReply(Reply::kSucceeded, Domain("ptr4.test", 0), out);
      },
      Hex("05 00 00 03 09 " + HexOf("ptr4.test") + " 00 00"));
}

// ---- Replies ----

using ReplyCase = ParseCase<ReplyMessage>;

const ReplyCase kReplyCases[] = {
    {"SucceededIPv4", "05 00 00 01 7f 00 00 01 c3 50",
     ReplyMessage{Reply::kSucceeded, V4(127, 0, 0, 1, 50000)}},
    {"NullAddressFailure", "05 01 00 01 00 00 00 00 00 00",
     ReplyMessage{Reply::kGeneralFailure, NullAddress()}},
    {"NotAllowed", "05 02 00 01 00 00 00 00 00 00",
     ReplyMessage{Reply::kNotAllowed, NullAddress()}},
    {"HostUnreachableIPv6", "05 04 00 04 " + kV6Bytes + " 00 00",
     ReplyMessage{Reply::kHostUnreachable, V6(kV6Bytes, 0)}},
    {"AddressTypeNotSupportedDomain", "05 08 00 03 01 61 00 01",
     ReplyMessage{Reply::kAddressTypeNotSupported, Domain("a", 1)}},
    {"RsvNonZero", "05 00 07 01 01 02 03 04 00 05",
     ReplyMessage{Reply::kSucceeded, V4(1, 2, 3, 4, 5)}, Encodes::kDifferentBytes},
    {"Version4", "04 5a 00 00 00 00 00 00", Rejected{std::nullopt, 1}},
    {"UnknownReplyCode", "05 09 00 01 00 00 00 00 00 00", Rejected{std::nullopt, 2}},
    {"UnknownAtyp", "05 00 00 05", Rejected{std::nullopt, 4}},
    {"DomainLength0", "05 00 00 03 00", Rejected{std::nullopt, 5}},
    {"Empty", ""},
};

class ReplyTableTest : public ::testing::TestWithParam<ReplyCase> {};

TEST_P(ReplyTableTest, Parses) { CheckParseCase<ReplyMessage>(&ParseReply, GetParam()); }

class ReplyEncodeTest : public ::testing::TestWithParam<ParseCase<ReplyMessage>> {};

TEST_P(ReplyEncodeTest, EncodesToTheTableBytes) {
  const ReplyCase& c = GetParam();
  CheckEncoder(
      [&](std::span<std::uint8_t> out) { return EncodeReply(c.value.reply, c.value.bound, out); },
      Hex(c.hex));
}

INSTANTIATE_TEST_SUITE_P(Replies, ReplyTableTest, ::testing::ValuesIn(kReplyCases),
                         CaseName<ReplyMessage>);
INSTANTIATE_TEST_SUITE_P(Replies, ReplyEncodeTest, ::testing::ValuesIn(EncodableCases(kReplyCases)),
                         CaseName<ReplyMessage>);

TEST(ReplyTest, RoundTripsEveryReplyCode) {
  for (int code = 0; code <= 8; ++code) {
    ReplyMessage reply{static_cast<Reply>(code), V6(kV6Bytes, static_cast<std::uint16_t>(code))};
    ByteVector buffer(kMaxReplySize);
    std::size_t written = EncodeReply(reply.reply, reply.bound, buffer);
    ASSERT_EQ(written, 22u);
    auto parsed = ParseReply(std::span<const std::uint8_t>(buffer).first(written));
    ASSERT_EQ(parsed.status, kComplete);
    EXPECT_EQ(parsed.consumed, written);
    EXPECT_EQ(parsed.value, reply);
  }
}

TEST(ReplyTest, EarlyFailureReplyIsTheDocumentedTenBytes) {
  // common.md: "Before a valid reply address exists: 05 XX 00 01 00000000 0000".
  ByteVector buffer(kMaxReplySize);
  std::size_t written = EncodeReply(Reply::kCommandNotSupported, NullAddress(), buffer);
  EXPECT_EQ(ByteVector(buffer.begin(), buffer.begin() + written), Hex("05 07 00 01 00000000 0000"));
}

}  // namespace
}  // namespace socks5::protocol
