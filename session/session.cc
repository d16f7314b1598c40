#include "session/session.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "net/address.h"
#include "net/log.h"
#include "session/handlers.h"
#include "session/handshake.h"
#include "session/replies.h"

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

std::string AccessRecord::LogLine(const asio::ip::tcp::endpoint& client, absl::Time now) const {
  std::string extra;
  if (proto != nullptr) absl::StrAppend(&extra, " proto=", proto);
  if (command_fields && command_fields->socks4_userid) {
    absl::StrAppend(&extra, " socks4_userid=", *command_fields->socks4_userid);
  }
  if (command_fields && command_fields->first_byte) {
    absl::StrAppend(&extra, absl::StrFormat(" first=0x%02x", *command_fields->first_byte));
  }
  if (rule_decided) {
    absl::StrAppend(&extra, " rule=", rule != nullptr ? rule->source : "default");
  }
  if (const CommandFields* f = command_fields.get()) {
    if (f->bound) absl::StrAppend(&extra, " bound=", f->bound->ToString());
    if (f->outcome) absl::StrAppend(&extra, " outcome=", *f->outcome);
    if (f->peer) absl::StrAppend(&extra, " peer=", f->peer->ToString());
    if (f->relay) absl::StrAppend(&extra, " relay=", f->relay->ToString(), f->association_fields);
    if (f->limit) absl::StrAppend(&extra, " limit=", *f->limit);
  }
  return absl::StrFormat(
      "access client=%s user=%s%s cmd=%s target=%s reply=%s up=%d down=%d duration=%.3fs%s",
      net::EndpointText(client), user, user_rejected ? "(rejected)" : "", command, target,
      ReplyText(reply), bytes.bytes_up, bytes.bytes_down, absl::ToDoubleSeconds(now - start),
      extra);
}

Session::Session(Context& context, asio::ip::tcp::socket client)
    : context_(context), policy_(context.policies->Current()), client_(std::move(client)) {
  record_.start = absl::Now();
  std::error_code ec;
  client_endpoint_ = client_.remote_endpoint(ec);
  context_.active_sessions.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
  context_.active_sessions.fetch_sub(1, std::memory_order_relaxed);
  user_slot_.reset();  // released before the line is written: a reader of the log may reconnect
  net::LogInfo("%s", record_.LogLine(client_endpoint_, absl::Now()));
}

asio::awaitable<void> RunSession(Context& context, asio::ip::tcp::socket client,
                                 Admitted admitted) {
  Session session(context, std::move(client));
  session.admitted() = std::move(admitted);
  std::error_code ignored;
  session.client().set_option(asio::ip::tcp::no_delay(true), ignored);
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

}  // namespace socks5::session
