// What a connection that is not SOCKS opened with (docs/conformance.md A5, A12, A13): an HTTP
// request line, a TLS record, a PROXY protocol header, or something else, decided from as few first
// bytes as possible. Pure: bytes in, a result out; the session logs it (proto=) and answers HTTP
// with HttpNotSocksResponse.
#ifndef SOCKS5_PROTOCOL_SNIFF_H_
#define SOCKS5_PROTOCOL_SNIFF_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocol/messages.h"

namespace socks5::protocol {

enum class Sniffed { kUnknown, kHttp, kTls, kProxyProtocol };
// "unknown", "http", "tls", "proxy_protocol": the access log's proto=
const char* SniffedName(Sniffed s);

// The longest input Sniff needs: "CONNECT " and "OPTIONS ".
inline constexpr std::size_t kMaxSniffBytes = 8;

// kNeedMore while `in` is empty, a strict prefix of an HTTP method and its space (RFC 9110 s.9
// methods and PATCH, case-sensitive), or the lone byte 16 (a TLS handshake record is 16 03 ..).
// Otherwise kComplete: kHttp for "METHOD ", kTls for 16 03, kProxyProtocol for "PROXY " or the
// first 8 bytes of the PROXY v2 signature (a balancer not in --proxy_protocol_from), kUnknown as
// soon as no prefix fits;
// `consumed` is the number of bytes that decided it (at most kMaxSniffBytes). Never kInvalid.
ParseResult<Sniffed> Sniff(std::span<const std::uint8_t> in);

// The whole answer to an HTTP request sent to the SOCKS port: `400 Bad Request`, Connection: close,
// and a one-line text body naming the proxy URL to configure, socks5h://`host_port` (what
// net::EndpointText gives: IPv6 in brackets).
std::string HttpNotSocksResponse(std::string_view host_port);

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_SNIFF_H_
