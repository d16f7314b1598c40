// The access rules of --rules_file (policy/rules.h) as one session asks them. The handlers decide
// after the destination policy (udp/destination.h: a rule can never allow what it refuses):
//  - CONNECT: a name no rule could allow is refused (02) without resolving it; then each address
//    (allowed by the destination policy) is decided with the name, denied ones are skipped, and
//    none left is 02.
//  - BIND: DST.ADDR (the expected peer) like a CONNECT target, DST 0.0.0.0 by from/user/cmd
//    alone; then the incoming peer (with DST's name and port) must be allowed too.
//  - UDP ASSOCIATE: the association by from/user/cmd; then every datagram's destination
//    (UdpRuleCache), a refused one dropped and counted drop_denied.
// Without a rules file nothing here is asked and nothing is logged.
#ifndef SOCKS5_SESSION_RULES_H_
#define SOCKS5_SESSION_RULES_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "policy/rules.h"
#include "session/session.h"
#include "udp/endpoint.h"

namespace socks5::session {

// A query with the session's own facts: the client's address, the authenticated user, `command`.
policy::Query RuleQuery(const Session& session, policy::Command command);

// Names the rule that decided in the access log (rule=FILE:LINE or rule=default).
void RecordRule(Session& session, const policy::Decision& decision);

// THE hook for egress= and rate= (issue 12, part C): `rule` allowed what this session uses (the
// CONNECT address it connected to, the BIND's expected peer, the UDP association); nullptr without
// a rules file. Called once, before the session relays (for BIND and UDP before their sockets are
// opened; for CONNECT after the connection, whose attempts each carry their own rule, see
// connect.cc). It keeps the rule for Session::allowing_rule() and applies its options: egress=
// replaces the session's egress (EgressForRule), and rate= gives the session the shared limiter
// of (rule, user or client address) from relay::RateLimiters (RateKey).
void ApplyAllowingRule(Session& session, const policy::Rule* rule);

// The egress of what `rule` allows: its egress= (both families at once, session/egress.h
// WithRuleEgress), else `flag` (--outbound_address). A null rule: `flag`.
Egress EgressForRule(const Egress& flag, const policy::Rule* rule);

// The key of a rule's shared rate limiter: the rule's source and the user, or the client address
// when unauthenticated ("rules:3 user=alice", "rules:3 client=10.0.0.7").
std::string RateKey(const policy::Rule& rule, const Session& session);

// A UDP association's per-destination decisions: each (name, address, port) is decided once and
// remembered. At most kMaxEntries are kept; past that the table starts over (decisions are cheap
// and deterministic, so forgetting costs only time). Holds the rules it decides with; Reset()
// puts in others (a reload) and forgets every decision.
class UdpRuleCache {
 public:
  static constexpr std::size_t kMaxEntries = 1024;

  UdpRuleCache(std::shared_ptr<const policy::RuleSet> rules, const Session& session);

  // May a datagram go to `target` (`name`: the client's name for it, or null)?
  bool Allowed(const udp::Endpoint& target, const std::string* name);
  void Reset(std::shared_ptr<const policy::RuleSet> rules);
  std::size_t size() const { return decided_.size(); }

 private:
  std::shared_ptr<const policy::RuleSet> rules_;
  udp::IpAddress client_;
  std::optional<std::string> user_;
  std::string key_;  // reused, so a lookup allocates nothing once warm
  absl::flat_hash_map<std::string, bool> decided_;
};

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_RULES_H_
