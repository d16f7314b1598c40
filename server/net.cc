#include "server/net.h"

#include <cerrno>

#include "dns/resolver.h"

namespace socks5::server {

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

protocol::Reply ReplyForError(const std::error_code& error) {
  using protocol::Reply;
  if (error.category() == dns::Category()) {
    return error == dns::Errc::kCancelled ? Reply::kGeneralFailure : Reply::kHostUnreachable;
  }
  if (error.category() == std::system_category() ||
      error.category() == asio::error::get_system_category()) {
    switch (error.value()) {
      case ECONNREFUSED:
        return Reply::kConnectionRefused;
      case EHOSTUNREACH:
      case EHOSTDOWN:
        return Reply::kHostUnreachable;
      case ENETUNREACH:
      case ENETDOWN:
      case EAFNOSUPPORT:
        return Reply::kNetworkUnreachable;
      case ETIMEDOUT:
        return Reply::kTtlExpired;
      case EACCES:
      case EPERM:
        return Reply::kNotAllowed;
      default:
        return Reply::kGeneralFailure;
    }
  }
  return Reply::kGeneralFailure;
}

std::vector<asio::ip::address> InterleaveFamilies(const std::vector<asio::ip::address>& addresses) {
  if (addresses.empty()) return {};
  bool first_v6 = addresses.front().is_v6();
  std::vector<asio::ip::address> first;
  std::vector<asio::ip::address> second;
  for (const auto& a : addresses) (a.is_v6() == first_v6 ? first : second).push_back(a);
  std::vector<asio::ip::address> out;
  out.reserve(addresses.size());
  for (std::size_t i = 0; i < first.size() || i < second.size(); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size()) out.push_back(second[i]);
  }
  return out;
}

}  // namespace socks5::server
