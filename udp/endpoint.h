// IP addresses and endpoints as the UDP relay compares them, without Asio. An IPv4-mapped IPv6
// address (::ffff:a.b.c.d) is held in its IPv4 form, so a dual-stack socket's view of a host and
// an IPv4 socket's view of it compare equal. net/address.h converts from asio::ip.
#ifndef SOCKS5_UDP_ENDPOINT_H_
#define SOCKS5_UDP_ENDPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "protocol/address.h"

namespace socks5::udp {

class IpAddress {
 public:
  IpAddress() = default;  // 0.0.0.0
  explicit IpAddress(protocol::Ipv4 v4) : ip_(v4) {}
  // A mapped address (::ffff:a.b.c.d) becomes the IPv4 address a.b.c.d.
  explicit IpAddress(const protocol::Ipv6& v6);

  // The IP of a protocol address; nullopt for a domain name.
  static std::optional<IpAddress> FromAddress(const protocol::Address& address);

  bool is_v4() const { return std::holds_alternative<protocol::Ipv4>(ip_); }
  const protocol::Ipv4* v4() const { return std::get_if<protocol::Ipv4>(&ip_); }
  const protocol::Ipv6* v6() const { return std::get_if<protocol::Ipv6>(&ip_); }
  // True for 0.0.0.0 and ::.
  bool is_unspecified() const;
  // "1.2.3.4" or "::1" — for logs and test messages.
  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& ip) {
    // The family, then the bytes (this Abseil cannot hash std::array or std::variant).
    if (const auto* a = ip.v4())
      return H::combine_contiguous(H::combine(std::move(h), 4), a->data(), a->size());
    const auto* b = ip.v6();
    return H::combine_contiguous(H::combine(std::move(h), 6), b->data(), b->size());
  }

 private:
  std::variant<protocol::Ipv4, protocol::Ipv6> ip_;
};

struct Endpoint {
  IpAddress ip;
  std::uint16_t port = 0;

  // nullopt for a domain name.
  static std::optional<Endpoint> FromAddress(const protocol::Address& address);
  std::string ToString() const;  // "1.2.3.4:80", "[::1]:80"

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Endpoint& e) {
    return H::combine(std::move(h), e.ip, e.port);
  }
};

}  // namespace socks5::udp

#endif  // SOCKS5_UDP_ENDPOINT_H_
