#include "protocol/sniff.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"

namespace socks5::protocol {
namespace {

// Request-line methods (RFC 9110 s.9.1, RFC 5789), each with the SP that ends it.
constexpr std::array<std::string_view, 9> kMethods = {
    "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "CONNECT ", "OPTIONS ", "TRACE ", "PATCH "};

// A PROXY protocol header (protocol/proxy_header.h) from an address not in
// --proxy_protocol_from: v1's "PROXY " or the first 8 bytes of v2's 12-byte signature.
constexpr std::array<std::string_view, 2> kProxyPrefixes = {"PROXY ",
                                                            std::string_view("\r\n\r\n\0\r\nQ", 8)};

constexpr std::uint8_t kTlsHandshake = 0x16;  // ContentType handshake (RFC 8446 s.5.1)
constexpr std::uint8_t kTlsMajor = 0x03;      // ProtocolVersion major of every TLS and SSL 3

bool StartsLike(std::span<const std::uint8_t> in, std::string_view method) {
  const std::size_t n = std::min(in.size(), method.size());
  return std::equal(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n), method.begin(),
                    [](std::uint8_t a, char b) { return a == static_cast<std::uint8_t>(b); });
}

ParseResult<Sniffed> Decided(Sniffed s, std::size_t consumed) {
  ParseResult<Sniffed> r;
  r.status = ParseStatus::kComplete;
  r.value = s;
  r.consumed = consumed;
  return r;
}

}  // namespace

const char* SniffedName(Sniffed s) {
  switch (s) {
    case Sniffed::kUnknown:
      return "unknown";
    case Sniffed::kHttp:
      return "http";
    case Sniffed::kTls:
      return "tls";
    case Sniffed::kProxyProtocol:
      return "proxy_protocol";
  }
  return "unknown";
}

ParseResult<Sniffed> Sniff(std::span<const std::uint8_t> in) {
  if (in.empty()) return {};
  if (in[0] == kTlsHandshake) {
    if (in.size() < 2) return {};
    return Decided(in[1] == kTlsMajor ? Sniffed::kTls : Sniffed::kUnknown, 2);
  }
  // Grow the prefix one byte at a time: decided at the first byte that fits no method, so a
  // client that sends "G" and waits is decided by the deadline, and one that sends "X" at once.
  const std::size_t limit = std::min(in.size(), kMaxSniffBytes);
  for (std::size_t n = 1; n <= limit; ++n) {
    std::span<const std::uint8_t> prefix = in.first(n);
    bool fits = false;
    for (std::string_view method : kMethods) {
      if (!StartsLike(prefix, method)) continue;
      if (n == method.size()) return Decided(Sniffed::kHttp, n);
      fits = true;
    }
    for (std::string_view proxy : kProxyPrefixes) {
      if (!StartsLike(prefix, proxy)) continue;
      if (n == proxy.size()) return Decided(Sniffed::kProxyProtocol, n);
      fits = true;
    }
    if (!fits) return Decided(Sniffed::kUnknown, n);
  }
  return {};  // a strict prefix of a method: read more
}

std::string HttpNotSocksResponse(std::string_view host_port) {
  std::string body =
      "This is a SOCKS5 proxy, not an HTTP proxy: configure your client with the proxy socks5h://";
  body.append(host_port).append("\n");
  return absl::StrCat(
      "HTTP/1.1 400 Bad Request\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: ",
      body.size(),
      "\r\n"
      "Connection: close\r\n"
      "\r\n",
      body);
}

}  // namespace socks5::protocol
