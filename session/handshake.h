// The handshake (RFC 1928 s.3-4, RFC 1929): method negotiation, username/password
// authentication and the request, one function each, run under --handshake_timeout.
#ifndef SOCKS5_SESSION_HANDSHAKE_H_
#define SOCKS5_SESSION_HANDSHAKE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "asio.hpp"
#include "protocol/messages.h"
#include "session/session.h"

namespace socks5::session {

// Bytes read from the client and not yet parsed.
using Input = std::vector<std::uint8_t>;

// Reads the greeting and answers it. The chosen method, or nullopt when the session is over
// (not SOCKS5, no acceptable method, the connection gone).
asio::awaitable<std::optional<std::uint8_t>> AsyncNegotiate(Session& session, Input& in);
// RFC 1929: reads the username/password and answers. False when the session is over (refused
// credentials are answered and the connection closed, RFC 1929 s.2).
asio::awaitable<bool> AsyncAuthenticate(Session& session, Input& in);
// Reads the request; an invalid one is answered (or closed without a reply when not SOCKS5).
// Records the command and target. nullopt when the session is over.
asio::awaitable<std::optional<protocol::Request>> AsyncReadRequest(Session& session, Input& in);

// All three under --handshake_timeout (net::AsyncWithDeadline; when it passes, the client socket
// is closed). The request when the handler should run, with the bytes behind it moved to
// session.early_data(); nullopt when the session is over.
asio::awaitable<std::optional<protocol::Request>> AsyncHandshake(Session& session);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_HANDSHAKE_H_
