// The one place where protocol and udp addresses meet asio::ip, and the one way to print an
// endpoint: "1.2.3.4:80", "[::1]:1080".
#ifndef SOCKS5_NET_ADDRESS_H_
#define SOCKS5_NET_ADDRESS_H_

#include <cstdint>
#include <string>

#include "asio.hpp"
#include "protocol/address.h"
#include "udp/endpoint.h"

namespace socks5::net {

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes plain IPv4.
asio::ip::address Unmapped(const asio::ip::address& address);

// The IP of a numeric protocol address; must not be called with a domain.
asio::ip::address ToAsioAddress(const protocol::Address& address);
protocol::Address FromAsio(const asio::ip::address& address, std::uint16_t port);
template <typename Endpoint>
protocol::Address FromEndpoint(const Endpoint& endpoint) {
  return FromAsio(endpoint.address(), endpoint.port());
}

// "HOST:PORT", IPv6 in brackets; an IPv4-mapped address is printed as IPv4.
std::string EndpointText(const asio::ip::address& address, std::uint16_t port);
template <typename Endpoint>
std::string EndpointText(const Endpoint& endpoint) {
  return EndpointText(endpoint.address(), endpoint.port());
}

// udp/'s Asio-free addresses (a mapped address becomes IPv4).
udp::IpAddress ToUdpIp(const asio::ip::address& address);
asio::ip::address ToAsio(const udp::IpAddress& ip);
udp::Endpoint ToUdpEndpoint(const asio::ip::udp::endpoint& endpoint);
asio::ip::udp::endpoint ToAsio(const udp::Endpoint& endpoint);
protocol::Address ToProtocol(const udp::Endpoint& endpoint);

}  // namespace socks5::net

#endif  // SOCKS5_NET_ADDRESS_H_
