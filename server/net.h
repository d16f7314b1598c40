// The one place where protocol addresses meet asio::ip, and the one table that maps I/O and
// resolver errors to SOCKS5 reply codes.
#ifndef SOCKS5_SERVER_NET_H_
#define SOCKS5_SERVER_NET_H_

#include <system_error>
#include <vector>

#include "asio.hpp"
#include "protocol/address.h"
#include "protocol/messages.h"

namespace socks5::server {

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes plain IPv4.
asio::ip::address Unmapped(const asio::ip::address& address);

// The IP of a numeric protocol address; must not be called with a domain.
asio::ip::address ToAsioAddress(const protocol::Address& address);
protocol::Address FromAsio(const asio::ip::address& address, std::uint16_t port);
template <typename Endpoint>
protocol::Address FromEndpoint(const Endpoint& endpoint) {
  return FromAsio(endpoint.address(), endpoint.port());
}

// REP for a failed resolve or connect (CONFORMANCE.md C4-C7): refused 05, host unreachable or
// name not found 04, network unreachable 03, timeout 06, not permitted 02, anything else 01.
protocol::Reply ReplyForError(const std::error_code& error);

// Orders addresses for connection attempts as RFC 8305 s.4 asks: families interleaved, starting
// with the family of the first address the resolver returned.
std::vector<asio::ip::address> InterleaveFamilies(const std::vector<asio::ip::address>& addresses);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_NET_H_
