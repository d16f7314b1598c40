// BIND (RFC 1928 s.4, CONFORMANCE.md E): listen where the application server can reach us,
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
#include <algorithm>
#include <array>
#include <chrono>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "server/bind_listener.h"
#include "server/bind_policy.h"
#include "server/handlers.h"
#include "server/log.h"
#include "server/net.h"
#include "server/relay.h"
#include "server/worker.h"

namespace socks5::server {
namespace {

using asio::experimental::as_tuple;
using namespace asio::experimental::awaitable_operators;
constexpr auto kUseTuple = as_tuple(asio::use_awaitable);

// Client bytes accepted before the second reply (kept for the relay). The client should send
// nothing yet; past this much the control connection is no longer read until the wait ends
// (TCP flow control holds the rest back), so a close is then noticed only by the timeout.
constexpr std::size_t kMaxEarlyData = 64 * 1024;

// This worker's round-robin picker over --bind_port_range; null when the flag is unset. Each
// worker runs on its own thread, so a thread-local map needs no lock.
udp::PortPicker* PickerFor(Worker& worker) {
  const Config& config = worker.config();
  if (!config.bind_port_range) return nullptr;
  const udp::PortRange& range = *config.bind_port_range;
  thread_local absl::flat_hash_map<const Worker*, udp::PortPicker> pickers;
  auto it = pickers.find(&worker);
  if (it == pickers.end() || it->second.range() != range) {
    // Workers start apart in the range so that they do not all try the same ports first.
    std::size_t start = static_cast<std::size_t>(worker.index()) * range.size() /
                        static_cast<std::size_t>(std::max(1, config.workers));
    it = pickers.insert_or_assign(&worker, udp::PortPicker(range, start)).first;
  }
  return &it->second;
}

// Accepts until a connection from an expected peer arrives (into `peer`); resets the others.
asio::awaitable<std::error_code> AsyncAcceptExpected(asio::ip::tcp::acceptor& acceptor,
                                                     std::vector<asio::ip::address> expected,
                                                     asio::ip::tcp::socket& peer) {
  for (;;) {
    auto accepted = co_await acceptor.async_accept(kUseTuple);
    auto& [ec, socket] = accepted;
    if (ec == asio::error::connection_aborted) continue;  // the peer gave up first
    if (ec) co_return ec;
    std::error_code ignored;
    asio::ip::tcp::endpoint from = socket.remote_endpoint(ignored);
    if (BindPeerAllowed(expected, from.address())) {
      peer = std::move(socket);
      co_return std::error_code();
    }
    LogInfo("BIND on %s refused a connection from %s (not DST.ADDR)",
            FromEndpoint(acceptor.local_endpoint(ignored)).ToString(),
            FromEndpoint(from).ToString());
    socket.set_option(asio::socket_base::linger(true, 0), ignored);
    socket.close(ignored);
  }
}

// Returns when the client closes the control connection (EOF or error). Bytes it sends in the
// meantime are kept as early data for the relay.
asio::awaitable<void> AsyncWatchControl(Session& session) {
  std::array<std::uint8_t, 4096> chunk;
  while (session.early_data.size() < kMaxEarlyData) {
    auto result = co_await session.client.async_read_some(asio::buffer(chunk), kUseTuple);
    auto [ec, n] = result;
    if (ec) co_return;
    session.early_data.insert(session.early_data.end(), chunk.begin(), chunk.begin() + n);
  }
  // Enough buffered: stop reading and let the other waits decide (cancelled when they do).
  asio::steady_timer never(session.client.get_executor(), asio::steady_timer::time_point::max());
  auto waited = co_await never.async_wait(kUseTuple);
  (void)waited;
}

asio::awaitable<void> AsyncExpire(asio::steady_timer& timer) {
  auto waited = co_await timer.async_wait(kUseTuple);
  (void)waited;
}

}  // namespace

asio::awaitable<void> RunBind(Session& session, protocol::Request request) {
  Worker& worker = session.worker;
  const Config& config = worker.config();
  const protocol::Address& destination = request.destination;

  // The peers that may complete the BIND; none listed: anyone may.
  std::vector<asio::ip::address> expected;
  if (destination.is_domain()) {
    std::optional<std::vector<asio::ip::address>> resolved =
        co_await AsyncResolveOrFail(session, destination);
    if (!resolved) co_return;
    expected = std::move(*resolved);
  } else if (!destination.is_unspecified_ip()) {
    expected.push_back(ToAsioAddress(destination));
  }

  // Listen on the address the application server can reach: the one this host uses toward it.
  std::error_code ec;
  asio::ip::address listen_on;
  if (expected.empty()) {
    listen_on = Unmapped(session.client.local_endpoint(ec).address());
  } else {
    // A domain's first address this host has a route to.
    for (const asio::ip::address& address : expected) {
      std::tie(ec, listen_on) = LocalAddressToward(worker.io(), address, destination.port);
      if (!ec) break;
    }
  }
  if (ec) {
    LogDebug("BIND %s: no local address toward it: %s", session.target, ec.message());
    co_return co_await AsyncFailAndClose(session, ReplyForError(ec));
  }
  asio::ip::tcp::acceptor acceptor(session.client.get_executor());
  if ((ec = OpenBindListener(acceptor, listen_on, PickerFor(worker)))) {
    if (ec == asio::error::address_in_use && config.bind_port_range) {
      LogWarning("BIND: every port of --bind_port_range=%s on %s is in use",
                 config.bind_port_range->ToString(), listen_on.to_string());
    } else {
      LogWarning("BIND: cannot listen on %s: %s", listen_on.to_string(), ec.message());
    }
    co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  }
  asio::ip::tcp::endpoint listening = acceptor.local_endpoint(ec);
  std::optional<asio::ip::address> advertised =
      ec ? std::nullopt : BindReplyAddress(config.advertise_address, listening.address());
  if (!advertised) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  protocol::Address bound = FromAsio(*advertised, listening.port());
  session.extra = absl::StrCat(" bound=", bound.ToString());
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, bound)) co_return;

  // Wait for the expected peer, the client's close, or the deadline; whichever comes first
  // cancels the others.
  asio::ip::tcp::socket peer(session.client.get_executor());
  asio::steady_timer deadline(session.client.get_executor());
  deadline.expires_after(absl::ToChronoNanoseconds(config.bind_timeout));
  auto waited = co_await (AsyncAcceptExpected(acceptor, std::move(expected), peer) ||
                          AsyncWatchControl(session) || AsyncExpire(deadline));
  acceptor.close(ec);  // frees the port now, whatever happens next
  switch (waited.index()) {
    case 0:
      if (std::error_code accept_error = std::get<0>(waited)) {
        LogWarning("BIND on %s: accept failed: %s", bound.ToString(), accept_error.message());
        co_return co_await AsyncFailAndClose(session, ReplyForError(accept_error));
      }
      break;
    case 1:
      LogDebug("BIND on %s: the client closed the control connection", bound.ToString());
      absl::StrAppend(&session.extra, " outcome=client_closed");
      session.client.close(ec);
      co_return;
    default:
      LogDebug("BIND on %s: nobody connected within --bind_timeout", bound.ToString());
      absl::StrAppend(&session.extra, " outcome=timeout");
      co_return co_await AsyncFailAndClose(session, protocol::Reply::kTtlExpired);
  }

  asio::ip::tcp::endpoint from = peer.remote_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, ReplyForError(ec));
  protocol::Address peer_address = FromEndpoint(from);
  absl::StrAppend(&session.extra, " peer=", peer_address.ToString());
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, peer_address)) co_return;
  co_await AsyncRelay(session, std::move(peer));
}

}  // namespace socks5::server
