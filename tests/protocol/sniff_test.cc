#include "protocol/sniff.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "tests/protocol/parse_cases.h"

namespace socks5::protocol {
namespace {

using testing::ByteVector;
using testing::Hex;
using testing::StatusName;

ByteVector Bytes(std::string_view s) { return ByteVector(s.begin(), s.end()); }

struct SniffCase {
  std::string name;
  ByteVector input;
  ParseStatus status;
  Sniffed kind = Sniffed::kUnknown;  // kComplete
  std::size_t decided_at = 0;        // kComplete: bytes that decided it
};

class SniffTest : public ::testing::TestWithParam<SniffCase> {};

TEST_P(SniffTest, Table) {
  const SniffCase& c = GetParam();
  ParseResult<Sniffed> result = Sniff(c.input);
  ASSERT_EQ(StatusName(result.status), StatusName(c.status));
  if (c.status != ParseStatus::kComplete) return;
  EXPECT_STREQ(SniffedName(result.value), SniffedName(c.kind));
  EXPECT_EQ(result.consumed, c.decided_at);
  EXPECT_LE(result.consumed, kMaxSniffBytes);
  // Decided no later than needed: every shorter prefix waits, and what follows changes nothing.
  for (std::size_t n = 0; n < c.decided_at; ++n) {
    EXPECT_EQ(StatusName(Sniff(std::span(c.input).first(n)).status),
              StatusName(ParseStatus::kNeedMore))
        << "prefix of " << n << " bytes";
  }
  ByteVector longer = c.input;
  for (int i = 0; i < 4096; ++i) longer.push_back('A');
  ParseResult<Sniffed> again = Sniff(longer);
  EXPECT_STREQ(SniffedName(again.value), SniffedName(c.kind));
  EXPECT_EQ(again.consumed, c.decided_at);
}

std::string CaseName(const ::testing::TestParamInfo<SniffCase>& info) { return info.param.name; }

constexpr ParseStatus kNeedMore = ParseStatus::kNeedMore;
constexpr ParseStatus kComplete = ParseStatus::kComplete;

INSTANTIATE_TEST_SUITE_P(
    Cases, SniffTest,
    ::testing::Values(
        SniffCase{"Empty", {}, kNeedMore}, SniffCase{"LoneG", Bytes("G"), kNeedMore},
        SniffCase{"GetWithoutSpace", Bytes("GET"), kNeedMore},
        SniffCase{"Get", Bytes("GET http://example.test/ HTTP/1.1\r\n"), kComplete, Sniffed::kHttp,
                  4},
        SniffCase{"Head", Bytes("HEAD / HTTP/1.0\r\n\r\n"), kComplete, Sniffed::kHttp, 5},
        SniffCase{"Post", Bytes("POST / HTTP/1.1"), kComplete, Sniffed::kHttp, 5},
        SniffCase{"Put", Bytes("PUT /x"), kComplete, Sniffed::kHttp, 4},
        SniffCase{"Patch", Bytes("PATCH /x"), kComplete, Sniffed::kHttp, 6},
        SniffCase{"PrefixOfPutAndPatchAndPost", Bytes("P"), kNeedMore},
        SniffCase{"Delete", Bytes("DELETE /x"), kComplete, Sniffed::kHttp, 7},
        SniffCase{"Connect", Bytes("CONNECT example.test:443 HTTP/1.1\r\n"), kComplete,
                  Sniffed::kHttp, 8},
        SniffCase{"ConnectWithoutSpace", Bytes("CONNECT"), kNeedMore},
        SniffCase{"Options", Bytes("OPTIONS * HTTP/1.1"), kComplete, Sniffed::kHttp, 8},
        SniffCase{"Trace", Bytes("TRACE / HTTP/1.1"), kComplete, Sniffed::kHttp, 6},
        // Methods are case-sensitive (RFC 9110 s.9.1): "get " is nothing we know.
        SniffCase{"LowercaseGet", Bytes("get / HTTP/1.1"), kComplete, Sniffed::kUnknown, 1},
        SniffCase{"GetFollowedByOther", Bytes("GETX / HTTP/1.1"), kComplete, Sniffed::kUnknown, 4},
        SniffCase{"DivergesInTheMiddle", Bytes("COFFEE"), kComplete, Sniffed::kUnknown, 3},
        // TLS: a handshake record, 16 03 01 (ClientHello of TLS 1.0-1.3), 16 03 00 (SSL 3).
        // A PROXY protocol header (from outside --proxy_protocol_from), v1 and v2.
        SniffCase{"ProxyV1", Bytes("PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n"), kComplete,
                  Sniffed::kProxyProtocol, 6},
        SniffCase{"ProxyV1WithoutSpace", Bytes("PROXY"), kNeedMore},
        SniffCase{"ProxyV1Lowercase", Bytes("proxy "), kComplete, Sniffed::kUnknown, 1},
        SniffCase{"ProxyV2", Hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 0c"), kComplete,
                  Sniffed::kProxyProtocol, 8},
        SniffCase{"ProxyV2Prefix", Hex("0d 0a 0d 0a 00 0d 0a"), kNeedMore},
        SniffCase{"CrLfThenOther", Hex("0d 0a 0d 0b"), kComplete, Sniffed::kUnknown, 4},
        SniffCase{"LoneTlsByte", Hex("16"), kNeedMore},
        SniffCase{"TlsClientHello", Hex("16 03 01 02 00 01 00 01 fc 03 03"), kComplete,
                  Sniffed::kTls, 2},
        SniffCase{"Ssl3", Hex("16 03 00 00 2f"), kComplete, Sniffed::kTls, 2},
        SniffCase{"Byte16NotTls", Hex("16 01 02"), kComplete, Sniffed::kUnknown, 2},
        SniffCase{"Socks4", Hex("04 01 00 50 7f 00 00 01 00"), kComplete, Sniffed::kUnknown, 1},
        SniffCase{"Zero", Hex("00"), kComplete, Sniffed::kUnknown, 1},
        SniffCase{"HighByte", Hex("ff ff"), kComplete, Sniffed::kUnknown, 1},
        SniffCase{"SshBanner", Bytes("SSH-2.0-OpenSSH_9.2\r\n"), kComplete, Sniffed::kUnknown, 1}),
    CaseName);

TEST(HttpNotSocksResponseTest, FullBytes) {
  const std::string body =
      "This is a SOCKS5 proxy, not an HTTP proxy: configure your client with the proxy "
      "socks5h://192.0.2.1:1080\n";
  EXPECT_EQ(HttpNotSocksResponse("192.0.2.1:1080"),
            "HTTP/1.1 400 Bad Request\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: " +
                std::to_string(body.size()) +
                "\r\n"
                "Connection: close\r\n"
                "\r\n" +
                body);
}

TEST(HttpNotSocksResponseTest, Ipv6InBracketsAndOneLineBody) {
  const std::string response = HttpNotSocksResponse("[2001:db8::1]:1080");
  const std::size_t body_at = response.find("\r\n\r\n") + 4;
  const std::string body = response.substr(body_at);
  EXPECT_NE(body.find("socks5h://[2001:db8::1]:1080"), std::string::npos);
  EXPECT_EQ(body.find('\n'), body.size() - 1);  // one line
  EXPECT_NE(response.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
}

}  // namespace
}  // namespace socks5::protocol
