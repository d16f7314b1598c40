#include "session/proxy.h"

#include <array>
#include <span>
#include <string>

#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "protocol/proxy_header.h"
#include "session/replies.h"

namespace socks5::session {
namespace {

using net::kUseTuple;

// One line per refused connection, rate-limited: a balancer misconfigured (no send-proxy, or a
// health check without it) would otherwise flood the log.
void LogRefused(const asio::ip::tcp::endpoint& balancer, const std::string& why) {
  static net::RateLimitedWarning warning("proxy_protocol", "closed", "connections");
  warning.Warn("proxy protocol: %s from %s (--proxy_protocol_from); closing", why,
               net::EndpointText(balancer));
}

}  // namespace

asio::awaitable<bool> AsyncReadProxyHeader(Session& session, std::vector<std::uint8_t>& in) {
  const asio::ip::tcp::endpoint balancer = session.client_endpoint();
  const std::size_t max_size = session.settings().proxy_protocol_max_size;
  std::error_code ignored;
  protocol::ProxyParse parse;
  for (;;) {
    parse = protocol::ParseProxyHeader(std::span<const std::uint8_t>(in), max_size);
    if (parse.status != protocol::ProxyParseStatus::kNeedMore) break;
    // Whatever is there, up to a chunk: what follows the header is kept for the handshake.
    std::array<std::uint8_t, 2048> chunk;
    auto [ec, n] = co_await session.client().async_read_some(asio::buffer(chunk), kUseTuple);
    if (ec) {
      // Cancelled: --handshake_timeout passed (or the handshake was shed); else the peer left.
      const bool cancelled = ec == asio::error::operation_aborted;
      LogRefused(balancer, cancelled    ? "no complete PROXY header in time (--handshake_timeout, "
                                          "or shed at --max_handshakes)"
                           : in.empty() ? "connection closed before a PROXY header"
                                        : "connection closed inside the PROXY header");
      co_return false;
    }
    in.insert(in.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (parse.status == protocol::ProxyParseStatus::kInvalid) {
    LogRefused(balancer, parse.error);
    session.client().close(ignored);
    co_return false;
  }
  in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(parse.consumed));
  if (parse.header.source) {
    session.set_client_endpoint(asio::ip::tcp::endpoint(
        net::Unmapped(net::ToAsioAddress(*parse.header.source)), parse.header.source->port));
    session.record().fields().via = balancer;
  }
  // --max_sessions_per_client for the client the header named (or, LOCAL, the balancer):
  // the acceptor charged nobody for a connection from --proxy_protocol_from.
  Admission* admission = session.context().admission;
  if (admission == nullptr) co_return true;
  const asio::ip::address client = session.client_endpoint().address();
  session.admitted().client = ClientSlot::TryAcquire(
      admission->clients, client, ClientKind::kSession, session.settings().max_sessions_per_client);
  if (session.admitted().client) co_return true;
  static net::RateLimitedWarning warning("max_sessions_per_client", "refused", "connections");
  warning.Warn("--max_sessions_per_client=%d reached for %s (via %s); closing the connection",
               session.settings().max_sessions_per_client, net::Unmapped(client).to_string(),
               net::EndpointText(balancer));
  session.client().close(ignored);
  co_return false;
}

}  // namespace socks5::session
