// Where a client may send: the one decision on every destination address, for CONNECT (each
// address a name resolved to, or the literal), BIND's expected peers and every UDP datagram
// (docs/conformance.md C14, C15, F13; issue 11 defects 2 and 3). Pure: the caller canonicalises
// with udp::IpAddress (an IPv4-mapped IPv6 address becomes IPv4, so ::ffff:127.0.0.1 is
// 127.0.0.1 for every rule) and acts on the verdict. Decided in this order:
//  1. kUnspecified: 0.0.0.0/8 or :: are never a destination. Linux connects (and sends) the
//     unspecified address to the local host, so they would reach loopback services past any
//     deny list.
//  2. kOwnEndpoint: a port the proxy listens on, at loopback (127.0.0.0/8, ::1) or one of this
//     host's own addresses: one client must not chain the server into itself (each hop another
//     session). Any local address counts even for a listener bound to one address: simple, and
//     nothing legitimate needs to proxy to the proxy.
//  3. kDenied: --deny_destinations.
#ifndef SOCKS5_UDP_DESTINATION_H_
#define SOCKS5_UDP_DESTINATION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "udp/endpoint.h"

namespace socks5::udp {

// An IP prefix over udp::IpAddress (a mapped IPv6 prefix is held as IPv4, like the addresses).
struct IpPrefix {
  IpAddress network;
  int length = 0;  // clamped to the family's 32 or 128
  bool Contains(const IpAddress& ip) const;
};

enum class Verdict { kAllow, kUnspecified, kOwnEndpoint, kDenied };
const char* VerdictName(Verdict verdict);  // "allow", "unspecified", "own_endpoint", "denied"

// True for 127.0.0.0/8 and ::1.
bool IsLoopback(const IpAddress& ip);
// True for 0.0.0.0/8 and ::.
bool IsUnspecifiedRange(const IpAddress& ip);

struct DestinationPolicy {
  std::vector<IpPrefix> denied;                     // --deny_destinations
  absl::flat_hash_set<std::uint16_t> listen_ports;  // the real ports the server listens on
  absl::flat_hash_set<IpAddress> local_addresses;   // this host's interface addresses

  Verdict Decide(const Endpoint& destination) const;
};

// The result of filtering the addresses a name resolved to.
struct Filtered {
  std::vector<IpAddress> allowed;  // in their original order
  // Nothing allowed: the verdict to answer with. kUnspecified when every address was
  // unspecified (the name leads nowhere: REP 04), else the first other refusal (REP 02).
  Verdict refusal = Verdict::kAllow;
};
Filtered FilterResolved(const DestinationPolicy& policy, const std::vector<IpAddress>& addresses,
                        std::uint16_t port);

}  // namespace socks5::udp

#endif  // SOCKS5_UDP_DESTINATION_H_
