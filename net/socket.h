// Opening sockets: listeners (the workers' and BIND's), UDP relay sockets, and the one loop that
// binds within a port range. Synchronous: none of these calls blocks.
#ifndef SOCKS5_NET_SOCKET_H_
#define SOCKS5_NET_SOCKET_H_

#include <cstdint>
#include <system_error>
#include <vector>

#include "absl/functional/function_ref.h"
#include "asio.hpp"
#include "net/port_range.h"
#include "net/result.h"

namespace socks5::net {

// The source address the routing table picks for `destination`: the local address of a UDP
// socket connect()ed to it (no packet is sent). Port 0 is replaced by 9 (discard), since a
// UDP connect to port 0 is refused.
// This host's interface addresses now (getifaddrs; IPv4-mapped ones unmapped); empty when the
// call fails. Read once at start-up for the own-endpoint rule (udp/destination.h).
std::vector<asio::ip::address> LocalAddresses();

Result<asio::ip::address> LocalAddressToward(asio::io_context& io,
                                             const asio::ip::address& destination,
                                             std::uint16_t port);

// The one "bind within a port range" loop. Without a picker, binds port 0 (ephemeral). With one,
// offers `bind_port` the range's ports round-robin until one binds. Only "address in use" means
// "try the next port": any other error would repeat on every port and is returned at once. When
// every port of the range is in use, returns address_in_use. `bind_port` must leave its socket
// closed when it fails.
std::error_code BindWithinRange(PortPicker* picker,
                                absl::FunctionRef<std::error_code(std::uint16_t)> bind_port);

struct ListenOptions {
  int backlog = asio::socket_base::max_listen_connections;
  bool reuse_port = false;  // SO_REUSEPORT: several workers listen on one port
};

// Opens `acceptor` (unopened) listening on `at`: SO_REUSEADDR (a finished connection's TIME_WAIT
// does not block the port; Linux still refuses a port another socket listens on), IPV6_V6ONLY for
// IPv6. On failure the acceptor is closed again.
std::error_code OpenListener(asio::ip::tcp::acceptor& acceptor, const asio::ip::tcp::endpoint& at,
                             const ListenOptions& options);

// OpenListener on `address` with a port from `picker` (BindWithinRange), or an ephemeral one.
std::error_code OpenListenerInRange(asio::ip::tcp::acceptor& acceptor,
                                    const asio::ip::address& address, PortPicker* picker,
                                    const ListenOptions& options);

// Opens a non-blocking UDP socket on `local` with a port from `picker` (BindWithinRange), or an
// ephemeral one.
std::error_code OpenUdpSocket(asio::ip::udp::socket& socket, const asio::ip::address& local,
                              PortPicker* picker);

}  // namespace socks5::net

#endif  // SOCKS5_NET_SOCKET_H_
