// The decisions of one UDP association (RFC 1928 s.7; docs/conformance.md F2-F9), without I/O:
// which client datagrams go where (admission, header parsing, fragment reassembly, domain routing),
// which remote datagrams reach the client, and the counters for the access log. relay/udp_relay.h
// does the socket work and asks this class at each step.
#ifndef SOCKS5_UDP_ASSOCIATION_H_
#define SOCKS5_UDP_ASSOCIATION_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/address.h"
#include "protocol/log_record.h"
#include "udp/budget.h"
#include "udp/destination.h"
#include "udp/endpoint.h"
#include "udp/name_cache.h"
#include "udp/policy.h"
#include "udp/reassembler.h"

namespace socks5::udp {

struct AssociationOptions {
  ReplyPolicy reply_policy = ReplyPolicy::kRestricted;
  ReassemblerOptions reassembly;
  NameCacheOptions names;
  // Where datagrams may go (udp/destination.h): every target, literal or resolved, is decided
  // there. Null: only the never-valid addresses (0.0.0.0/8, ::) are refused.
  std::shared_ptr<const DestinationPolicy> destinations;
  // After the destination policy, the access rules (--rules_file): may a datagram go to `target`,
  // named `name` by the client (null: the client sent an IP)? Null: yes. A refusal is counted
  // kDenied. session/rules.h supplies it (policy/ depends on udp/, not the other way round).
  std::function<bool(const Endpoint& target, const std::string* name)> rules_allow;
  // The process-wide budget for bytes held in reassembly and behind lookups (--udp_memory_budget);
  // null: no global bound. Must outlive the association.
  MemoryBudget* memory_budget = nullptr;
};

// Why a datagram was not relayed.
enum class Drop {
  kForeignIp,    // client side: not from the control connection's IP (F3)
  kWrongPort,    // client side: from the client's IP but another port (F2)
  kMalformed,    // client side: bad header (F9)
  kFragment,     // client side: a fragment the reassembler dropped (F7, F8 count as abandoned)
  kDenied,       // the target is refused (udp/destination.h): unspecified, the proxy itself, or
                 // in --deny_destinations; or a rule of --rules_file refuses it
  kUnresolved,   // the domain target did not resolve
  kQueueFull,    // too many datagrams waiting for lookups
  kUnsolicited,  // remote side: the reply policy does not admit the sender
  kTooBig,       // remote side: payload plus header exceeds a UDP datagram
  kSendError,    // the socket refused the datagram
  kBudget,       // holding it would pass the process-wide --udp_memory_budget
  kDnsBusy,      // its lookup was refused at once: the worker's or the association's lookup cap
};
inline constexpr std::size_t kDropKinds = 12;
const char* DropName(Drop drop);  // "foreign", "wrong_port", ... as in the access log

struct AssociationCounters {
  std::uint64_t dgrams_up = 0;    // datagrams sent to targets
  std::uint64_t bytes_up = 0;     // their payload bytes
  std::uint64_t dgrams_down = 0;  // datagrams delivered to the client
  std::uint64_t bytes_down = 0;   // their payload bytes (headers not counted)
  std::array<std::uint64_t, kDropKinds> drops{};
  std::uint64_t drop(Drop d) const { return drops[static_cast<std::size_t>(d)]; }
};

class Association {
 public:
  // What the caller does next with a client datagram.
  struct Step {
    enum class Kind { kNone, kSend, kResolve };
    Kind kind = Kind::kNone;
    Endpoint target;                        // kSend
    std::span<const std::uint8_t> payload;  // kSend: valid until the next call
    std::string name;                       // kResolve: look it up, then call Resolved()
  };
  // A datagram that waited for a lookup, now ready to send.
  struct Outbound {
    Endpoint target;
    std::vector<std::uint8_t> payload;
  };

  // `control_peer` is the control connection's client IP; `requested` the request's DST.
  Association(const IpAddress& control_peer, const protocol::Address& requested,
              AssociationOptions options);

  // A datagram (header and data) arrived on the client-facing socket from `source`.
  Step FromClient(const Endpoint& source, std::span<const std::uint8_t> datagram, SteadyTime now);
  // The lookup a kResolve step asked for finished; `addresses` empty means it failed. `busy`: it
  // was refused at once (a lookup cap, dns::Errc::kBusy or kOverBudget), which says nothing about
  // the name: its datagrams are dropped (kDnsBusy) and the failure is not remembered.
  std::vector<Outbound> Resolved(const std::string& name, const std::vector<IpAddress>& addresses,
                                 SteadyTime now, bool busy = false);
  // The caller sent `bytes` of payload to `target`: counted, and (restricted policy) the target
  // may now answer.
  void Sent(const Endpoint& target, std::size_t bytes);

  // A datagram from `source` arrived on an outbound socket: the client endpoint to relay it to,
  // or nullopt when it is dropped (counted).
  std::optional<Endpoint> FromRemote(const Endpoint& source);
  // The caller delivered `bytes` of payload to the client.
  void Delivered(std::size_t bytes);

  void CountDrop(Drop drop) { ++counters_.drops[static_cast<std::size_t>(drop)]; }

  // The reassembly timer: when it should fire (nullopt: no queue held), and its firing.
  std::optional<SteadyTime> ReassemblyExpiry() const { return reassembler_.Expiry(); }
  void OnReassemblyTimer(SteadyTime now) {
    reassembler_.OnTimer(now);
    Recharge();
  }

  std::optional<Endpoint> client() const { return client_.client(); }
  const AssociationCounters& counters() const { return counters_; }
  const ReassemblerStats& reassembly_stats() const { return reassembler_.stats(); }
  // Bytes held now (reassembly queue, queued datagrams, the last reassembled payload): what the
  // association has charged to the memory budget.
  std::size_t held_bytes() const;
  std::size_t charged_bytes() const { return charge_.bytes(); }
  // Access-log fields: dgrams_up, dgrams_down, drop_foreign, ... frags, reassembled,
  // frag_abandoned, frag_timeout, and dst_hint=unused when the request named an endpoint the
  // client's datagrams did not come from. LogFields(): their text, " dgrams_up=N ...".
  void AppendLogFields(protocol::LogRecord& out) const;
  std::string LogFields() const;

 private:
  Step Route(const protocol::Address& dst, std::span<const std::uint8_t> payload, SteadyTime now);
  // Refused by the destination policy, then by the rules (`name`: the client's name for it, or
  // null); counted kDenied by the callers.
  bool Refused(const Endpoint& target, const std::string* name) const;
  // Reserves `extra` bytes on top of what is held: false (nothing changed) past the budget.
  bool Reserve(std::size_t extra) { return charge_.TryResize(held_bytes() + extra); }
  // Makes the charge equal what is held (after each step).
  void Recharge() { charge_.Set(held_bytes()); }

  IpAddress control_peer_;
  AssociationOptions options_;
  ClientAdmission client_;
  RemoteAdmission remotes_;
  Reassembler reassembler_;
  NameCache names_;
  std::vector<std::uint8_t> reassembled_;  // the last reassembled payload, while it is sent
  AssociationCounters counters_;
  Charge charge_;  // last: given back when the association goes
};

}  // namespace socks5::udp

#endif  // SOCKS5_UDP_ASSOCIATION_H_
