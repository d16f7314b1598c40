#include "server/session.h"

#include <array>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "asio/experimental/as_tuple.hpp"
#include "server/handlers.h"
#include "server/log.h"
#include "server/net.h"
#include "server/worker.h"

namespace socks5::server {
namespace {

using asio::experimental::as_tuple;
using protocol::ParseStatus;

constexpr auto kUseTuple = as_tuple(asio::use_awaitable);

std::string ReplyText(const std::optional<protocol::Reply>& reply) {
  if (!reply) return "-";
  return absl::StrFormat("%02x", static_cast<int>(*reply));
}

// Closes the client socket when the handshake deadline passes; cancelled on destruction.
class HandshakeDeadline {
 public:
  HandshakeDeadline(asio::ip::tcp::socket& socket, absl::Duration timeout)
      : timer_(socket.get_executor()) {
    timer_.expires_after(absl::ToChronoNanoseconds(timeout));
    timer_.async_wait([&socket](std::error_code ec) {
      // On cancellation (ec set) the session may be gone: touch nothing.
      if (!ec) {
        std::error_code ignored;
        socket.close(ignored);
      }
    });
  }

 private:
  asio::steady_timer timer_;
};

// Reads more handshake bytes into `in`. False on EOF, error, or the deadline closing the socket.
asio::awaitable<bool> AsyncReadMore(asio::ip::tcp::socket& socket, std::vector<std::uint8_t>& in) {
  // Handshake messages total at most ~1 KiB; anything behind them is early data.
  std::array<std::uint8_t, 2048> chunk;
  auto result = co_await socket.async_read_some(asio::buffer(chunk), kUseTuple);
  auto [ec, n] = result;
  if (ec) co_return false;
  in.insert(in.end(), chunk.begin(), chunk.begin() + n);
  co_return true;
}

asio::awaitable<bool> AsyncWriteAll(asio::ip::tcp::socket& socket,
                                    std::span<const std::uint8_t> bytes) {
  auto result =
      co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()), kUseTuple);
  auto [ec, n] = result;
  co_return !ec;
}

// Reads until `parse` says complete or invalid. nullopt means: the connection is gone.
template <typename Parse>
asio::awaitable<std::optional<std::invoke_result_t<Parse, std::span<const std::uint8_t>>>>
AsyncReadMessage(asio::ip::tcp::socket& socket, std::vector<std::uint8_t>& in, Parse parse) {
  for (;;) {
    auto result = parse(std::span<const std::uint8_t>(in));
    if (result.status != ParseStatus::kNeedMore) co_return result;
    if (!co_await AsyncReadMore(socket, in)) co_return std::nullopt;
  }
}

void Consume(std::vector<std::uint8_t>& in, std::size_t n) {
  in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
}

// Negotiation, authentication and the request (RFC 1928 s.3-4, RFC 1929). Returns the request
// when the handler should run; nullopt when the session is over (after any reply it needed).
asio::awaitable<std::optional<protocol::Request>> AsyncHandshake(Session& session) {
  Worker& worker = session.worker;
  const Config& config = worker.config();
  HandshakeDeadline deadline(session.client, config.handshake_timeout);
  std::vector<std::uint8_t> in;
  in.reserve(512);
  std::array<std::uint8_t, 2> small;

  auto greeting = co_await AsyncReadMessage(session.client, in, protocol::ParseGreeting);
  if (!greeting) co_return std::nullopt;
  if (greeting->status == ParseStatus::kInvalid) {
    // Not SOCKS5 (e.g. SOCKS4): close without answering (CONFORMANCE.md A5).
    co_await AsyncCloseGracefully(session.client);
    co_return std::nullopt;
  }
  Consume(in, greeting->consumed);
  std::uint8_t method = protocol::ChooseMethod(greeting->value, config.users != nullptr);
  protocol::EncodeMethodSelection(method, small);
  if (!co_await AsyncWriteAll(session.client, small)) co_return std::nullopt;
  if (method == protocol::kMethodNoAcceptable) {
    co_await AsyncCloseGracefully(session.client);
    co_return std::nullopt;
  }

  if (method == protocol::kMethodUserPass) {
    auto auth = co_await AsyncReadMessage(session.client, in, protocol::ParseUserPass);
    if (!auth) co_return std::nullopt;
    bool ok = auth->status == ParseStatus::kComplete &&
              config.users->Check(auth->value.username, auth->value.password);
    // The name is the client's bytes: escape it so it cannot forge log lines.
    if (auth->status == ParseStatus::kComplete)
      session.user = absl::CHexEscape(auth->value.username);
    protocol::EncodeAuthStatus(ok, small);
    if (!co_await AsyncWriteAll(session.client, small)) co_return std::nullopt;
    if (!ok) {
      // RFC 1929 s.2: on failure the server MUST close the connection.
      LogInfo("auth failed client=%s user=%s", session.client_endpoint.address().to_string(),
              session.user);
      session.user += "(rejected)";
      co_await AsyncCloseGracefully(session.client);
      co_return std::nullopt;
    }
    Consume(in, auth->consumed);
  }

  auto request = co_await AsyncReadMessage(session.client, in, protocol::ParseRequest);
  if (!request) co_return std::nullopt;
  if (request->status == ParseStatus::kInvalid) {
    // Name the command in the access log when it was valid and something later was not.
    if (in.size() >= 2 && in[1] >= 1 && in[1] <= 3) {
      session.command = protocol::CommandName(static_cast<protocol::Command>(in[1]));
    }
    if (request->reply) {
      co_await AsyncFailAndClose(session, *request->reply);
    } else {
      co_await AsyncCloseGracefully(session.client);  // request VER not 5 (C12)
    }
    co_return std::nullopt;
  }
  Consume(in, request->consumed);
  session.early_data = std::move(in);
  session.command = protocol::CommandName(request->value.command);
  session.target = request->value.destination.ToString();
  co_return request->value;
}

}  // namespace

