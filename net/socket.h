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
  // TCP_NODELAY on the listener: Linux copies it to every accepted socket, which then needs no
  // setsockopt of its own (one system call less per session).
  bool no_delay = false;
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

// --- Sockets made non-blocking by the kernel call that creates them ---------------------------
// Asio makes a socket non-blocking with ioctl(FIONBIO) before its first asynchronous operation,
// and removes a socket it was handed (assign) from epoll with epoll_ctl(DEL) before closing it,
// in case the descriptor was a dup. A socket this process creates itself with SOCK_NONBLOCK
// (socket, accept4) and never duplicates needs neither: closing its only descriptor removes it
// from epoll. These functions tell Asio so (two system calls less per socket). They reach into
// Asio 1.22's socket state (a static_assert in socket.cc pins the version).

// Wraps `fd` (non-blocking, never duplicated, owned from now on by `socket`) in `socket`, which
// must be closed: registers it with the socket's reactor (epoll_ctl ADD). On failure `fd` is
// closed.
std::error_code AdoptNonBlocking(asio::ip::tcp::socket& socket, const asio::ip::tcp& protocol,
                                 int fd);

// Opens `socket` (closed) as a non-blocking TCP socket of `protocol`: socket(SOCK_NONBLOCK) and
// the reactor's registration, no ioctl; marked drained for reading (net/readiness.h), so its first
// wait for readability costs no system call.
std::error_code OpenNonBlocking(asio::ip::tcp::socket& socket, const asio::ip::tcp& protocol);

// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) on the non-blocking `acceptor`: the new socket in
// `socket` (closed before) and the peer's address in `peer` (no getpeername). would_block when
// no connection is pending.
std::error_code AcceptNonBlocking(asio::ip::tcp::acceptor& acceptor, asio::ip::tcp::socket& socket,
                                  asio::ip::tcp::endpoint& peer);

// Starts a connect of the open, non-blocking `socket` (OpenNonBlocking) to `to` and calls
// `handler(error_code)` when it has completed: connect(2), a wait for writability, then
// getsockopt(SO_ERROR) only when the reactor saw more than writability (ConnectResult; Asio's
// async_connect polls once more in between). `socket` must stay
// alive until the handler has run; closing it cancels the wait (operation_aborted).
template <typename Handler>
void AsyncConnectNonBlocking(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& to,
                             Handler handler);

// Opens a non-blocking UDP socket on `local` with a port from `picker` (BindWithinRange), or an
// ephemeral one.
std::error_code OpenUdpSocket(asio::ip::udp::socket& socket, const asio::ip::address& local,
                              PortPicker* picker);

std::error_code StartConnect(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& to);
std::error_code ConnectResult(asio::ip::tcp::socket& socket);

template <typename Handler>
void AsyncConnectNonBlocking(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& to,
                             Handler handler) {
  std::error_code ec = StartConnect(socket, to);
  if (ec != asio::error::in_progress) {
    // Connected at once (or failed): complete through the executor, never inside this call.
    asio::post(socket.get_executor(), [h = std::move(handler), ec]() mutable { h(ec); });
    return;
  }
  socket.async_wait(asio::socket_base::wait_write,
                    [&socket, h = std::move(handler)](std::error_code wait_ec) mutable {
                      h(wait_ec ? wait_ec : ConnectResult(socket));
                    });
}

}  // namespace socks5::net

#endif  // SOCKS5_NET_SOCKET_H_
