// The access rules of --rules_file (issue 12): who may go where, decided first match wins.
//
// File format: one rule a line; `#` starts a comment (to the end of the line); blank lines are
// ignored. A rule is an action, `allow` or `deny`, then `key=value[,value...]` words separated by
// spaces or tabs. Every key given must match; the values of one key are alternatives; a key may
// appear once in a rule.
//   from=   the client's address: CIDR or IP
//   user=   a user name, `*` any authenticated user, `-` unauthenticated
//   to=     the target: CIDR, IP, exact host name, or `.suffix` (the domain and its subdomains);
//           names match case-insensitively, a trailing dot is ignored
//   port=   the target port: N or LO-HI
//   cmd=    connect, bind, udp, resolve (Tor's RESOLVE, F0), resolve_ptr (Tor's RESOLVE_PTR, F1)
//   egress= (allow only) the outbound source address, at most one IPv4 and one IPv6
//   rate=   (allow only) bytes per second in each direction: N, NK, NM or NG (10^3, 10^6, 10^9)
// A file ends with an implicit deny. IPv4-mapped IPv6 addresses (rules and queries) are IPv4.
// Every error reads `SOURCE:LINE: what is wrong`.
//
// A target is a name and an address together: a `to=` value matches if it is a name pattern that
// matches the requested name or an address pattern that matches the address. The caller evaluates
// a resolved name once per address, with the name, so a name cannot reach an address a rule
// before it denies (DNS rebinding).
#ifndef SOCKS5_POLICY_RULES_H_
#define SOCKS5_POLICY_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "udp/destination.h"
#include "udp/endpoint.h"

namespace socks5::policy {

// A RESOLVE is decided like a CONNECT to its name (the name, then each address it resolved to);
// a RESOLVE_PTR by the address it asks about. A rule without cmd= covers them as it covers every
// command; without a rules file they are allowed like the others.
enum class Command : std::uint8_t {
  kConnect = 1,
  kBind = 2,
  kUdp = 4,
  kResolve = 8,
  kResolvePtr = 16,
};
// "connect", "bind", "udp", "resolve", "resolve_ptr"
const char* CommandName(Command command);

struct PortRange {
  std::uint16_t low = 0;
  std::uint16_t high = 0;
};

struct Rule {
  bool allow = false;
  std::string source;  // "FILE:LINE"

  // Each list empty = the key was not given (matches anything).
  std::vector<udp::IpPrefix> from;
  std::vector<std::string> users;  // exact names
  bool any_user = false;           // user=*
  bool unauthenticated = false;    // user=-
  bool has_user = false;
  bool has_to = false;
  std::vector<udp::IpPrefix> to_addresses;
  std::vector<std::string> to_hosts;     // lower case, no trailing dot
  std::vector<std::string> to_suffixes;  // lower case, without the leading dot: "example.com"
  std::vector<PortRange> ports;
  std::uint8_t commands = 0;  // bits of Command; 0 = any

  // The options of an allow rule.
  std::optional<udp::IpAddress> egress_v4;
  std::optional<udp::IpAddress> egress_v6;
  std::optional<std::uint64_t> rate;  // bytes per second, each direction
};

// One decision's facts. The views must outlive the call only.
struct Query {
  udp::IpAddress client;
  std::optional<absl::string_view> user;  // nullopt = unauthenticated
  Command command = Command::kConnect;
  std::optional<absl::string_view> name;  // the requested host name, if the target was one
  std::optional<udp::IpAddress> address;  // the target's (resolved) address
  std::uint16_t port = 0;
};

struct Decision {
  bool allow = false;
  const Rule* rule = nullptr;  // nullptr: the implicit deny at the end of the file

  // "FILE:LINE", or "default" for the implicit deny: the access log's rule=.
  absl::string_view source() const {
    return rule != nullptr ? absl::string_view(rule->source) : absl::string_view("default");
  }
};

class RuleSet {
 public:
  // `source` names the file in errors and in each rule's source.
  static absl::StatusOr<RuleSet> Parse(absl::string_view text, absl::string_view source);

  // First match wins over the query's client, user, command, name, address and port.
  Decision Decide(const Query& query) const;

  // Before the name is resolved (query.address is ignored): a deny when no address could be
  // allowed (the first rule that matches whatever the address is, a deny, or the implicit one),
  // else an allow with the first allow rule that may match. Refuse a name on a deny without
  // resolving it.
  Decision CouldAllow(const Query& query) const;

  // A request whose target is not known yet: a UDP association (its datagrams are decided one by
  // one), or a BIND whose DST.ADDR is 0.0.0.0 (any peer; the peer is decided when it connects).
  // Only from=, user= and cmd= are known: allowed if some allow rule may match a target; denied
  // by the first rule that matches whatever the target, or by the implicit deny.
  Decision DecideAnyTarget(const udp::IpAddress& client, std::optional<absl::string_view> user,
                           Command command) const;

  const std::vector<Rule>& rules() const { return rules_; }
  std::size_t size() const { return rules_.size(); }

 private:
  std::vector<Rule> rules_;
};

// RuleSet::Parse.
absl::StatusOr<RuleSet> ParseRules(absl::string_view text, absl::string_view source);
// Reads and parses `path` (errors name `path:LINE`).
absl::StatusOr<RuleSet> LoadRules(const std::string& path);

// Parses an IP literal (IPv4 dotted quad or IPv6; a mapped IPv6 address becomes IPv4).
std::optional<udp::IpAddress> ParseIp(absl::string_view text);

}  // namespace socks5::policy

#endif  // SOCKS5_POLICY_RULES_H_
