// The command handlers. Each sends its reply (or replies) itself, fills the session's
// access-log record, relays, and returns when the session is over.
#ifndef SOCKS5_SERVER_HANDLERS_H_
#define SOCKS5_SERVER_HANDLERS_H_

#include "asio.hpp"
#include "protocol/messages.h"
#include "server/session.h"

namespace socks5::server {

asio::awaitable<void> RunConnect(Session& session, protocol::Request request);
asio::awaitable<void> RunBind(Session& session, protocol::Request request);
asio::awaitable<void> RunUdpAssociate(Session& session, protocol::Request request);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_HANDLERS_H_
