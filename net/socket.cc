#include "net/socket.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/address.h"
#include "net/readiness.h"

namespace socks5::net {
namespace {

constexpr std::uint16_t kDiscardPort = 9;

// The state Asio keeps beside a socket's descriptor (which of its own calls it still has to make).
// Reached through a pointer to the protected member, the one legal way in from outside.
static_assert(ASIO_VERSION / 100 == 1022,
              "net::AdoptNonBlocking reaches into Asio 1.22's socket state: review it");
struct SocketImpl : asio::ip::tcp::socket {
  static auto& Of(asio::ip::tcp::socket& socket) {
    return (socket.*(&SocketImpl::impl_)).get_implementation();
  }
};

// Errors in Asio's own category, as its operations report them (asio::error::connection_refused
// compares equal).
std::error_code SystemError(int value) {
  return std::error_code(value, asio::error::get_system_category());
}

// Tells Asio `socket`'s descriptor is already non-blocking (as its own ioctl would have made
// it: the "internal" flag, so synchronous calls still wait) and is no dup.
void MarkNonBlockingOwned(asio::ip::tcp::socket& socket) {
  auto& impl = SocketImpl::Of(socket);
  impl.state_ |= asio::detail::socket_ops::internal_non_blocking;
  impl.state_ &= ~asio::detail::socket_ops::possible_dup;
}

std::error_code SetReusePort(asio::ip::tcp::acceptor& acceptor) {
  int one = 1;
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return std::error_code(errno, std::system_category());
  }
  return {};
}

}  // namespace

std::vector<asio::ip::address> LocalAddresses() {
  std::vector<asio::ip::address> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) continue;
    if (it->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
      asio::ip::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &in->sin_addr, bytes.size());
      out.emplace_back(asio::ip::address_v4(bytes));
    } else if (it->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(it->ifa_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &in6->sin6_addr, bytes.size());
      out.push_back(Unmapped(asio::ip::address_v6(bytes, in6->sin6_scope_id)));
    }
  }
  ::freeifaddrs(list);
  return out;
}

Result<asio::ip::address> LocalAddressToward(asio::io_context& io,
                                             const asio::ip::address& destination,
                                             std::uint16_t port) {
  const asio::ip::address to = Unmapped(destination);
  asio::ip::udp::socket probe(io);
  std::error_code ec;
  probe.open(to.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
  if (!ec) probe.connect(asio::ip::udp::endpoint(to, port == 0 ? kDiscardPort : port), ec);
  if (ec) return ec;
  asio::ip::udp::endpoint local = probe.local_endpoint(ec);
  if (ec) return ec;
  return local.address();
}

std::error_code BindWithinRange(PortPicker* picker,
                                absl::FunctionRef<std::error_code(std::uint16_t)> bind_port) {
  if (picker == nullptr) return bind_port(0);
  std::error_code last;
  std::optional<std::uint16_t> port = picker->Pick([&](std::uint16_t candidate) {
    last = bind_port(candidate);
    return last != asio::error::address_in_use;
  });
  if (!port) return asio::error::address_in_use;
  return last;
}

std::error_code OpenListener(asio::ip::tcp::acceptor& acceptor, const asio::ip::tcp::endpoint& at,
                             const ListenOptions& options) {
  std::error_code ec;
  acceptor.open(at.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && options.reuse_port) ec = SetReusePort(acceptor);
  if (!ec && at.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec && options.no_delay) acceptor.set_option(asio::ip::tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(options.backlog, ec);
  if (ec) {
    std::error_code ignored;
    acceptor.close(ignored);
  }
  return ec;
}

std::error_code OpenListenerInRange(asio::ip::tcp::acceptor& acceptor,
                                    const asio::ip::address& address, PortPicker* picker,
                                    const ListenOptions& options) {
  return BindWithinRange(picker, [&](std::uint16_t port) {
    return OpenListener(acceptor, asio::ip::tcp::endpoint(address, port), options);
  });
}

std::error_code AdoptNonBlocking(asio::ip::tcp::socket& socket, const asio::ip::tcp& protocol,
                                 int fd) {
  std::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return ec;
  }
  MarkNonBlockingOwned(socket);
  return {};
}

std::error_code OpenNonBlocking(asio::ip::tcp::socket& socket, const asio::ip::tcp& protocol) {
  int fd = ::socket(protocol.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return SystemError(errno);
  std::error_code ec = AdoptNonBlocking(socket, protocol, fd);
  // Nothing can arrive before a connect: its first wait for readability needs no epoll_ctl.
  if (!ec) MarkDrained(socket, asio::socket_base::wait_read);
  return ec;
}

std::error_code AcceptNonBlocking(asio::ip::tcp::acceptor& acceptor, asio::ip::tcp::socket& socket,
                                  asio::ip::tcp::endpoint& peer) {
  asio::ip::tcp::endpoint from;
  socklen_t length = static_cast<socklen_t>(from.capacity());
  int fd = ::accept4(acceptor.native_handle(), from.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return asio::error::would_block;
    return SystemError(errno);
  }
  from.resize(length);
  peer = from;
  return AdoptNonBlocking(socket, from.protocol(), fd);
}

std::error_code StartConnect(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& to) {
  if (::connect(socket.native_handle(), to.data(), static_cast<socklen_t>(to.size())) == 0) {
    return {};
  }
  if (errno == EINPROGRESS) return asio::error::in_progress;
  return SystemError(errno);
}

std::error_code ConnectResult(asio::ip::tcp::socket& socket) {
  if (!socket.is_open()) return asio::error::operation_aborted;
  // Reported writable, and the reactor has seen neither input nor EPOLLERR/EPOLLHUP since
  // OpenNonBlocking marked it drained: a connecting TCP socket is writable without those only
  // once it is connected (a failed connect leaves it closed: EPOLLHUP, with EPOLLERR). Its
  // error could only be 0, so it is not asked for. Otherwise SO_ERROR says.
  if (Drained(socket, asio::socket_base::wait_read)) return {};
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    return SystemError(errno);
  }
  return error == 0 ? std::error_code() : SystemError(error);
}

std::error_code OpenUdpSocket(asio::ip::udp::socket& socket, const asio::ip::address& local,
                              PortPicker* picker) {
  std::error_code ec = BindWithinRange(picker, [&](std::uint16_t port) {
    std::error_code bind_ec;
    socket.open(local.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), bind_ec);
    if (!bind_ec && local.is_v6()) socket.set_option(asio::ip::v6_only(true), bind_ec);
    if (!bind_ec) socket.bind(asio::ip::udp::endpoint(local, port), bind_ec);
    if (bind_ec) {
      std::error_code ignored;
      socket.close(ignored);
    }
    return bind_ec;
  });
  if (!ec) socket.non_blocking(true, ec);
  return ec;
}

}  // namespace socks5::net
