// BIND (RFC 1928 s.4, docs/conformance.md E): listen where the application server can reach us,
// reply with that address, wait for the one expected connection, reply with its address, relay.
//
// Which peer may complete the BIND: when DST.ADDR is not all zeros, only a connection from that
// IP (any of a domain's addresses) does; others are reset and the wait goes on. DST.PORT is not
// checked: RFC 1928 names the address, and an FTP server connects from its data port, not the
// control port the client knows. A client that does not know the peer's address sends
// DST.ADDR 0.0.0.0 (or ::), which accepts the first connection from anywhere. With --rules_file
// (session/rules.h) DST.ADDR is decided as the target, and the incoming peer must be allowed too.
//
// Replies: first 00 with --advertise_address or the listener's address (the source address this
// host uses toward DST.ADDR; the control connection's local address when DST.ADDR is all zeros),
// never 0.0.0.0. Second 00 with the peer's address and port; or 06 (TTL expired) when nobody
// acceptable connected within --bind_timeout (06 because the wait timed out, as a CONNECT
// timeout is answered). Every port of --bind_port_range in use: 01. Closing the control
// connection while waiting ends the BIND and frees the port at once.
#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "asio/experimental/awaitable_operators.hpp"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "net/socket.h"
#include "relay/tcp_relay.h"
#include "session/bind_policy.h"
#include "session/handlers.h"
#include "session/replies.h"
#include "session/rules.h"
#include "udp/destination.h"

namespace socks5::session {
namespace {

using namespace asio::experimental::awaitable_operators;
using net::kUseTuple;

// Client bytes accepted before the second reply (kept for the relay). The client should send
// nothing yet; past this much the control connection is no longer read until the wait ends
// (TCP flow control holds the rest back), so a close is then noticed only by the timeout.
constexpr std::size_t kMaxEarlyData = 64 * 1024;
// One connection is expected; a few more may queue while wrong peers are being refused.
constexpr int kBacklog = 16;

// The rules an incoming peer must also pass (session/rules.h): decided as the BIND's target,
// with DST's name (when it was one) and DST.PORT. Held by value: the accept loop is a coroutine.
struct PeerRules {
  std::shared_ptr<const policy::RuleSet> rules;  // null: no rules file
  udp::IpAddress client;
  std::optional<std::string> user;
  std::optional<std::string> name;
  std::uint16_t port = 0;

  policy::Decision Decide(const asio::ip::address& peer) const {
    policy::Query query;
    query.client = client;
    if (user) query.user = absl::string_view(*user);
    query.command = policy::Command::kBind;
    if (name) query.name = absl::string_view(*name);
    query.address = net::ToUdpIp(peer);
    query.port = port;
    return rules->Decide(query);
  }
};

// Accepts until a connection from an expected peer, allowed by the rules, arrives; resets the
// others. `decided` gets the rule that allowed the peer.
asio::awaitable<net::Result<asio::ip::tcp::socket>> AsyncAcceptExpected(
    asio::ip::tcp::acceptor& acceptor, std::vector<asio::ip::address> expected,
    PeerRules peer_rules, policy::Decision& decided) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec == asio::error::connection_aborted) continue;  // the peer gave up first
    if (ec) co_return ec;
    std::error_code ignored;
    asio::ip::tcp::endpoint from = socket.remote_endpoint(ignored);
    std::string why = "not DST.ADDR";
    if (BindPeerAllowed(expected, from.address())) {
      if (!peer_rules.rules) co_return std::move(socket);
      policy::Decision decision = peer_rules.Decide(from.address());
      if (decision.allow) {
        decided = decision;
        co_return std::move(socket);
      }
      why = absl::StrCat("rule=", decision.source());
    }
    net::LogInfo("BIND on %s refused a connection from %s (%s)",
                 net::FromEndpoint(acceptor.local_endpoint(ignored)).ToString(),
                 net::FromEndpoint(from).ToString(), why);
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }
}

