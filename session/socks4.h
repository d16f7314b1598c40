// SOCKS4 and SOCKS4a on the SOCKS5 listeners: the handshake reads a request whose first byte is
// 04 (protocol/socks4.h) and hands it here; CONNECT and BIND then run through the same handlers
// as SOCKS5's (rules, Happy Eyeballs, egress, limits), with SOCKS4 replies (session/replies.h).
#ifndef SOCKS5_SESSION_SOCKS4_H_
#define SOCKS5_SESSION_SOCKS4_H_

#include <optional>

#include "asio.hpp"
#include "protocol/messages.h"
#include "protocol/socks4.h"
#include "session/handshake.h"
#include "session/session.h"

namespace socks5::session {

// Marks the session SOCKS4, records proto=socks4|socks4a, the command, target and USERID
// (escaped; never a user for rules or limits), and decides: an invalid request, --socks4=false,
// or a users file (SOCKS4 carries no password) is answered 5B and closed (nullopt). Otherwise
// the request for the handler, with the bytes behind it moved to session.early_data().
asio::awaitable<std::optional<protocol::Request>> AsyncAcceptSocks4(
    Session& session, Input& in, protocol::ParseResult<protocol::Socks4Request> parsed);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_SOCKS4_H_
