// The command handlers. Each sends its reply (or replies) through session/replies.h, fills the
// session's access record, relays, and returns when the session is over. `request` is
// RunSession's, alive until the handler returns (a reference: a copy would sit in the handler's
// frame for the whole session).
#ifndef SOCKS5_SESSION_HANDLERS_H_
#define SOCKS5_SESSION_HANDLERS_H_

#include "asio.hpp"
#include "protocol/messages.h"
#include "session/session.h"

namespace socks5::session {

asio::awaitable<void> RunConnect(Session& session, const protocol::Request& request);
asio::awaitable<void> RunBind(Session& session, const protocol::Request& request);
asio::awaitable<void> RunUdpAssociate(Session& session, const protocol::Request& request);
// Tor's RESOLVE (F0) and RESOLVE_PTR (F1): one answer, then a close (session/resolve.cc).
asio::awaitable<void> RunResolve(Session& session, const protocol::Request& request);
asio::awaitable<void> RunResolvePtr(Session& session, const protocol::Request& request);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_HANDLERS_H_