// Returns when the client closes the control connection (EOF or error). Bytes it sends in the
// meantime are kept as early data for the relay.
asio::awaitable<void> AsyncWatchControl(Session& session) {
  std::array<std::uint8_t, 4096> chunk;
  std::vector<std::uint8_t>& early = session.early_data();
  while (early.size() < kMaxEarlyData) {
    auto [ec, n] = co_await session.client().async_read_some(asio::buffer(chunk), kUseTuple);
    if (ec) co_return;
    early.insert(early.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
  // Enough buffered: stop reading and let the other waits decide (cancelled when they do).
  asio::steady_timer never(session.client().get_executor(), asio::steady_timer::time_point::max());
  co_await net::AsyncWait(never);
}

// The peers that may complete the BIND (none listed: anyone may), or the resolve error.
asio::awaitable<net::Result<std::vector<asio::ip::address>>> AsyncExpectedPeers(
    Session& session, const protocol::Address& destination) {
  if (destination.is_unspecified_ip()) co_return std::vector<asio::ip::address>{};
  auto resolved = co_await AsyncResolve(session, destination);
  if (!resolved.ok()) co_return resolved;
  // Canonical (IPv4-mapped becomes IPv4), like every destination (udp/destination.h); a name's
  // unspecified addresses name no peer (an all-zero DST.ADDR literal means "anyone", above).
  std::vector<asio::ip::address> expected;
  for (const auto& address : *resolved) {
    const udp::IpAddress ip = net::ToUdpIp(address);
    if (!udp::IsUnspecifiedRange(ip)) expected.push_back(net::ToAsio(ip));
  }
  if (expected.empty()) co_return std::error_code(EHOSTUNREACH, std::system_category());
  co_return expected;
}

// The address the application server can reach: the one this host uses toward it (a domain's
// first address with a route), or the control connection's own when any peer may connect.
// With an egress address (session/egress.h) the listener is on it instead: the expected peer's
// family's one (a one-family egress and no expected peer of that family: EHOSTUNREACH, 04), or,
// any peer allowed, the control connection's family's one, else the other.
net::Result<asio::ip::address> ListenAddress(Session& session,
                                             const std::vector<asio::ip::address>& expected,
                                             std::uint16_t port) {
  std::error_code ec;
  if (const Egress& egress = session.egress(); !egress.empty()) {
    for (const auto& peer : expected) {
      if (const auto& source = egress.For(peer)) return *source;
    }
    if (!expected.empty()) return std::error_code(EHOSTUNREACH, std::system_category());
    asio::ip::address local = net::Unmapped(session.client().local_endpoint(ec).address());
    if (ec) return ec;
    return egress.For(local).value_or(egress.v4 ? *egress.v4 : *egress.v6);
  }
  if (expected.empty()) {
    asio::ip::address local = net::Unmapped(session.client().local_endpoint(ec).address());
    if (ec) return ec;
    return local;
  }
  net::Result<asio::ip::address> toward =
      net::LocalAddressToward(session.context().io, expected.front(), port);
  for (std::size_t i = 1; i < expected.size() && !toward.ok(); ++i) {
    toward = net::LocalAddressToward(session.context().io, expected[i], port);
  }
  return toward;
}

// Opens the listener and sends the first reply; the advertised address, or nullopt when the
// session is over (after the failure reply).
asio::awaitable<std::optional<protocol::Address>> AsyncListenAndReply(
    Session& session, asio::ip::tcp::acceptor& acceptor, const asio::ip::address& listen_on) {
  const Settings& settings = session.settings();
  std::error_code ec = net::OpenListenerInRange(acceptor, listen_on, session.context().bind_ports(),
                                                net::ListenOptions{.backlog = kBacklog});
  if (ec) {
    if (ec == asio::error::address_in_use && settings.bind_port_range) {
      net::LogWarning("BIND: every port of --bind_port_range=%s on %s is in use",
                      settings.bind_port_range->ToString(), listen_on.to_string());
    } else {
      net::LogWarning("BIND: cannot listen on %s: %s", listen_on.to_string(), ec.message());
    }
    co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
    co_return std::nullopt;
  }
  asio::ip::tcp::endpoint listening = acceptor.local_endpoint(ec);
  std::optional<asio::ip::address> advertised =
      ec ? std::nullopt : BindReplyAddress(settings.advertise_address, listening.address());
  if (!advertised) {
    co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
    co_return std::nullopt;
  }
  protocol::Address bound = net::FromAsio(*advertised, listening.port());
  session.record().fields().bound = bound;
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, bound)) co_return std::nullopt;
  co_return bound;
}

