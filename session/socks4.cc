#include "session/socks4.h"

#include <utility>

#include "net/log.h"
#include "session/replies.h"

namespace socks5::session {
namespace {

using protocol::ParseStatus;

// proto= of the access line, from the bytes read (also for a request that turned out invalid):
// DSTIP 0.0.0.x, x != 0, is SOCKS4a.
const char* ProtoName(const Input& in) {
  if (in.size() >= 8 && protocol::IsSocks4aMarker({in[4], in[5], in[6], in[7]})) return "socks4a";
  return "socks4";
}

}  // namespace

asio::awaitable<std::optional<protocol::Request>> AsyncAcceptSocks4(
    Session& session, Input& in, protocol::ParseResult<protocol::Socks4Request> parsed) {
  session.set_socks4();
  AccessRecord& record = session.record();
  record.proto = ProtoName(in);
  if (in.size() >= 2 && (in[1] == 1 || in[1] == 2)) {
    record.command = protocol::CommandName(static_cast<protocol::Command>(in[1]));
  }
  if (parsed.status == ParseStatus::kInvalid) {
    net::LogDebug("SOCKS4 request from %s refused: %s",
                  session.client_endpoint().address().to_string(),
                  parsed.reply == protocol::Reply::kCommandNotSupported
                      ? "command not CONNECT or BIND"
                      : "USERID or name empty or over 255 bytes");
    co_await AsyncFailAndClose(session, parsed.reply.value_or(protocol::Reply::kGeneralFailure));
    co_return std::nullopt;
  }
  protocol::Socks4Request& request = parsed.value;
  record.target = request.request.destination.ToString();
  if (!request.user_id.empty()) record.fields().socks4_userid = net::LogSafe(request.user_id);
  if (!session.settings().socks4) {
    net::LogDebug("SOCKS4 request refused: --socks4=false");
    co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
    co_return std::nullopt;
  }
  if (session.users() != nullptr) {
    // A users file makes authentication mandatory, and SOCKS4 has no password to check.
    net::LogDebug("SOCKS4 request refused: a users file is set (SOCKS4 carries no password)");
    co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
    co_return std::nullopt;
  }
  in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(parsed.consumed));
  session.early_data() = std::move(in);
  co_return std::move(request.request);
}

}  // namespace socks5::session