Session::Session(Worker& w, asio::ip::tcp::socket c)
    : worker(w), client(std::move(c)), start(absl::Now()) {
  std::error_code ec;
  client_endpoint = client.remote_endpoint(ec);
  worker.sessions().active.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  worker.sessions().active.fetch_sub(1, std::memory_order_relaxed);
  asio::ip::address client_ip = Unmapped(client_endpoint.address());
  LogInfo("access client=%s user=%s cmd=%s target=%s reply=%s up=%d down=%d duration=%.3fs%s",
          client_ip.is_v6() ? absl::StrCat("[", client_ip.to_string(), "]:", client_endpoint.port())
                            : absl::StrCat(client_ip.to_string(), ":", client_endpoint.port()),
          user, command, target, ReplyText(reply), bytes_up, bytes_down,
          absl::ToDoubleSeconds(absl::Now() - start), extra);
}

asio::awaitable<void> RunSession(Worker& worker, asio::ip::tcp::socket client) {
  Session session(worker, std::move(client));
  std::error_code ignored;
  session.client.set_option(asio::ip::tcp::no_delay(true), ignored);
  std::optional<protocol::Request> request = co_await AsyncHandshake(session);
  if (!request) co_return;
  switch (request->command) {
    case protocol::Command::kConnect:
      co_await RunConnect(session, std::move(*request));
      break;
    case protocol::Command::kBind:
      co_await RunBind(session, std::move(*request));
      break;
    case protocol::Command::kUdpAssociate:
      co_await RunUdpAssociate(session, std::move(*request));
      break;
  }
}

asio::awaitable<bool> AsyncSendReply(Session& session, protocol::Reply reply,
                                     const protocol::Address& bound) {
  std::array<std::uint8_t, protocol::kMaxReplySize> out;
  std::size_t n = protocol::EncodeReply(reply, bound, out);
  session.reply = reply;
  co_return co_await AsyncWriteAll(session.client, std::span<const std::uint8_t>(out.data(), n));
}

asio::awaitable<void> AsyncFailAndClose(Session& session, protocol::Reply reply) {
  if (co_await AsyncSendReply(session, reply, protocol::NullAddress())) {
    co_await AsyncCloseGracefully(session.client);
  } else {
    std::error_code ignored;
    session.client.close(ignored);
  }
}

asio::awaitable<std::optional<std::vector<asio::ip::address>>> AsyncResolveOrFail(
    Session& session, protocol::Address destination) {
  const auto* name = std::get_if<std::string>(&destination.host);
  if (!name) co_return std::vector<asio::ip::address>{ToAsioAddress(destination)};
  auto resolved = co_await session.worker.resolver().AsyncResolve(*name);
  if (!resolved.first && !resolved.second.empty()) co_return std::move(resolved.second);
  LogDebug("resolve %s failed: %s", *name,
           resolved.first ? resolved.first.message() : "no addresses");
  co_await AsyncFailAndClose(
      session, resolved.first ? ReplyForError(resolved.first) : protocol::Reply::kHostUnreachable);
  co_return std::nullopt;
}

asio::awaitable<void> AsyncCloseGracefully(asio::ip::tcp::socket& socket) {
  // Closing with unread input makes the kernel send a reset, which can destroy a reply the
  // client has not read yet. So: send FIN, then read and discard for a short while (until the
  // client closes too, or at most 64 KiB / 1 s), then close (RFC 1928 s.6 allows 10 s).
  std::error_code ec;
  if (!socket.is_open()) co_return;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([&socket](std::error_code wait_ec) {
    if (!wait_ec) {
      std::error_code ignored;
      socket.cancel(ignored);
    }
  });
  std::array<std::uint8_t, 1024> sink;
  std::size_t drained = 0;
  while (drained < 64 * 1024) {
    auto result = co_await socket.async_read_some(asio::buffer(sink), kUseTuple);
    auto [read_ec, n] = result;
    if (read_ec) break;
    drained += n;
  }
  timer.cancel();
  socket.close(ec);
}

}  // namespace socks5::server
