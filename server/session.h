// A client session: the handshake coroutine (negotiate, authenticate, read the request) and the
// shared pieces the command handlers use: replies, failure close, the access-log record.
#ifndef SOCKS5_SERVER_SESSION_H_
#define SOCKS5_SERVER_SESSION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "asio.hpp"
#include "protocol/address.h"
#include "protocol/messages.h"

namespace socks5::server {

class Worker;

struct Session {
  Session(Worker& worker, asio::ip::tcp::socket client);
  ~Session();  // writes the access-log line
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Worker& worker;
  asio::ip::tcp::socket client;
  asio::ip::tcp::endpoint client_endpoint;
  // Client bytes that arrived behind the request (pipelined); the handler forwards them first.
  std::vector<std::uint8_t> early_data;

  // Access-log record.
  absl::Time start;
  std::string user = "-";
  std::string command = "-";
  std::string target = "-";
  std::optional<protocol::Reply> reply;  // the last reply sent
  std::uint64_t bytes_up = 0;            // client -> remote
  std::uint64_t bytes_down = 0;          // remote -> client
  std::string extra;                     // handler-specific access-log fields, " key=value ..."
};

// Runs a whole session on the worker's loop.
asio::awaitable<void> RunSession(Worker& worker, asio::ip::tcp::socket client);

// Sends `05 REP 00 ATYP BND.ADDR BND.PORT` and records REP. False when the write failed.
asio::awaitable<bool> AsyncSendReply(Session& session, protocol::Reply reply,
                                     const protocol::Address& bound);
// Sends a failure reply (BND 0.0.0.0:0) and closes gracefully: FIN, then unread input is
// drained for a moment so the reply is not lost to a reset.
asio::awaitable<void> AsyncFailAndClose(Session& session, protocol::Reply reply);
// The addresses of a request's DST: the IP itself, or what its name resolves to (at least one).
// When the name does not resolve, sends the failure reply, closes, and returns nullopt.
asio::awaitable<std::optional<std::vector<asio::ip::address>>> AsyncResolveOrFail(
    Session& session, protocol::Address destination);
// Graceful close without a reply.
asio::awaitable<void> AsyncCloseGracefully(asio::ip::tcp::socket& socket);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_SESSION_H_
