#include "session/handshake.h"

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "net/address.h"
#include "net/async.h"
#include "net/log.h"
#include "protocol/sniff.h"
#include "session/replies.h"
#include "session/session_metrics.h"
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

// A connection that is not SOCKS5 (docs/conformance.md A5, A12, A13): waits for no more bytes than
// the classifier needs (at most protocol::kMaxSniffBytes, under the handshake deadline), records
// what arrived (proto=, first= for the unknown), answers HTTP with a 400 that names the SOCKS5 URL
// to configure, and closes. What else an HTTP client sent is drained by the graceful close
// (bounded), never buffered.
asio::awaitable<void> AsyncNotSocks(Session& session, Input& in) {
  AccessRecord& record = session.record();
  // Until the first bytes decide (or the deadline closes the socket): unknown, by its first byte.
  record.handshake = metrics::Handshake::kBadVersion;
  record.proto = protocol::SniffedName(protocol::Sniffed::kUnknown);
  record.fields().first_byte = in.front();
  auto sniffed = co_await AsyncReadMessage(session.client(), in, protocol::Sniff);
  if (!sniffed) co_return;  // gone before it said what it is
  record.proto = protocol::SniffedName(sniffed->value);
  if (sniffed->value != protocol::Sniffed::kUnknown) record.fields().first_byte.reset();
  if (sniffed->value == protocol::Sniffed::kHttp) {
    std::error_code ec;
    const asio::ip::tcp::endpoint local = session.client().local_endpoint(ec);
    if (ec) co_return;
    const std::string response = protocol::HttpNotSocksResponse(net::EndpointText(local));
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(response.data());
    if (!co_await AsyncWriteAll(session.client(), std::span(bytes, response.size()))) co_return;
  }
  co_await AsyncCloseGracefully(session.client());
}

// "0x00" .. "0xff", lower case like every hex field of the access line: its cmd= for a command byte
// socks5d does not know. Static strings, as AccessRecord::command must be.
const char* UnknownCommandName(std::uint8_t byte) {
  static constexpr auto kNames = [] {
    constexpr std::string_view kDigits = "0123456789abcdef";
    std::array<std::array<char, 5>, 256> names{};
    for (std::size_t i = 0; i < names.size(); ++i) {
      names[i] = {'0', 'x', kDigits[i >> 4], kDigits[i & 0xf], '\0'};
    }
    return names;
  }();
  return kNames[byte].data();
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
    co_await AsyncNotSocks(session, in);  // VER is not 5
    co_return std::nullopt;
  }
  Consume(in, greeting->consumed);
  // RFC 1929 against the users file, or (without one) any credentials, as Tor accepts them.
  protocol::AuthPolicy policy = protocol::AuthPolicy::kUsersFile;
  if (session.users() == nullptr) {
    policy = session.settings().accept_any_credentials ? protocol::AuthPolicy::kAnyCredentials
                                                       : protocol::AuthPolicy::kNoUsers;
  }
  std::uint8_t method = protocol::ChooseMethod(greeting->value, policy);
  std::array<std::uint8_t, 2> out;
  protocol::EncodeMethodSelection(method, out);
  if (!co_await AsyncWriteAll(session.client(), out)) co_return std::nullopt;
  if (method == protocol::kMethodNoAcceptable) {
    session.record().handshake = metrics::Handshake::kNoAcceptableMethod;
    co_await AsyncCloseGracefully(session.client());
    co_return std::nullopt;
  }
  co_return method;
}

asio::awaitable<bool> AsyncAuthenticate(Session& session, Input& in) {
  auto auth = co_await AsyncReadMessage(session.client(), in, protocol::ParseUserPass);
  if (!auth) co_return false;
  const bool complete = auth->status == ParseStatus::kComplete;
  if (session.users() == nullptr) {
    // No users file (protocol::AuthPolicy): any credentials are accepted, as Tor accepts them
    // for stream isolation; the name is recorded (for the log and the rules' user=), unchecked.
    std::array<std::uint8_t, 2> out;
    protocol::EncodeAuthStatus(complete, out);
    if (!co_await AsyncWriteAll(session.client(), out)) co_return false;
    if (!complete) {
      session.record().handshake = metrics::Handshake::kAuthFailure;
      co_await AsyncCloseGracefully(session.client());  // malformed: status 01, as with users
      co_return false;
    }
    session.record().user = net::LogSafe(auth->value.username);
    session.set_user(auth->value.username);
    Consume(in, auth->consumed);
    co_return true;
  }
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
    session.record().handshake = metrics::Handshake::kAuthFailure;
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
    } else if (in.size() >= 2 && request->reply == protocol::Reply::kCommandNotSupported) {
      // An unknown command (docs/conformance.md C8): its byte, and the target when the bytes
      // already here hold it (answered at once all the same, as before: no waiting for it).
      record.command = UnknownCommandName(in[1]);
      if (in.size() > 3) {
        auto address = protocol::ParseAddress(std::span<const std::uint8_t>(in).subspan(3));
        if (address.status == ParseStatus::kComplete) record.target = address.value.ToString();
      }
    }
    if (request->reply) {
      record.handshake = metrics::Handshake::kBadRequest;
      co_await AsyncFailAndClose(session, *request->reply);
    } else {
      record.handshake = metrics::Handshake::kBadVersion;
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
  AccessRecord& record = session.record();
  if (done && *done) record.handshake = metrics::Handshake::kOk;
  if (!done && record.handshake == metrics::Handshake::kClosed) {
    record.handshake = metrics::Handshake::kTimeout;
  }
  CountHandshake(session.context(), record);
  if (done) co_return std::move(*done);
  std::error_code ignored;
  session.client().close(ignored);  // the deadline passed
  co_return std::nullopt;
}

}  // namespace socks5::session
