#include "udp/endpoint.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace socks5::udp {
namespace {

// ::ffff:0:0/96 (RFC 4291 s.2.5.5.2).
bool IsV4Mapped(const protocol::Ipv6& v6) {
  return std::all_of(v6.begin(), v6.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
         v6[10] == 0xff && v6[11] == 0xff;
}

}  // namespace

IpAddress::IpAddress(const protocol::Ipv6& v6) {
  if (IsV4Mapped(v6)) {
    ip_ = protocol::Ipv4{v6[12], v6[13], v6[14], v6[15]};
  } else {
    ip_ = v6;
  }
}

std::optional<IpAddress> IpAddress::FromAddress(const protocol::Address& address) {
  if (const auto* v4 = std::get_if<protocol::Ipv4>(&address.host)) return IpAddress(*v4);
  if (const auto* v6 = std::get_if<protocol::Ipv6>(&address.host)) return IpAddress(*v6);
  return std::nullopt;
}

bool IpAddress::is_unspecified() const {
  if (const auto* a = v4()) return *a == protocol::Ipv4{};
  return *v6() == protocol::Ipv6{};
}

std::string IpAddress::ToString() const {
  // Address::ToString() already formats both families (RFC 5952 for IPv6); strip its port.
  protocol::Address address;
  if (const auto* a = v4()) {
    address.host = *a;
    std::string s = address.ToString();
    return s.substr(0, s.rfind(':'));
  }
  address.host = *v6();
  std::string s = address.ToString();  // "[...]:0"
  return s.substr(1, s.rfind(']') - 1);
}

std::optional<Endpoint> Endpoint::FromAddress(const protocol::Address& address) {
  std::optional<IpAddress> ip = IpAddress::FromAddress(address);
  if (!ip) return std::nullopt;
  return Endpoint{*ip, address.port};
}

std::string Endpoint::ToString() const {
  if (ip.is_v4()) return absl::StrCat(ip.ToString(), ":", port);
  return absl::StrCat("[", ip.ToString(), "]:", port);
}

}  // namespace socks5::udp
