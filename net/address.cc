#include "net/address.h"

#include "absl/strings/str_cat.h"

namespace socks5::net {

asio::ip::address Unmapped(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

asio::ip::address ToAsioAddress(const protocol::Address& address) {
  if (const auto* v4 = std::get_if<protocol::Ipv4>(&address.host)) {
    return asio::ip::address_v4(*v4);
  }
  return asio::ip::address_v6(std::get<protocol::Ipv6>(address.host));
}

protocol::Address FromAsio(const asio::ip::address& raw, std::uint16_t port) {
  asio::ip::address address = Unmapped(raw);
  protocol::Address out;
  if (address.is_v4()) {
    out.host = address.to_v4().to_bytes();
  } else {
    out.host = address.to_v6().to_bytes();
  }
  out.port = port;
  return out;
}

std::string EndpointText(const asio::ip::address& raw, std::uint16_t port) {
  asio::ip::address address = Unmapped(raw);
  if (address.is_v6()) return absl::StrCat("[", address.to_string(), "]:", port);
  return absl::StrCat(address.to_string(), ":", port);
}

udp::IpAddress ToUdpIp(const asio::ip::address& address) {
  if (address.is_v4()) return udp::IpAddress(address.to_v4().to_bytes());
  return udp::IpAddress(address.to_v6().to_bytes());  // a mapped address becomes IPv4
}

asio::ip::address ToAsio(const udp::IpAddress& ip) {
  if (const auto* v4 = ip.v4()) return asio::ip::address_v4(*v4);
  return asio::ip::address_v6(*ip.v6());
}

udp::Endpoint ToUdpEndpoint(const asio::ip::udp::endpoint& endpoint) {
  return udp::Endpoint{ToUdpIp(endpoint.address()), endpoint.port()};
}

asio::ip::udp::endpoint ToAsio(const udp::Endpoint& endpoint) {
  return asio::ip::udp::endpoint(ToAsio(endpoint.ip), endpoint.port);
}

protocol::Address ToProtocol(const udp::Endpoint& endpoint) {
  protocol::Address address;
  if (const auto* v4 = endpoint.ip.v4()) {
    address.host = *v4;
  } else {
    address.host = *endpoint.ip.v6();
  }
  address.port = endpoint.port;
  return address;
}

}  // namespace socks5::net
