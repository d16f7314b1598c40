// The TCP relay shared by CONNECT and BIND.
#ifndef SOCKS5_SERVER_RELAY_H_
#define SOCKS5_SERVER_RELAY_H_

#include "asio.hpp"
#include "server/session.h"

namespace socks5::server {

// Relays between session.client and `upstream` until both directions have ended. First sends
// session.early_data upstream. A FIN from one side becomes a write shutdown toward the other
// while the other direction keeps flowing (half-close); a reset or error on one side resets
// the other; no traffic either way for --idle_timeout closes both. Buffers are borrowed from
// the worker's pool only while a direction has data to move. Counts bytes into the session.
asio::awaitable<void> AsyncRelay(Session& session, asio::ip::tcp::socket upstream);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_RELAY_H_