// Waits for the expected peer, the client's close, or --bind_timeout; whichever comes first
// cancels the others. The peer, or nullopt when the session is over (after any reply).
asio::awaitable<std::optional<asio::ip::tcp::socket>> AsyncAwaitPeer(
    Session& session, asio::ip::tcp::acceptor& acceptor, std::vector<asio::ip::address> expected,
    PeerRules peer_rules, const protocol::Address& bound) {
  std::optional<net::Result<asio::ip::tcp::socket>> accepted;
  policy::Decision decided;
  auto waited = co_await net::AsyncWithDeadline(
      net::AsyncInto(
          AsyncAcceptExpected(acceptor, std::move(expected), std::move(peer_rules), decided),
          accepted) ||
          AsyncWatchControl(session),
      absl::ToChronoNanoseconds(session.settings().bind_timeout));
  std::error_code ec;
  acceptor.close(ec);  // frees the port now, whatever happens next
  if (!waited) {
    net::LogDebug("BIND on %s: nobody connected within --bind_timeout", bound.ToString());
    session.record().fields().outcome = "timeout";
    co_await AsyncFailAndClose(session, protocol::Reply::kTtlExpired);
    co_return std::nullopt;
  }
  if (waited->index() == 1) {
    net::LogDebug("BIND on %s: the client closed the control connection", bound.ToString());
    session.record().fields().outcome = "client_closed";
    session.client().close(ec);
    co_return std::nullopt;
  }
  // The accept finished first (AsyncInto stored its result).
  if (!accepted->ok()) {
    net::LogWarning("BIND on %s: accept failed: %s", bound.ToString(), accepted->error().message());
    co_await AsyncFailAndClose(session, ReplyForError(accepted->error()));
    co_return std::nullopt;
  }
  if (session.rules()) RecordRule(session, decided);  // the rule that let the peer in
  co_return std::move(accepted->value());
}
// The rules on the request (session/rules.h), before anything is resolved: DST 0.0.0.0 (any peer)
// by from/user/cmd alone, a name by whether any rule could allow it. False after recording the
// deciding rule: answer 02.
bool BindRequestMayBeAllowed(Session& session, const protocol::Address& destination) {
  if (!session.rules()) return true;
  policy::Decision decision;
  if (destination.is_unspecified_ip()) {
    policy::Query base = RuleQuery(session, policy::Command::kBind);
    decision = session.rules()->DecideAnyTarget(base.client, base.user, policy::Command::kBind);
    RecordRule(session, decision);
    if (decision.allow) ApplyAllowingRule(session, decision.rule);
  } else if (destination.is_domain()) {
    policy::Query query = RuleQuery(session, policy::Command::kBind);
    query.name = std::get<std::string>(destination.host);
    query.port = destination.port;
    decision = session.rules()->CouldAllow(query);
    if (!decision.allow) RecordRule(session, decision);
  } else {
    return true;  // a literal is decided with its address, after the lookup that is not needed
  }
  if (!decision.allow) {
    net::LogDebug("BIND %s refused by rule=%s", session.record().target, decision.source());
  }
  return decision.allow;
}

