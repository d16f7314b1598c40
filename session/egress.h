// The outbound (egress) addresses of a session: the source address of CONNECT sockets and UDP
// outbound sockets, and the address BIND listens on. From --outbound_address (at most one IPv4
// and one IPv6 address); a rules file's `egress=` replaces it for the sessions its rule allows
// (WithRuleEgress). Without any egress address the kernel picks the source by route, as before.
//
// One family only: when exactly one family has an egress address, the session reaches only that
// family's addresses: Happy Eyeballs tries only them, a CONNECT or BIND to a target with none
// gets REP 04 (host unreachable), and a UDP datagram to the other family is dropped
// (drop_no_egress). An egress address is never silently swapped for the routing table's choice.
//
// CONNECT binds its attempts to the address with IP_BIND_ADDRESS_NO_PORT before connect(): the
// port is then chosen at connect() time per 4-tuple, so a busy egress address does not run out
// of ephemeral ports as it would with bind(addr, 0).
#ifndef SOCKS5_SESSION_EGRESS_H_
#define SOCKS5_SESSION_EGRESS_H_

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "asio.hpp"

namespace socks5::session {

struct Egress {
  std::optional<asio::ip::address> v4 = {};  // always an address_v4
  std::optional<asio::ip::address> v6 = {};  // always a (non-mapped) address_v6

  bool empty() const { return !v4 && !v6; }
  // The egress address for `family_of`'s family; nullopt: the kernel chooses.
  const std::optional<asio::ip::address>& For(const asio::ip::address& family_of) const {
    return family_of.is_v4() || (family_of.is_v6() && family_of.to_v6().is_v4_mapped()) ? v4 : v6;
  }
  // Whether a target at `address` can be reached: no egress address at all, or one of its family.
  bool Reaches(const asio::ip::address& address) const { return empty() || For(address); }
};

// Parses --outbound_address's value: "" (none), "IP" or "IP,IP" with at most one IPv4 and one
// IPv6 address; IPv4-mapped IPv6 counts as IPv4. Refuses unspecified (0.0.0.0, ::), multicast
// and broadcast addresses. The message names the flag and what is wrong.
absl::StatusOr<Egress> ParseEgress(std::string_view text);

// A rule's `egress=` (either family given) replaces the flag's addresses entirely, so a rule
// giving only IPv4 makes its sessions IPv4-only; a rule without egress= keeps `flag`.
Egress WithRuleEgress(const Egress& flag, const std::optional<asio::ip::address>& rule_v4,
                      const std::optional<asio::ip::address>& rule_v6);

// Binds the unconnected, open TCP `socket` to `address` port 0 with IP_BIND_ADDRESS_NO_PORT set
// (the port is picked at connect()).
std::error_code BindForConnect(asio::ip::tcp::socket& socket, const asio::ip::address& address);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_EGRESS_H_
