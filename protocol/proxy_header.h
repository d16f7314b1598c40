// HAProxy's PROXY protocol, versions 1 (text) and 2 (binary): the header a load balancer sends
// before the client's first byte, naming the client it accepted. Parser only; no I/O. Like the
// SOCKS parsers, it takes the bytes received so far: the caller re-parses after each read (a
// header split across reads) until kComplete or kInvalid; bytes after `consumed` are the client's
// own (early SOCKS data) and stay with the caller.
// Spec: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
#ifndef SOCKS5_PROTOCOL_PROXY_HEADER_H_
#define SOCKS5_PROTOCOL_PROXY_HEADER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "protocol/address.h"

namespace socks5::protocol {

// v1: at most 107 bytes including CRLF (the spec's bound). v2: 16 fixed bytes plus the length
// field (up to 65535); the addresses need at most 216 bytes (AF_UNIX), the rest is TLVs, which
// socks5d skips. `max_size` bounds a v2 header (and the memory a connection may make us hold):
// a longer one is refused. It must be at least kMinProxyMaxSize (AF_UNIX addresses, no TLVs).
inline constexpr std::size_t kMaxProxyV1Size = 107;
inline constexpr std::size_t kProxyV2FixedSize = 16;
inline constexpr std::size_t kMinProxyMaxSize = kProxyV2FixedSize + 216;
inline constexpr std::size_t kDefaultProxyMaxSize = 1024;

enum class ProxyParseStatus {
  kNeedMore,  // a strict prefix of a valid header: read at least `need` more bytes
  kComplete,  // `header` is set; the first `consumed` bytes are the header, the rest are not
  kInvalid,   // not a valid header (or over the limit); `error` says why, for the log line
};

struct ProxyHeader {
  int version = 0;     // 1 or 2
  bool local = false;  // v2 LOCAL command: the balancer's own connection (a health check)
  // The client the balancer accepted and the address it accepted on: set for v1 TCP4/TCP6 and
  // v2 PROXY over STREAM with AF_INET/AF_INET6. Unset for LOCAL, v1 UNKNOWN and v2 UNSPEC or
  // AF_UNIX: the connection is then served as the balancer's own.
  std::optional<Address> source;
  std::optional<Address> destination;
  friend bool operator==(const ProxyHeader&, const ProxyHeader&) = default;
};

struct ProxyParse {
  ProxyParseStatus status = ProxyParseStatus::kNeedMore;
  ProxyHeader header;        // kComplete
  std::size_t consumed = 0;  // kComplete: bytes of the header
  std::size_t need = 0;      // kNeedMore: at least this many more bytes (1 for v1: no length)
  std::string error;         // kInvalid: why, for the log line
};

ProxyParse ParseProxyHeader(std::span<const std::uint8_t> in,
                            std::size_t max_size = kDefaultProxyMaxSize);

// For tests and fuzzing: the v1 line / v2 header (PROXY command, STREAM) for a client and the
// address it reached; both must be IPv4 or both IPv6. Empty when the families differ or an
// address is a domain.
std::string EncodeProxyV1(const Address& source, const Address& destination);
std::string EncodeProxyV2(const Address& source, const Address& destination);

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_PROXY_HEADER_H_
