#include "session/handshake.h"

#include <array>
#include <memory>
#include <span>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "net/async.h"
#include "net/log.h"
#include "session/replies.h"
#include "session/socks4.h"
#include "session/verifier.h"

namespace socks5::session {
namespace {

using net::kUseTuple;
using protocol::ParseStatus;

// Reads more handshake bytes into `in`. False on EOF, error or cancellation (the deadline).
asio::awaitable<bool> AsyncReadMore(asio::ip::tcp::socket& socket, Input& in) {
  // Handshake messages total at most ~1 KiB; anything behind them is early data.
  std::array<std::uint8_t, 2048> chunk;
  auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), kUseTuple);
  if (ec) co_return false;
  in.insert(in.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
  co_return true;
}

// Reads until `parse` says complete or invalid. nullopt means: the connection is gone.
template <typename Parse>
asio::awaitable<std::optional<std::invoke_result_t<Parse, std::span<const std::uint8_t>>>>
AsyncReadMessage(asio::ip::tcp::socket& socket, Input& in, Parse parse) {
  for (;;) {
    auto result = parse(std::span<const std::uint8_t>(in));
    if (result.status != ParseStatus::kNeedMore) co_return result;
    if (!co_await AsyncReadMore(socket, in)) co_return std::nullopt;
  }
}

void Consume(Input& in, std::size_t n) {
  in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
}

asio::awaitable<std::optional<protocol::Request>> AsyncHandshakeSteps(Session& session) {
  Input in;
  in.reserve(512);
  // The first byte decides the protocol: 04 is SOCKS4/4a (session/socks4.h), anything else
  // SOCKS5's greeting (whose parser refuses what is not 05).
  if (!co_await AsyncReadMore(session.client(), in)) co_return std::nullopt;
  if (in.front() == protocol::kSocks4Version) {
    auto request = co_await AsyncReadMessage(session.client(), in, protocol::ParseSocks4Request);
    if (!request) co_return std::nullopt;
    co_return co_await AsyncAcceptSocks4(session, in, std::move(*request));
  }
  std::optional<std::uint8_t> method = co_await AsyncNegotiate(session, in);
  if (!method) co_return std::nullopt;
  if (*method == protocol::kMethodUserPass && !co_await AsyncAuthenticate(session, in)) {
    co_return std::nullopt;
  }
  co_return co_await AsyncReadRequest(session, in);
}

}  // namespace

asio::awaitable<std::optional<std::uint8_t>> AsyncNegotiate(Session& session, Input& in) {
  auto greeting = co_await AsyncReadMessage(session.client(), in, protocol::ParseGreeting);
  if (!greeting) co_return std::nullopt;
  if (greeting->status == ParseStatus::kInvalid) {
    // Not SOCKS5 (e.g. SOCKS4): close without answering (docs/conformance.md A5).
    co_await AsyncCloseGracefully(session.client());
    co_return std::nullopt;
  }
  Consume(in, greeting->consumed);
  std::uint8_t method = protocol::ChooseMethod(greeting->value, session.users() != nullptr);
  std::array<std::uint8_t, 2> out;
  protocol::EncodeMethodSelection(method, out);
  if (!co_await AsyncWriteAll(session.client(), out)) co_return std::nullopt;
  if (method == protocol::kMethodNoAcceptable) {
    co_await AsyncCloseGracefully(session.client());
    co_return std::nullopt;
  }
  co_return method;
}

