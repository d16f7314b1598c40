// Tor's SOCKS extensions (tor's doc/socks-extensions.txt; docs/conformance.md T): RESOLVE (F0)
// answers the address of a name, RESOLVE_PTR (F1) the name of an address, in BND.ADDR of one
// reply, then the connection is closed. Both go through the server's resolver (its servers, its
// timeout, its caps), the destination policy and the rules (cmd=resolve, cmd=resolve_ptr): an
// answer is only what a CONNECT could have been allowed to reach, so the proxy's resolver is no
// oracle for destinations the operator has denied.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dns/resolver.h"
#include "net/address.h"
#include "net/log.h"
#include "session/handlers.h"
#include "session/replies.h"
#include "session/rules.h"

namespace socks5::session {
namespace {

// The answer of a RESOLVE, or the refusal to send.
struct Answer {
  std::optional<asio::ip::address> address;
  protocol::Reply refusal = protocol::Reply::kNotAllowed;
};

// The first of `resolved` that the destination policy and the rules allow, as for a CONNECT to
// DST.ADDR:DST.PORT (each address decided with the name): IPv4 addresses first, then IPv6, each
// family in the resolver's order. Not Happy Eyeballs' order (IPv6 first where the host has
// IPv6): a RESOLVE carries no family and gets one address, and torsocks, the client that sends
// most of them, asks on behalf of an AF_INET getaddrinfo() and fails on an IPv6 answer
// ("Resolve destination buffer too small"); Tor answers IPv4 first too (its PreferIPv6 is off by
// default). A name with only AAAA records is answered with IPv6. None allowed: 02 when a rule or
// the policy refused, 04 when the name leads only to unspecified addresses. A plain function, so
// its temporaries are gone before the reply is awaited.
Answer ChooseAnswer(Session& session, const protocol::Address& destination,
                    const std::vector<asio::ip::address>& resolved) {
  std::vector<udp::IpAddress> addresses;
  for (const bool v4 : {true, false}) {
    for (const auto& address : resolved) {
      const asio::ip::address plain = net::Unmapped(address);
      if (plain.is_v4() == v4) addresses.push_back(net::ToUdpIp(plain));
    }
  }
  udp::Filtered filtered =
      udp::FilterResolved(*session.context().destinations, addresses, destination.port);
  Answer answer;
  const policy::RuleSet* rules = session.rules().get();
  policy::Query query = RuleQuery(session, policy::Command::kResolve);
  if (destination.is_domain()) query.name = std::get<std::string>(destination.host);
  query.port = destination.port;
  std::optional<policy::Decision> first_denial;
  for (const udp::IpAddress& ip : filtered.allowed) {
    if (rules != nullptr) {
      query.address = ip;
      policy::Decision decision = rules->Decide(query);
      if (!decision.allow) {
        if (!first_denial) first_denial = decision;
        continue;
      }
      RecordRule(session, decision);
    }
    answer.address = net::ToAsio(ip);
    return answer;
  }
  if (first_denial) {
    RecordRule(session, *first_denial);
  } else if (filtered.refusal == udp::Verdict::kUnspecified) {
    answer.refusal = protocol::Reply::kHostUnreachable;
  }
  net::LogDebug("RESOLVE %s refused: %s", session.record().target,
                first_denial ? std::string(first_denial->source())
                             : std::string(udp::VerdictName(filtered.refusal)));
  return answer;
}

// Before the lookup: false (the rule recorded) when no rule could allow the name at any address.
bool NameMayBeAllowed(Session& session, const protocol::Address& destination) {
  if (!session.rules() || !destination.is_domain()) return true;
  policy::Query query = RuleQuery(session, policy::Command::kResolve);
  query.name = std::get<std::string>(destination.host);
  query.port = destination.port;
  policy::Decision decision = session.rules()->CouldAllow(query);
  if (decision.allow) return true;
  RecordRule(session, decision);
  return false;
}

// May the PTR of `ip` be looked up? The destination policy (DST.PORT as given) and the rules.
protocol::Reply PtrRefusal(Session& session, const udp::IpAddress& ip, std::uint16_t port) {
  udp::Filtered filtered = udp::FilterResolved(*session.context().destinations, {ip}, port);
  if (filtered.allowed.empty()) {
    return filtered.refusal == udp::Verdict::kUnspecified ? protocol::Reply::kHostUnreachable
                                                          : protocol::Reply::kNotAllowed;
  }
  if (const policy::RuleSet* rules = session.rules().get()) {
    policy::Query query = RuleQuery(session, policy::Command::kResolvePtr);
    query.address = ip;
    query.port = port;
    policy::Decision decision = rules->Decide(query);
    RecordRule(session, decision);
    if (!decision.allow) return protocol::Reply::kNotAllowed;
  }
  return protocol::Reply::kSucceeded;
}

// Sends the answer (BND.PORT 0, as Tor sends it), records it as bound=, and closes.
asio::awaitable<void> AsyncAnswerAndClose(Session& session, protocol::Address answer) {
  session.record().fields().bound = answer;
  if (co_await AsyncSendReply(session, protocol::Reply::kSucceeded, answer)) {
    co_await AsyncCloseGracefully(session.client());
  } else {
    std::error_code ignored;
    session.client().close(ignored);
  }
}

}  // namespace

asio::awaitable<void> RunResolve(Session& session, const protocol::Request& request) {
  const protocol::Address& destination = request.destination;
  if (!NameMayBeAllowed(session, destination)) {
    co_return co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
  }
  Answer answer;
  {
    // The resolver's own deadline (--dns_timeout) bounds the wait; NXDOMAIN, no address,
    // timeout and the caps (kBusy, kOverBudget) are all 04 (ReplyForError).
    auto resolved = co_await AsyncResolve(session, destination);
    if (!resolved.ok()) {
      co_return co_await AsyncFailAndClose(session, ReplyForError(resolved.error()));
    }
    answer = ChooseAnswer(session, destination, *resolved);
  }
  if (!answer.address) co_return co_await AsyncFailAndClose(session, answer.refusal);
  // A named local, not a temporary in the co_await expression: GCC 12 destroys such a temporary
  // (the Address's string) twice (see connect.cc).
  protocol::Address bound = net::FromAsio(*answer.address, 0);
  co_await AsyncAnswerAndClose(session, std::move(bound));
}

asio::awaitable<void> RunResolvePtr(Session& session, const protocol::Request& request) {
  std::optional<protocol::Address> query = protocol::PtrQueryAddress(request.destination);
  if (!query) {
    // A name that is no IP literal has no PTR to look up.
    co_return co_await AsyncFailAndClose(session, protocol::Reply::kAddressTypeNotSupported);
  }
  const asio::ip::address address = net::ToAsioAddress(*query);
  const protocol::Reply refusal = PtrRefusal(session, net::ToUdpIp(address), query->port);
  if (refusal != protocol::Reply::kSucceeded) {
    co_return co_await AsyncFailAndClose(session, refusal);
  }
  // Stored whole before it is unpacked (STYLE.md: a GCC coroutine leak otherwise).
  std::pair<std::error_code, std::string> result =
      co_await session.context().resolver.AsyncResolvePtr(address);
  auto& [error, name] = result;
  // A name the wire cannot carry (RFC 1035 names are at most 253 bytes; be safe) is no answer.
  if (!error && (name.empty() || name.size() > 255)) {
    error = dns::make_error_code(dns::Errc::kNotFound);
  }
  if (error) {
    net::LogDebug("PTR %s failed: %s", address.to_string(), error.message());
    co_return co_await AsyncFailAndClose(session, ReplyForError(error));
  }
  protocol::Address bound{std::move(name), 0};  // named: see RunResolve
  co_await AsyncAnswerAndClose(session, std::move(bound));
}

}  // namespace socks5::session
