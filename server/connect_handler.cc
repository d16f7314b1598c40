// CONNECT (RFC 1928 s.4): resolve, connect with Happy Eyeballs, reply with the outbound
// socket's local address, relay.
#include <chrono>

#include "server/handlers.h"
#include "server/happy_eyeballs.h"
#include "server/log.h"
#include "server/net.h"
#include "server/relay.h"
#include "server/worker.h"

namespace socks5::server {
namespace {

// RFC 8305 s.8 recommends 250 ms between connection attempts.
constexpr std::chrono::milliseconds kAttemptDelay(250);

}  // namespace

asio::awaitable<void> RunConnect(Session& session, protocol::Request request) {
  Worker& worker = session.worker;
  const Config& config = worker.config();
  const protocol::Address& destination = request.destination;

  std::optional<std::vector<asio::ip::address>> resolved =
      co_await AsyncResolveOrFail(session, destination);
  if (!resolved) co_return;
  std::vector<asio::ip::address> addresses = InterleaveFamilies(*resolved);

  std::vector<asio::ip::tcp::endpoint> candidates;
  for (const auto& address : addresses) {
    if (!config.IsDenied(address)) candidates.emplace_back(address, destination.port);
  }
  if (candidates.empty()) {
    co_return co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
  }

  ConnectResult connected = co_await AsyncConnectAny(
      std::move(candidates), absl::ToChronoNanoseconds(config.connect_timeout), kAttemptDelay);
  if (connected.error) {
    LogDebug("connect %s failed: %s", session.target, connected.error.message());
    co_return co_await AsyncFailAndClose(session, ReplyForError(connected.error));
  }
  std::error_code ec;
  asio::ip::tcp::endpoint local = connected.socket.local_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, FromEndpoint(local))) {
    co_return;
  }
  co_await AsyncRelay(session, std::move(connected.socket));
}

}  // namespace socks5::server