asio::awaitable<bool> AsyncAuthenticate(Session& session, Input& in) {
  auto auth = co_await AsyncReadMessage(session.client(), in, protocol::ParseUserPass);
  if (!auth) co_return false;
  const bool complete = auth->status == ParseStatus::kComplete;
  // RFC 1929 guessing throttle (session/admission.h): an address with recent failures waits
  // before its credentials are checked, whatever they are, so an early answer reveals nothing.
  Admission* admission = session.context().admission;
  const ClientKey throttle_key = PrefixKeyFor(session.client_endpoint().address());
  if (complete && admission != nullptr) {
    absl::Duration wait = admission->auth_throttle.Admit(throttle_key, absl::Now());
    if (wait > absl::ZeroDuration()) {
      asio::steady_timer timer(co_await asio::this_coro::executor, absl::ToChronoNanoseconds(wait));
      if (co_await net::AsyncWait(timer)) co_return false;  // the handshake deadline passed
    }
  }
  // Held for the whole check: a reload cannot change the users under it.
  const std::shared_ptr<const Credentials> users = session.users();
  Verdict verdict = Verdict::kRejected;
  if (complete) {
    // Off the loop when it costs a hash (session/verifier.h); the copies are wiped after it.
    verdict = co_await AsyncVerify(session.context().verifier, users, auth->value.username,
                                   auth->value.password);
  }
  const bool ok = verdict == Verdict::kAccepted;
  if (verdict == Verdict::kBusy) {
    static net::RateLimitedWarning warning("auth_max_pending", "refused", "authentications");
    warning.Warn("--auth_max_pending=%d reached; refusing an RFC 1929 attempt from %s",
                 session.context().verifier->options().max_pending,
                 session.client_endpoint().address().to_string());
  }
  // A refusal because the verifier was full is no guess: it does not count towards the throttle.
  if (verdict == Verdict::kRejected && complete && admission != nullptr) {
    admission->auth_throttle.RecordFailure(throttle_key, absl::Now());
  }
  if (verdict == Verdict::kCancelled) co_return false;  // the handshake deadline passed
  if (complete) {
    // Only after the constant-time check: a known name is logged as it is (escaped, it is the
    // client's bytes); an unknown one, maybe a password typed into the user field, by length.
    const std::string& name = auth->value.username;
    session.record().user = ok || users->Contains(name)
                                ? net::LogSafe(name)
                                : absl::StrFormat("(unknown, %d bytes)", name.size());
  }
  std::array<std::uint8_t, 2> out;
  protocol::EncodeAuthStatus(ok, out);
  if (!co_await AsyncWriteAll(session.client(), out)) co_return false;
  if (!ok) {
    // RFC 1929 s.2: on failure the server MUST close the connection.
    net::LogInfo("auth failed client=%s user=%s", session.client_endpoint().address().to_string(),
                 session.record().user);
    session.record().user_rejected = true;
    co_await AsyncCloseGracefully(session.client());
    co_return false;
  }
  session.set_user(auth->value.username);  // --max_sessions_per_user, the rules' user=
  Consume(in, auth->consumed);
  co_return true;
}

asio::awaitable<std::optional<protocol::Request>> AsyncReadRequest(Session& session, Input& in) {
  auto request = co_await AsyncReadMessage(session.client(), in, protocol::ParseRequest);
  if (!request) co_return std::nullopt;
  AccessRecord& record = session.record();
  if (request->status == ParseStatus::kInvalid) {
    // Name the command in the access log when it was valid and something later was not.
    if (in.size() >= 2 && in[1] >= 1 && in[1] <= 3) {
      record.command = protocol::CommandName(static_cast<protocol::Command>(in[1]));
    }
    if (request->reply) {
      co_await AsyncFailAndClose(session, *request->reply);
    } else {
      co_await AsyncCloseGracefully(session.client());  // request VER not 5 (C12)
    }
    co_return std::nullopt;
  }
  Consume(in, request->consumed);
  session.early_data() = std::move(in);
  record.command = protocol::CommandName(request->value.command);
  record.target = request->value.destination.ToString();
  co_return request->value;
}

asio::awaitable<std::optional<protocol::Request>> AsyncHandshake(Session& session) {
  auto done = co_await net::AsyncWithDeadline(
      AsyncHandshakeSteps(session),
      absl::ToChronoNanoseconds(session.settings().handshake_timeout));
  if (done) co_return std::move(*done);
  std::error_code ignored;
  session.client().close(ignored);  // the deadline passed
  co_return std::nullopt;
}

}  // namespace socks5::session
