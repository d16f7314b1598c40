// SOCKS5 addresses (RFC 1928 s.5): an IPv4 or IPv6 address or a domain name, plus a port.
// Pure value types: no Asio, no sockets. server/ converts to asio::ip in one place.
#ifndef SOCKS5_PROTOCOL_ADDRESS_H_
#define SOCKS5_PROTOCOL_ADDRESS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace socks5::protocol {

// ATYP values on the wire.
enum class AddressType : std::uint8_t { kIPv4 = 0x01, kDomain = 0x03, kIPv6 = 0x04 };

using Ipv4 = std::array<std::uint8_t, 4>;   // network byte order
using Ipv6 = std::array<std::uint8_t, 16>;  // network byte order

// A DST/BND address. A domain holds 1..255 bytes with no NUL (the parser enforces this).
struct Address {
  std::variant<Ipv4, Ipv6, std::string> host = Ipv4{};
  std::uint16_t port = 0;

  AddressType type() const;
  bool is_domain() const { return std::holds_alternative<std::string>(host); }
  // True for 0.0.0.0 and :: (any port), the "unspecified" DST of BIND and UDP ASSOCIATE.
  bool is_unspecified_ip() const;
  // Bytes the address takes on the wire: ATYP + DST.ADDR + DST.PORT.
  std::size_t encoded_size() const;
  // "1.2.3.4:80", "[::1]:80" (RFC 5952), "example.com:80" — for logs. Domain bytes below 0x20,
  // from 0x7f, and '\\' are written as \xNN so a hostile name cannot forge a log line.
  std::string ToString() const;

  friend bool operator==(const Address&, const Address&) = default;
};

// Bytes from the wire made safe for a log line: every byte below 0x20, from 0x7f, and '\\' as
// \xNN, the rest as is. The one escaping rule of the logs: Address::ToString applies it to names,
// net::LogSafe to everything else a client sent.
std::string EscapeForLog(std::string_view bytes);

// A name worth resolving or matching: 1..253 characters in dot-separated labels of 1..63
// letters, digits, '-' or '_' (no final dot: a caller that accepts "example.com." drops it first).
// The resolver (dns/) refuses anything else before a query; the rules parser (policy/) before a
// to= pattern.
bool IsHostName(std::string_view name);

// The address put in replies that have none to give: 0.0.0.0:0 (docs/conformance.md C).
inline Address NullAddress() { return Address{}; }

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_ADDRESS_H_
