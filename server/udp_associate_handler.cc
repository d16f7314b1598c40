// UDP ASSOCIATE (RFC 1928 s.4, s.7): not built yet; answered 07 (command not supported).
#include "server/handlers.h"

namespace socks5::server {

asio::awaitable<void> RunUdpAssociate(Session& session, protocol::Request request) {
  co_await AsyncFailAndClose(session, protocol::Reply::kCommandNotSupported);
}

}  // namespace socks5::server
