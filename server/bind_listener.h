// BIND's sockets: the address this host uses toward the application server, and the listening
// socket opened on it (in --bind_port_range when set). Synchronous: neither call blocks.
#ifndef SOCKS5_SERVER_BIND_LISTENER_H_
#define SOCKS5_SERVER_BIND_LISTENER_H_

#include <cstdint>
#include <system_error>
#include <utility>

#include "asio.hpp"
#include "udp/port_range.h"

namespace socks5::server {

// The source address the routing table picks for `destination`: the local address of a UDP
// socket connect()ed to it (no packet is sent). Port 0 is replaced by 9 (discard), since a
// UDP connect to port 0 is refused.
std::pair<std::error_code, asio::ip::address> LocalAddressToward(
    asio::io_context& io, const asio::ip::address& destination, std::uint16_t port);

// Opens `acceptor` (unopened, on the session's executor) listening on `address`: on a port from
// `picker`'s range, tried round-robin until one binds, or on an ephemeral port when `picker` is
// null. When every port of the range is in use, returns address_in_use.
std::error_code OpenBindListener(asio::ip::tcp::acceptor& acceptor,
                                 const asio::ip::address& address, udp::PortPicker* picker);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_BIND_LISTENER_H_
