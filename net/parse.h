// Start-up parsing of addresses: HOST:PORT, listen lists and CIDR prefixes. Pure functions over
// asio::ip's value types (no sockets); errors come back as absl::Status for the operator.
#ifndef SOCKS5_NET_PARSE_H_
#define SOCKS5_NET_PARSE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "asio.hpp"

namespace socks5::net {

// An IP prefix such as 10.0.0.0/8 or 2001:db8::/32 (asio::ip::network_v4/v6 does the matching).
struct Cidr {
  asio::ip::address network;
  int prefix_length = 0;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) is matched as the IPv4 address.
  bool Contains(const asio::ip::address& address) const;
};

// "127.0.0.1:1080", "[::1]:0". The host must be an IP literal.
absl::StatusOr<asio::ip::tcp::endpoint> ParseHostPort(absl::string_view text);
// Comma-separated ParseHostPort; at least one.
absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> ParseListenList(absl::string_view text);
// "10.0.0.0/8", "::1/128", or a bare IP (a host prefix).
absl::StatusOr<Cidr> ParseCidr(absl::string_view text);
// 127.0.0.0/8, ::1, and IPv4-mapped loopback.
bool IsLoopback(const asio::ip::address& address);

}  // namespace socks5::net

#endif  // SOCKS5_NET_PARSE_H_
