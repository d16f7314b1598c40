// BIND's pure decisions (RFC 1928 s.4, docs/conformance.md E): which incoming connection may
// complete a BIND, and which address the first reply advertises. No sockets, no clocks.
#ifndef SOCKS5_SESSION_BIND_POLICY_H_
#define SOCKS5_SESSION_BIND_POLICY_H_

#include <optional>
#include <vector>

#include "asio.hpp"

namespace socks5::session {

// May a connection from `peer` complete the BIND? `expected` holds DST.ADDR (all of its
// addresses when it was a domain); empty when DST.ADDR was all zeros, which accepts any peer.
// Only the IP is compared, never the port: RFC 1928 s.4 names the address, and an FTP server
// connects from its data port, not the port of the control connection the client knows.
// IPv4-mapped IPv6 (::ffff:a.b.c.d) equals the plain IPv4 address on either side.
bool BindPeerAllowed(const std::vector<asio::ip::address>& expected, const asio::ip::address& peer);

// The address the first reply gives the application server to connect to: --advertise_address
// when set, else the listener's own address (unmapped). Never unspecified (0.0.0.0 or ::):
// nullopt when there is no usable address, which the handler answers with a failure.
std::optional<asio::ip::address> BindReplyAddress(const std::optional<asio::ip::address>& advertise,
                                                  const asio::ip::address& listener);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_BIND_POLICY_H_
