#include "session/egress.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/address.h"

namespace socks5::session {

absl::StatusOr<Egress> ParseEgress(std::string_view text) {
  Egress egress;
  for (absl::string_view item :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    std::error_code ec;
    asio::ip::address address = asio::ip::make_address(std::string(item), ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("--outbound_address: '", item, "' is not an IP address"));
    }
    address = net::Unmapped(address);
    if (address.is_unspecified() || address.is_multicast() ||
        (address.is_v4() && address.to_v4() == asio::ip::address_v4::broadcast())) {
      return absl::InvalidArgumentError(
          absl::StrCat("--outbound_address: ", item,
                       " cannot be a source address (unspecified, multicast or "
                       "broadcast); give an address of this host"));
    }
    std::optional<asio::ip::address>& slot = address.is_v4() ? egress.v4 : egress.v6;
    if (slot) {
      return absl::InvalidArgumentError(
          absl::StrCat("--outbound_address: two ", address.is_v4() ? "IPv4" : "IPv6",
                       " addresses (", slot->to_string(), " and ", address.to_string(),
                       "); give at most one IPv4 and one IPv6 address"));
    }
    slot = address;
  }
  return egress;
}

Egress WithRuleEgress(const Egress& flag, const std::optional<asio::ip::address>& rule_v4,
                      const std::optional<asio::ip::address>& rule_v6) {
  if (!rule_v4 && !rule_v6) return flag;
  return Egress{rule_v4, rule_v6};
}

std::error_code BindForConnect(asio::ip::tcp::socket& socket, const asio::ip::address& address) {
  int one = 1;
  if (::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) !=
      0) {
    return std::error_code(errno, std::system_category());
  }
  std::error_code ec;
  socket.bind(asio::ip::tcp::endpoint(address, 0), ec);
  return ec;
}

}  // namespace socks5::session
