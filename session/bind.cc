// BIND (RFC 1928 s.4, docs/conformance.md E): listen where the application server can reach us,
// reply with that address, wait for the one expected connection, reply with its address, relay.
//
// Which peer may complete the BIND: when DST.ADDR is not all zeros, only a connection from that
// IP (any of a domain's addresses) does; others are reset and the wait goes on. DST.PORT is not
// checked: RFC 1928 names the address, and an FTP server connects from its data port, not the
// control port the client knows. A client that does not know the peer's address sends
// DST.ADDR 0.0.0.0 (or ::), which accepts the first connection from anywhere.
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
#include <vector>

#include "asio/experimental/awaitable_operators.hpp"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "net/socket.h"
#include "relay/tcp_relay.h"
#include "session/bind_policy.h"
#include "session/handlers.h"
#include "session/replies.h"
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

// Accepts until a connection from an expected peer arrives; resets the others.
asio::awaitable<net::Result<asio::ip::tcp::socket>> AsyncAcceptExpected(
    asio::ip::tcp::acceptor& acceptor, std::vector<asio::ip::address> expected) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kUseTuple);
    if (ec == asio::error::connection_aborted) continue;  // the peer gave up first
    if (ec) co_return ec;
    std::error_code ignored;
    asio::ip::tcp::endpoint from = socket.remote_endpoint(ignored);
    if (BindPeerAllowed(expected, from.address())) co_return std::move(socket);
    net::LogInfo("BIND on %s refused a connection from %s (not DST.ADDR)",
                 net::FromEndpoint(acceptor.local_endpoint(ignored)).ToString(),
                 net::FromEndpoint(from).ToString());
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
  session.record().bound = bound;
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, bound)) co_return std::nullopt;
  co_return bound;
}

// Waits for the expected peer, the client's close, or --bind_timeout; whichever comes first
// cancels the others. The peer, or nullopt when the session is over (after any reply).
asio::awaitable<std::optional<asio::ip::tcp::socket>> AsyncAwaitPeer(
    Session& session, asio::ip::tcp::acceptor& acceptor, std::vector<asio::ip::address> expected,
    const protocol::Address& bound) {
  std::optional<net::Result<asio::ip::tcp::socket>> accepted;
  auto waited = co_await net::AsyncWithDeadline(
      net::AsyncInto(AsyncAcceptExpected(acceptor, std::move(expected)), accepted) ||
          AsyncWatchControl(session),
      absl::ToChronoNanoseconds(session.settings().bind_timeout));
  std::error_code ec;
  acceptor.close(ec);  // frees the port now, whatever happens next
  if (!waited) {
    net::LogDebug("BIND on %s: nobody connected within --bind_timeout", bound.ToString());
    session.record().outcome = "timeout";
    co_await AsyncFailAndClose(session, protocol::Reply::kTtlExpired);
    co_return std::nullopt;
  }
  if (waited->index() == 1) {
    net::LogDebug("BIND on %s: the client closed the control connection", bound.ToString());
    session.record().outcome = "client_closed";
    session.client().close(ec);
    co_return std::nullopt;
  }
  // The accept finished first (AsyncInto stored its result).
  if (!accepted->ok()) {
    net::LogWarning("BIND on %s: accept failed: %s", bound.ToString(), accepted->error().message());
    co_await AsyncFailAndClose(session, ReplyForError(accepted->error()));
    co_return std::nullopt;
  }
  co_return std::move(accepted->value());
}
}  // namespace

asio::awaitable<void> RunBind(Session& session, protocol::Request request) {
  const protocol::Address& destination = request.destination;
  // The listener and the peer (session/admission.h); over the descriptor budget: 01.
  Admission* admission = session.context().admission;
  std::optional<DescriptorCharge> descriptors =
      ChargeForCommand(admission ? &admission->descriptors : nullptr, kBindDescriptors, "BIND");
  if (!descriptors) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  auto expected = co_await AsyncExpectedPeers(session, destination);
  if (!expected.ok())
    co_return co_await AsyncFailAndClose(session, ReplyForError(expected.error()));
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
  std::optional<asio::ip::tcp::socket> peer =
      co_await AsyncAwaitPeer(session, acceptor, std::move(*expected), *bound);
  if (!peer) co_return;

  std::error_code ec;
  asio::ip::tcp::endpoint from = peer->remote_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, ReplyForError(ec));
  protocol::Address peer_address = net::FromEndpoint(from);
  session.record().peer = peer_address;
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, peer_address)) co_return;
  co_await relay::AsyncRelay(session.client(), std::move(*peer), std::move(session.early_data()),
                             session.record().bytes, session.context().pools,
                             absl::ToChronoNanoseconds(session.settings().idle_timeout),
                             session.rate_limiter());
}

}  // namespace socks5::session
