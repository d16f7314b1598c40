// BIND (RFC 1928 s.4): not built yet; answered 07 (command not supported).
#include "server/handlers.h"

namespace socks5::server {

asio::awaitable<void> RunBind(Session& session, protocol::Request request) {
  co_await AsyncFailAndClose(session, protocol::Reply::kCommandNotSupported);
}

}  // namespace socks5::server
