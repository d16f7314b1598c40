#include "session/session.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "net/address.h"
#include "net/log.h"
#include "session/handlers.h"
#include "session/handshake.h"
#include "session/replies.h"
#include "session/session_metrics.h"

namespace socks5::session {
namespace {

std::string ReplyText(const std::optional<protocol::Reply>& reply) {
  if (!reply) return "-";
  return absl::StrFormat("%02x", static_cast<int>(*reply));
}

// --max_sessions_per_user (session/admission.h): charges an authenticated session to its user,
// held until the session ends. False (logged, limit=user) when the user is at the cap.
bool ChargeUser(Session& session) {
  Admission* admission = session.context().admission;
  const std::size_t cap = session.settings().max_sessions_per_user;
  if (admission == nullptr || !session.user() || cap == 0) return true;  // 0: nothing counted
  session.user_slot() = UserSlot::TryAcquire(admission->users, *session.user(), cap);
  if (session.user_slot()) return true;
  session.record().fields().limit = "user";
  static net::RateLimitedWarning warning("max_sessions_per_user", "refused", "requests");
  warning.Warn("max_sessions_per_user=%d reached for user %s; request answered 02", cap,
               session.record().user);
  return false;
}

}  // namespace

AccessRecord::CommandFields& AccessRecord::fields() {
  if (!command_fields) command_fields = std::make_unique<CommandFields>();
  return *command_fields;
}

protocol::LogRecord AccessRecord::Fields(const asio::ip::tcp::endpoint& client, absl::Time now,
                                         bool json) const {
  protocol::LogRecord out;
  out.Add("client", net::EndpointText(client));
  // The text line marks a refused user name in place; JSON has a field for it.
  out.Add("user", json || !user_rejected ? user : absl::StrCat(user, "(rejected)"));
  if (json && user_rejected) out.AddBool("user_rejected", true);
  out.Add("cmd", command);
  out.Add("target", target);
  out.Add("reply", ReplyText(reply));
  out.Add("up", std::uint64_t{bytes.bytes_up});
  out.Add("down", std::uint64_t{bytes.bytes_down});
  out.AddSeconds("duration", absl::ToDoubleSeconds(now - start));
  if (proto != nullptr) out.Add("proto", proto);
  if (command_fields && command_fields->socks4_userid) {
    out.Add("socks4_userid", *command_fields->socks4_userid);
  }
  if (command_fields && command_fields->first_byte) {
    out.Add("first", absl::StrFormat("0x%02x", *command_fields->first_byte));
  }
  if (rule_decided) out.Add("rule", rule != nullptr ? rule->source : "default");
  if (const CommandFields* f = command_fields.get()) {
    if (f->bound) out.Add("bound", f->bound->ToString());
    if (f->outcome) out.Add("outcome", *f->outcome);
    if (f->peer) out.Add("peer", f->peer->ToString());
    if (f->relay) {
      out.Add("relay", f->relay->ToString());
      out.Append(f->association_fields);
    }
    if (f->limit) out.Add("limit", *f->limit);
  }
  return out;
}

std::string AccessRecord::LogLine(const asio::ip::tcp::endpoint& client, absl::Time now) const {
  return absl::StrCat("access", Fields(client, now, /*json=*/false).Text());
}

std::string AccessRecord::JsonLine(const asio::ip::tcp::endpoint& client, absl::Time now) const {
  return Fields(client, now, /*json=*/true)
      .Json(absl::StrCat(R"("ts":")", net::LogTimestamp(now), R"(","event":"access")"));
}

Session::Session(Context& context, asio::ip::tcp::socket client,
                 const asio::ip::tcp::endpoint& peer)
    : context_(context),
      policy_(context.policies->Current()),
      client_(std::move(client)),
      client_endpoint_(peer) {
  record_.start = absl::Now();
  context_.active_sessions.fetch_add(1, std::memory_order_relaxed);
}

Session::Session(Context& context, asio::ip::tcp::socket client)
    : Session(context, std::move(client), asio::ip::tcp::endpoint()) {
  std::error_code ec;
  client_endpoint_ = client_.remote_endpoint(ec);
}

Session::~Session() {
  context_.active_sessions.fetch_sub(1, std::memory_order_relaxed);
  // Released before the line is written: a reader of the log may reconnect.
  if (extras_) extras_->user_slot.reset();
  CountSessionEnd(context_, record_, user());
  if (net::LogEnabled(net::LogLevel::kInfo)) {
    const absl::Time now = absl::Now();
    net::LogRaw(net::LogLevel::kInfo, context_.settings.access_log_json
                                          ? record_.JsonLine(client_endpoint_, now)
                                          : net::LogPrefix(net::LogLevel::kInfo, now) +
                                                record_.LogLine(client_endpoint_, now));
  }
}

const std::optional<std::string>& Session::user() const {
  static const std::optional<std::string> kNone;
  return extras_ ? extras_->user : kNone;
}

const std::shared_ptr<relay::RateLimiter>& Session::shared_rate_limiter() const {
  static const std::shared_ptr<relay::RateLimiter> kNone;
  return extras_ ? extras_->rate_limiter : kNone;
}

namespace {

asio::awaitable<void> RunSessionOnHeap(std::unique_ptr<Session> owned) {
  Session& session = *owned;
  Context& context = session.context();
  // TCP_NODELAY: inherited from the worker's listener (net::ListenOptions::no_delay).
  std::optional<protocol::Request> request;
  {
    // Listed (sheddable) only while the handshake runs; unlisted before the session is freed.
    HandshakeRegistry::Entry handshaking(context.handshakes, session.client());
    request = co_await AsyncHandshake(session);
  }
  if (!request) co_return;
  if (!ChargeUser(session)) {
    co_return co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
  }
  switch (request->command) {
    case protocol::Command::kConnect:
      co_await RunConnect(session, *request);
      break;
    case protocol::Command::kBind:
      co_await RunBind(session, *request);
      break;
    case protocol::Command::kUdpAssociate:
      co_await RunUdpAssociate(session, *request);
      break;
    case protocol::Command::kResolve:
      co_await RunResolve(session, *request);
      break;
    case protocol::Command::kResolvePtr:
      co_await RunResolvePtr(session, *request);
      break;
  }
}

}  // namespace

// Not a coroutine: the session is made here, on the heap, and the coroutine holds only a pointer
// to it. A coroutine's frame keeps a copy of every parameter for its whole life; taking the
// socket and Admitted by value there would cost their ~150 bytes again in every session (RSS per
// idle session, issue 10).
asio::awaitable<void> RunSession(Context& context, asio::ip::tcp::socket client,
                                 Admitted admitted) {
  auto session = std::make_unique<Session>(context, std::move(client), admitted.peer);
  session->admitted() = std::move(admitted);
  return RunSessionOnHeap(std::move(session));
}

}  // namespace socks5::session
