// CONNECT (RFC 1928 s.4): resolve, connect with Happy Eyeballs, reply with the outbound
// socket's local address, relay.
#include <chrono>

#include "net/address.h"
#include "net/log.h"
#include "relay/tcp_relay.h"
#include "session/handlers.h"
#include "session/happy_eyeballs.h"
#include "session/replies.h"
#include "session/rules.h"
#include "session/session_metrics.h"

namespace socks5::session {
namespace {

// RFC 8305 s.8 recommends 250 ms between connection attempts.
constexpr std::chrono::milliseconds kAttemptDelay(250);

// The addresses a CONNECT may try, each with the rule that allowed it (null without a rules file):
// its egress= applies to an attempt from that address, and the connected one's rule to the session.
struct Candidates {
  std::vector<asio::ip::tcp::endpoint> endpoints;
  std::vector<const policy::Rule*> rules;  // parallel to `endpoints`
  // With a rules file, parallel to `endpoints`: each attempt's source (its rule's egress= or
  // --outbound_address, session/egress.h); empty without one (the session's egress applies).
  std::vector<std::optional<asio::ip::address>> sources;
};

// The destination's addresses that may be connected to, in Happy Eyeballs order, through the one
// destination decision (udp/destination.h; IPv4-mapped becomes IPv4), then the rules (each
// address with the name, session/rules.h): a name resolving to a mix is connected to its allowed
// addresses only. Empty: `reply` says what to answer. A plain function, so its temporaries are
// gone before the relay (they would otherwise live on the coroutine frame, and their heap blocks
// with them, for the whole session).
Candidates AllowedCandidates(Session& session, const protocol::Address& destination,
                             const std::vector<asio::ip::address>& resolved,
                             protocol::Reply& reply) {
  std::vector<udp::IpAddress> addresses;
  for (const auto& address : InterleaveFamilies(resolved)) {
    addresses.push_back(net::ToUdpIp(address));
  }
  udp::Filtered filtered =
      udp::FilterResolved(*session.context().destinations, addresses, destination.port);
  Candidates candidates;
  const policy::RuleSet* rules = session.rules().get();
  policy::Query query = RuleQuery(session, policy::Command::kConnect);
  if (destination.is_domain()) query.name = std::get<std::string>(destination.host);
  query.port = destination.port;
  std::optional<policy::Decision> first_denial;
  bool no_egress = false;  // an allowed address had no egress address of its family
  for (const udp::IpAddress& ip : filtered.allowed) {
    const policy::Rule* rule = nullptr;
    const asio::ip::address address = net::ToAsio(ip);
    if (rules != nullptr) {
      query.address = ip;
      policy::Decision decision = rules->Decide(query);
      if (!decision.allow) {
        if (!first_denial) first_denial = decision;
        continue;
      }
      rule = decision.rule;
      const Egress egress = EgressForRule(session.settings().outbound, rule);
      if (!egress.Reaches(address)) {
        no_egress = true;
        continue;
      }
      candidates.sources.push_back(egress.For(address));
    } else if (!session.egress().Reaches(address)) {
      // A one-family egress reaches only that family's addresses (Happy Eyeballs tries no other).
      no_egress = true;
      continue;
    }
    candidates.endpoints.emplace_back(address, destination.port);
    candidates.rules.push_back(rule);
  }
  if (candidates.endpoints.empty() && no_egress && !first_denial) {
    net::LogDebug("CONNECT %s: no address of the egress family (--outbound_address, egress=)",
                  session.record().target);
    reply = protocol::Reply::kHostUnreachable;
    return candidates;
  }
  if (candidates.endpoints.empty()) {
    if (first_denial) {
      // Every address the destination policy allowed, a rule denied: 02.
      RecordRule(session, *first_denial);
      net::LogDebug("CONNECT %s refused by rule=%s", session.record().target,
                    first_denial->source());
      reply = protocol::Reply::kNotAllowed;
      return candidates;
    }
    net::LogDebug("CONNECT %s refused: %s", session.record().target,
                  udp::VerdictName(filtered.refusal));
    // A literal is refused (02); a name that leads only to unspecified addresses leads nowhere
    // (04); one that leads only to refused addresses is refused (02).
    const bool nowhere = destination.is_domain() && filtered.refusal == udp::Verdict::kUnspecified;
    reply = nowhere ? protocol::Reply::kHostUnreachable : protocol::Reply::kNotAllowed;
  } else if (rules != nullptr) {
    // Until one connects, the log names the rule of the first address tried.
    RecordRule(session, policy::Decision{true, candidates.rules.front()});
  }
  return candidates;
}

// Before resolving a name: false (after recording the rule) when no rule could allow it at any
// address, which is answered 02 without a lookup.
bool NameMayBeAllowed(Session& session, const protocol::Address& destination) {
  if (!session.rules() || !destination.is_domain()) return true;
  policy::Query query = RuleQuery(session, policy::Command::kConnect);
  query.name = std::get<std::string>(destination.host);
  query.port = destination.port;
  policy::Decision decision = session.rules()->CouldAllow(query);
  if (decision.allow) return true;
  RecordRule(session, decision);
  net::LogDebug("CONNECT %s refused before resolving by rule=%s", session.record().target,
                decision.source());
  return false;
}

// The upstream connection a CONNECT relays over, and the descriptor charge it holds.
struct Established {
  asio::ip::tcp::socket upstream;
  DescriptorCharge charge;
};

// Resolves, connects and replies; empty when the session ended with a failure reply. Its own
// coroutine so that its frame (the request's candidates, the attempts' results, every awaited
// temporary) is freed before the relay: RunConnect's frame lives as long as the session. Over 50
// lines: the steps of RFC 1928 s.4 in order, each with its own failure reply; split further, every
// piece would be another coroutine frame per session (issue 10 counts them).
asio::awaitable<std::optional<Established>> AsyncEstablish(Session& session,
                                                           const protocol::Address& destination) {
  const Settings& settings = session.settings();

  if (!NameMayBeAllowed(session, destination)) {
    co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
    co_return std::nullopt;
  }
  Candidates candidates;
  protocol::Reply refusal = protocol::Reply::kNotAllowed;
  {
    auto resolved = co_await AsyncResolve(session, destination);
    if (!resolved.ok()) {
      co_await AsyncFailAndClose(session, ReplyForError(resolved.error()));
      co_return std::nullopt;
    }
    candidates = AllowedCandidates(session, destination, *resolved, refusal);
  }
  if (candidates.endpoints.empty()) {
    co_await AsyncFailAndClose(session, refusal);
    co_return std::nullopt;
  }

  // The outbound socket this session keeps; each attempt in flight is charged as well
  // (session/admission.h). Over the descriptor budget: 01.
  Admission* admission = session.context().admission;
  DescriptorBudget* budget = admission ? &admission->descriptors : nullptr;
  std::optional<DescriptorCharge> upstream = ChargeForCommand(budget, 1, "CONNECT");
  if (!upstream) {
    co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
    co_return std::nullopt;
  }
  // A named local, not a temporary in the co_await expression: GCC 12 may destroy a temporary
  // with a non-trivial destructor (`sources`) there twice.
  ConnectLimits limits{.max_in_flight = settings.connect_max_attempts_in_flight,
                       .descriptors = budget,
                       .egress = session.egress(),
                       .sources = std::move(candidates.sources),
                       .attempts = &session.context().metrics.connect_attempts};
  const auto connect_start = std::chrono::steady_clock::now();
  ConnectResult connected = co_await AsyncConnectAny(
      std::move(candidates.endpoints), absl::ToChronoNanoseconds(settings.connect_timeout),
      kAttemptDelay, std::move(limits));
  CountConnect(session.context(), connected, std::chrono::steady_clock::now() - connect_start);
  if (!connected.ok()) {
    net::LogDebug("connect %s failed: %s", session.record().target, connected.error().message());
    co_await AsyncFailAndClose(session, ReplyForError(connected.error()));
    co_return std::nullopt;
  }
  // The rule that allowed the address reached (no getpeername: the race says which it was).
  if (session.rules() && connected->candidate < candidates.rules.size()) {
    if (const policy::Rule* rule = candidates.rules[connected->candidate]; rule != nullptr) {
      RecordRule(session, policy::Decision{true, rule});
      ApplyAllowingRule(session, rule);
    }
  }
  std::error_code ec;
  asio::ip::tcp::endpoint local = connected->socket.local_endpoint(ec);
  if (ec) {
    co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
    co_return std::nullopt;
  }
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, net::FromEndpoint(local))) {
    co_return std::nullopt;
  }
  co_return Established{std::move(connected->socket), std::move(*upstream)};
}

}  // namespace

asio::awaitable<void> RunConnect(Session& session, const protocol::Request& request) {
  std::optional<Established> established = co_await AsyncEstablish(session, request.destination);
  if (!established) co_return;
  co_await relay::AsyncRelay(
      session.client(), std::move(established->upstream), std::move(session.early_data()),
      session.record().bytes, session.context().pools,
      absl::ToChronoNanoseconds(session.settings().idle_timeout), session.rate_limiter());
}

}  // namespace socks5::session
