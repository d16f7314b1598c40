#include "server/bind_listener.h"

#include "server/net.h"

namespace socks5::server {
namespace {

constexpr std::uint16_t kDiscardPort = 9;
// One connection is expected; a few more may queue while wrong peers are being refused.
constexpr int kBacklog = 16;

std::error_code ListenOn(asio::ip::tcp::acceptor& acceptor, const asio::ip::tcp::endpoint& at) {
  std::error_code ec;
  acceptor.open(at.protocol(), ec);
  // A finished BIND may leave TIME_WAIT connections on its port; let the next listener reuse it.
  // (On Linux this still refuses a port that another socket listens on.)
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && at.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.bind(at, ec);
  if (!ec) acceptor.listen(kBacklog, ec);
  if (ec) {
    std::error_code ignored;
    acceptor.close(ignored);
  }
  return ec;
}

}  // namespace

std::pair<std::error_code, asio::ip::address> LocalAddressToward(
    asio::io_context& io, const asio::ip::address& destination, std::uint16_t port) {
  const asio::ip::address to = Unmapped(destination);
  asio::ip::udp::socket probe(io);
  std::error_code ec;
  probe.open(to.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
  if (!ec) probe.connect(asio::ip::udp::endpoint(to, port == 0 ? kDiscardPort : port), ec);
  if (ec) return {ec, {}};
  asio::ip::udp::endpoint local = probe.local_endpoint(ec);
  if (ec) return {ec, {}};
  return {std::error_code(), local.address()};
}

std::error_code OpenBindListener(asio::ip::tcp::acceptor& acceptor,
                                 const asio::ip::address& address, udp::PortPicker* picker) {
  if (picker == nullptr) return ListenOn(acceptor, asio::ip::tcp::endpoint(address, 0));
  std::error_code last;
  auto try_port = [&](std::uint16_t port) {
    last = ListenOn(acceptor, asio::ip::tcp::endpoint(address, port));
    // Only "in use" means: try the next port. Any other error would repeat on every port.
    return last != asio::error::address_in_use;
  };
  if (!picker->Pick(try_port)) return asio::error::address_in_use;
  return last;
}

}  // namespace socks5::server
