// Which datagrams a UDP association relays (RFC 1928 s.7; docs/conformance.md F2, F3, F5). Pure
// decisions: the relay asks, then sends or drops.
#ifndef SOCKS5_UDP_POLICY_H_
#define SOCKS5_UDP_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protocol/address.h"
#include "udp/endpoint.h"

namespace socks5::udp {

enum class Admission { kAccept, kDropForeignIp, kDropWrongPort };
const char* AdmissionName(Admission a);  // "accept", "foreign_ip", "wrong_port"

// Datagrams arriving on the client-facing socket. RFC 1928 s.7: the relay "MUST drop any
// datagrams arriving from any source IP address other than the one recorded for the association".
// The recorded IP is always the control connection's peer (F3): the DST.ADDR of the UDP ASSOCIATE
// request does not replace it, and a datagram from any other IP is dropped, whatever came before.
// The port (docs/conformance.md F2, F14):
//  - the request named port 0, or an IP other than the control peer's (a NAT rewrote the client's
//    address, so its port is no better): the first datagram from the client's IP locks the port
//    and later ones must come from it;
//  - the request named a port, and its address is unspecified (0.0.0.0 or ::), a domain, or the
//    control peer's IP: a hint, where the client says it will send from (RFC 1928 s.6 lets the
//    server use it to limit access, it does not oblige it to drop everything). A datagram from
//    that exact endpoint locks the port for good. Until one does, the first datagram from another
//    port of the client's IP locks onto its port (v2ray and Xray name the target there, which may
//    be on the client's own address); if the named endpoint sends later it still takes the
//    association over, so a client that named its endpoint keeps it against a neighbour that
//    sent first; the earlier port is dropped from then on.
class ClientAdmission {
 public:
  ClientAdmission(const IpAddress& control_peer, const protocol::Address& requested);

  // Accepts or drops a datagram from `source`; an accepted one may lock the port. Call it once
  // the datagram has parsed, so that garbage cannot claim the port.
  Admission Admit(const Endpoint& source);
  // Where replies go: the locked port, else the named one; nullopt while neither is known.
  std::optional<Endpoint> client() const;
  // The request named an endpoint and the datagrams come from another port of the client's IP.
  bool hint_missed() const { return port_ && named_port_ && *port_ != *named_port_; }

 private:
  IpAddress client_ip_;
  std::optional<std::uint16_t> named_port_;  // the request's hint, when it is one
  std::optional<std::uint16_t> port_;        // where the datagrams come from
  bool fixed_ = false;                       // port_ can no longer change
};

// --udp_reply_policy: which remote endpoints may send datagrams back to the client.
enum class ReplyPolicy {
  kRestricted,  // only endpoints (IP and port) the client has sent to, like a port-restricted NAT
  kFullCone,    // anyone who learns the relay's port
};
// "restricted" or "full_cone".
absl::StatusOr<ReplyPolicy> ParseReplyPolicy(absl::string_view text);
const char* ReplyPolicyName(ReplyPolicy policy);

// Datagrams arriving on the remote-facing socket. Under kRestricted it remembers the `capacity`
// endpoints most recently sent to (the least recent is forgotten first); only sending refreshes
// an endpoint, as RFC 4787 REQ-6 asks of a NAT, so a remote cannot keep itself admitted. Memory
// is bounded by `capacity`. A domain destination is noted by the IP it resolved to.
class RemoteAdmission {
 public:
  static constexpr std::size_t kDefaultCapacity = 1024;

  explicit RemoteAdmission(ReplyPolicy policy, std::size_t capacity = kDefaultCapacity);

  // The client sent a datagram to `destination`.
  void NoteSent(const Endpoint& destination);
  // May a datagram from `source` be relayed to the client?
  bool Admit(const Endpoint& source) const;

  ReplyPolicy policy() const { return policy_; }
  std::size_t size() const { return index_.size(); }  // endpoints remembered

 private:
  ReplyPolicy policy_;
  std::size_t capacity_;
  std::list<Endpoint> recent_;  // most recently sent to first
  absl::flat_hash_map<Endpoint, std::list<Endpoint>::iterator> index_;
};

}  // namespace socks5::udp

#endif  // SOCKS5_UDP_POLICY_H_
