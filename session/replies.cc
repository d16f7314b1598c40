#include "session/replies.h"

#include <array>
#include <cerrno>
#include <chrono>

#include "dns/resolver.h"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "protocol/socks4.h"

namespace socks5::session {
namespace {

using net::kUseTuple;

// Closing with unread input makes the kernel send a reset, which can destroy a reply the client
// has not read yet; so a close first drains at most this much, for at most this long (RFC 1928
// s.6 allows 10 s).
constexpr std::size_t kMaxDrain = 64 * 1024;
constexpr std::chrono::seconds kDrainTime(1);

protocol::Reply ReplyForSystemError(int value) {
  using protocol::Reply;
  switch (value) {
    case ECONNREFUSED:
      return Reply::kConnectionRefused;
    case EHOSTUNREACH:
    case EHOSTDOWN:
      return Reply::kHostUnreachable;
    case ENETUNREACH:
    case ENETDOWN:
    case EAFNOSUPPORT:
      return Reply::kNetworkUnreachable;
    case ETIMEDOUT:
      return Reply::kTtlExpired;
    case EACCES:
    case EPERM:
      return Reply::kNotAllowed;
    default:
      return Reply::kGeneralFailure;
  }
}

// Reads and discards until EOF, an error or kMaxDrain bytes.
asio::awaitable<void> AsyncDrain(asio::ip::tcp::socket& socket) {
  std::array<std::uint8_t, 1024> sink;
  std::size_t drained = 0;
  while (drained < kMaxDrain) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
    if (ec) break;
    drained += n;
  }
}

}  // namespace

protocol::Reply ReplyForError(const std::error_code& error) {
  using protocol::Reply;
  if (error.category() == dns::Category()) {
    return error == dns::Errc::kCancelled ? Reply::kGeneralFailure : Reply::kHostUnreachable;
  }
  if (error.category() == std::system_category() ||
      error.category() == asio::error::get_system_category()) {
    return ReplyForSystemError(error.value());
  }
  return Reply::kGeneralFailure;
}

asio::awaitable<bool> AsyncWriteAll(asio::ip::tcp::socket& socket,
                                    std::span<const std::uint8_t> bytes) {
  auto [ec, n] =
      co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()), kUseTuple);
  co_return !ec;
}

asio::awaitable<bool> AsyncSendReply(Session& session, protocol::Reply reply,
                                     const protocol::Address& bound) {
  std::array<std::uint8_t, protocol::kMaxReplySize> out;
  std::size_t n = 0;
  if (session.socks4()) {
    // The handlers decide in SOCKS5's codes; a SOCKS4 client gets 5A or 5B, and the access log
    // the code it got (the SOCKS5 reason is in the debug lines of the handlers).
    n = protocol::EncodeSocks4Reply(reply, bound, out);
    session.record().reply = static_cast<protocol::Reply>(protocol::Socks4ReplyCode(reply));
  } else {
    n = protocol::EncodeReply(reply, bound, out);
    session.record().reply = reply;
  }
  co_return co_await AsyncWriteAll(session.client(), std::span<const std::uint8_t>(out.data(), n));
}

asio::awaitable<void> AsyncFailAndClose(Session& session, protocol::Reply reply) {
  if (co_await AsyncSendReply(session, reply, protocol::NullAddress())) {
    co_await AsyncCloseGracefully(session.client());
  } else {
    std::error_code ignored;
    session.client().close(ignored);
  }
}

asio::awaitable<void> AsyncCloseGracefully(asio::ip::tcp::socket& socket) {
  // Send FIN, then drain (until the client closes too, or the limits), then close.
  std::error_code ec;
  if (!socket.is_open()) co_return;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  co_await net::AsyncWithDeadline(AsyncDrain(socket), kDrainTime);
  socket.close(ec);
}

asio::awaitable<net::Result<std::vector<asio::ip::address>>> AsyncResolve(
    Session& session, const protocol::Address& destination) {
  const auto* name = std::get_if<std::string>(&destination.host);
  if (!name) co_return std::vector<asio::ip::address>{net::ToAsioAddress(destination)};
  auto [error, addresses] = co_await session.context().resolver.AsyncResolve(*name);
  if (!error && !addresses.empty()) co_return std::move(addresses);
  net::LogDebug("resolve %s failed: %s", net::LogSafe(*name),
                error ? error.message() : "no addresses");
  if (!error) co_return std::error_code(EHOSTUNREACH, std::system_category());
  co_return error;
}

}  // namespace socks5::session
