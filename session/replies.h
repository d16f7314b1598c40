// Writing to the client: replies, the failure close, the graceful close, and the one table that
// maps I/O and resolver errors to SOCKS5 reply codes. Also the DST lookup every handler shares.
#ifndef SOCKS5_SESSION_REPLIES_H_
#define SOCKS5_SESSION_REPLIES_H_

#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "asio.hpp"
#include "net/result.h"
#include "protocol/address.h"
#include "protocol/messages.h"
#include "session/session.h"

namespace socks5::session {

// REP for a failed resolve or connect (docs/conformance.md C4-C7): refused 05, host unreachable
// or name not found 04, network unreachable 03, timeout 06, not permitted 02, anything else 01.
protocol::Reply ReplyForError(const std::error_code& error);

// Writes all of `bytes`; false when the write failed.
asio::awaitable<bool> AsyncWriteAll(asio::ip::tcp::socket& socket,
                                    std::span<const std::uint8_t> bytes);

// Sends `05 REP 00 ATYP BND.ADDR BND.PORT` and records REP; to a SOCKS4 session (Session::socks4)
// `00 5A|5B PORT IPv4` instead (protocol/socks4.h), recording 5A or 5B. False when the write
// failed.
asio::awaitable<bool> AsyncSendReply(Session& session, protocol::Reply reply,
                                     const protocol::Address& bound);
// Sends a failure reply (BND 0.0.0.0:0) and closes gracefully: FIN, then unread input is
// drained for a moment so the reply is not lost to a reset.
asio::awaitable<void> AsyncFailAndClose(Session& session, protocol::Reply reply);
// Graceful close without a reply.
asio::awaitable<void> AsyncCloseGracefully(asio::ip::tcp::socket& socket);

// The addresses of a request's DST: the IP itself, or what its name resolves to (at least one;
// a name without addresses is EHOSTUNREACH). The caller answers a failure (ReplyForError).
asio::awaitable<net::Result<std::vector<asio::ip::address>>> AsyncResolve(
    Session& session, const protocol::Address& destination);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_REPLIES_H_
