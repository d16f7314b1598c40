// CONNECT (RFC 1928 s.4): resolve, connect with Happy Eyeballs, reply with the outbound
// socket's local address, relay.
#include <chrono>

#include "net/address.h"
#include "net/log.h"
#include "relay/tcp_relay.h"
#include "session/handlers.h"
#include "session/happy_eyeballs.h"
#include "session/replies.h"

namespace socks5::session {
namespace {

// RFC 8305 s.8 recommends 250 ms between connection attempts.
constexpr std::chrono::milliseconds kAttemptDelay(250);

// The destination's addresses that may be connected to, in Happy Eyeballs order, through the one
// destination decision (udp/destination.h; IPv4-mapped becomes IPv4): a name resolving to a mix is
// connected to its allowed addresses only. Empty: `reply` says what to answer. A plain function,
// so its temporaries are gone before the relay (they would otherwise live on the coroutine frame,
// and their heap blocks with them, for the whole session).
std::vector<asio::ip::tcp::endpoint> AllowedCandidates(
    Session& session, const protocol::Address& destination,
    const std::vector<asio::ip::address>& resolved, protocol::Reply& reply) {
  std::vector<udp::IpAddress> addresses;
  for (const auto& address : InterleaveFamilies(resolved)) {
    addresses.push_back(net::ToUdpIp(address));
  }
  udp::Filtered filtered =
      udp::FilterResolved(*session.context().destinations, addresses, destination.port);
  std::vector<asio::ip::tcp::endpoint> candidates;
  for (const udp::IpAddress& ip : filtered.allowed) {
    candidates.emplace_back(net::ToAsio(ip), destination.port);
  }
  if (candidates.empty()) {
    net::LogDebug("CONNECT %s refused: %s", session.record().target,
                  udp::VerdictName(filtered.refusal));
    // A literal is refused (02); a name that leads only to unspecified addresses leads nowhere
    // (04); one that leads only to refused addresses is refused (02).
    const bool nowhere = destination.is_domain() && filtered.refusal == udp::Verdict::kUnspecified;
    reply = nowhere ? protocol::Reply::kHostUnreachable : protocol::Reply::kNotAllowed;
    return candidates;
  }
  // A one-family egress (session/egress.h) reaches only that family's addresses: none left, 04.
  candidates = ReachableCandidates(session.egress(), std::move(candidates));
  if (candidates.empty()) {
    net::LogDebug("CONNECT %s: no address of the egress family (--outbound_address)",
                  session.record().target);
    reply = protocol::Reply::kHostUnreachable;
  }
  return candidates;
}

}  // namespace

asio::awaitable<void> RunConnect(Session& session, protocol::Request request) {
  const Settings& settings = session.settings();
  const protocol::Address& destination = request.destination;

  std::vector<asio::ip::tcp::endpoint> candidates;
  protocol::Reply refusal = protocol::Reply::kNotAllowed;
  {
    auto resolved = co_await AsyncResolve(session, destination);
    if (!resolved.ok())
      co_return co_await AsyncFailAndClose(session, ReplyForError(resolved.error()));
    candidates = AllowedCandidates(session, destination, *resolved, refusal);
  }
  if (candidates.empty()) co_return co_await AsyncFailAndClose(session, refusal);

  // The outbound socket this session keeps; each attempt in flight is charged as well
  // (session/admission.h). Over the descriptor budget: 01.
  Admission* admission = session.context().admission;
  DescriptorBudget* budget = admission ? &admission->descriptors : nullptr;
  std::optional<DescriptorCharge> upstream = ChargeForCommand(budget, 1, "CONNECT");
  if (!upstream) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  ConnectResult connected = co_await AsyncConnectAny(
      std::move(candidates), absl::ToChronoNanoseconds(settings.connect_timeout), kAttemptDelay,
      ConnectLimits{.max_in_flight = settings.connect_max_attempts_in_flight,
                    .descriptors = budget,
                    .egress = session.egress()});
  if (!connected.ok()) {
    net::LogDebug("connect %s failed: %s", session.record().target, connected.error().message());
    co_return co_await AsyncFailAndClose(session, ReplyForError(connected.error()));
  }
  std::error_code ec;
  asio::ip::tcp::endpoint local = connected->local_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, net::FromEndpoint(local))) {
    co_return;
  }
  co_await relay::AsyncRelay(session.client(), std::move(*connected),
                             std::move(session.early_data()), session.record().bytes,
                             session.context().pools,
                             absl::ToChronoNanoseconds(session.settings().idle_timeout),
                             session.rate_limiter());
}

}  // namespace socks5::session