// The expected peers the rules allow (each address with DST's name and port); empty after
// recording the first denial: answer 02. Records and applies the rule of the first allowed.
std::vector<asio::ip::address> AllowedPeers(Session& session, const protocol::Address& destination,
                                            std::vector<asio::ip::address> expected) {
  if (!session.rules() || expected.empty()) return expected;
  policy::Query query = RuleQuery(session, policy::Command::kBind);
  if (destination.is_domain()) query.name = std::get<std::string>(destination.host);
  query.port = destination.port;
  std::vector<asio::ip::address> allowed;
  std::optional<policy::Decision> first_allowed;
  std::optional<policy::Decision> first_denial;
  for (const asio::ip::address& address : expected) {
    query.address = net::ToUdpIp(address);
    policy::Decision decision = session.rules()->Decide(query);
    if (decision.allow) {
      allowed.push_back(address);
      if (!first_allowed) first_allowed = decision;
    } else if (!first_denial) {
      first_denial = decision;
    }
  }
  if (first_allowed) {
    RecordRule(session, *first_allowed);
    ApplyAllowingRule(session, first_allowed->rule);
  } else {
    RecordRule(session, *first_denial);
    net::LogDebug("BIND %s refused by rule=%s", session.record().target, first_denial->source());
  }
  return allowed;
}

PeerRules PeerRulesFor(const Session& session, const protocol::Address& destination) {
  PeerRules peer_rules;
  peer_rules.rules = session.rules();
  peer_rules.client = net::ToUdpIp(session.client_endpoint().address());
  peer_rules.user = session.user();
  if (destination.is_domain()) peer_rules.name = std::get<std::string>(destination.host);
  peer_rules.port = destination.port;
  return peer_rules;
}

}  // namespace

asio::awaitable<void> RunBind(Session& session, const protocol::Request& request) {
  const protocol::Address& destination = request.destination;
  // The listener and the peer (session/admission.h); over the descriptor budget: 01.
  Admission* admission = session.context().admission;
  std::optional<DescriptorCharge> descriptors =
      ChargeForCommand(admission ? &admission->descriptors : nullptr, kBindDescriptors, "BIND");
  if (!descriptors) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  if (!BindRequestMayBeAllowed(session, destination)) {
    co_return co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
  }
  auto expected = co_await AsyncExpectedPeers(session, destination);
  if (!expected.ok())
    co_return co_await AsyncFailAndClose(session, ReplyForError(expected.error()));
  if (!destination.is_unspecified_ip()) {
    *expected = AllowedPeers(session, destination, std::move(*expected));
    if (expected->empty()) {
      co_return co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
    }
  }
  net::Result<asio::ip::address> listen_on = ListenAddress(session, *expected, destination.port);
  if (!listen_on.ok()) {
    net::LogDebug("BIND %s: no local address toward it: %s", session.record().target,
                  listen_on.error().message());
    co_return co_await AsyncFailAndClose(session, ReplyForError(listen_on.error()));
  }
  asio::ip::tcp::acceptor acceptor(session.client().get_executor());
  std::optional<protocol::Address> bound =
      co_await AsyncListenAndReply(session, acceptor, *listen_on);
  if (!bound) co_return;
  std::optional<asio::ip::tcp::socket> peer = co_await AsyncAwaitPeer(
      session, acceptor, std::move(*expected), PeerRulesFor(session, destination), *bound);
  if (!peer) co_return;

  std::error_code ec;
  asio::ip::tcp::endpoint from = peer->remote_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, ReplyForError(ec));
  protocol::Address peer_address = net::FromEndpoint(from);
  session.record().fields().peer = peer_address;
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, peer_address)) co_return;
  co_await relay::AsyncRelay(session.client(), std::move(*peer), std::move(session.early_data()),
                             session.record().bytes, session.context().pools,
                             absl::ToChronoNanoseconds(session.settings().idle_timeout),
                             session.rate_limiter());
}

}  // namespace socks5::session
