#include "protocol/socks4.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>

#include "protocol/wire.h"

namespace socks5::protocol {
namespace {

using Bytes = std::span<const std::uint8_t>;

ParseResult<Socks4Request> Invalid(std::optional<Reply> reply) {
  ParseResult<Socks4Request> result;
  result.status = ParseStatus::kInvalid;
  result.reply = reply;
  return result;
}

enum class Field { kNeedMore, kComplete, kTooLong };

// A NUL-terminated field of at most `max` bytes at the start of `in`; `length` excludes the NUL.
Field ReadNulTerminated(Bytes in, std::size_t max, std::size_t& length) {
  const std::size_t window = std::min(in.size(), max + 1);
  const auto* end = in.data() + window;
  const auto* nul = std::find(in.data(), end, std::uint8_t{0});
  if (nul != end) {
    length = static_cast<std::size_t>(nul - in.data());
    return Field::kComplete;
  }
  return window == max + 1 ? Field::kTooLong : Field::kNeedMore;
}

std::string ToString(Bytes bytes) { return std::string(bytes.begin(), bytes.end()); }

Bytes AsBytes(const std::string& s) {
  return Bytes(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

bool IsNulFree(const std::string& s, std::size_t max) {
  return s.size() <= max && s.find('\0') == std::string::npos;
}

}  // namespace

bool IsSocks4aMarker(const Ipv4& ip) {
  return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
}

ParseResult<Socks4Request> ParseSocks4Request(std::span<const std::uint8_t> in) {
  Reader r(in);
  std::uint8_t version = 0;
  if (!r.U8(version)) return {};
  if (version != kSocks4Version) return Invalid(std::nullopt);
  std::uint8_t command = 0;
  if (!r.U8(command)) return {};
  if (command != static_cast<std::uint8_t>(Command::kConnect) &&
      command != static_cast<std::uint8_t>(Command::kBind)) {
    return Invalid(Reply::kCommandNotSupported);
  }
  std::uint16_t port = 0;
  Bytes ip_bytes;
  if (!r.U16(port) || !r.Bytes(4, ip_bytes)) return {};
  Ipv4 ip;
  std::copy(ip_bytes.begin(), ip_bytes.end(), ip.begin());

  std::size_t user_length = 0;
  switch (ReadNulTerminated(in.subspan(r.consumed()), kMaxSocks4UserIdSize, user_length)) {
    case Field::kNeedMore:
      return {};
    case Field::kTooLong:
      return Invalid(Reply::kGeneralFailure);
    case Field::kComplete:
      break;
  }
  Bytes user;
  r.Bytes(user_length, user);
  std::uint8_t nul = 0;
  r.U8(nul);

  ParseResult<Socks4Request> result;
  result.value.request.command = static_cast<Command>(command);
  result.value.user_id = ToString(user);
  if (!IsSocks4aMarker(ip)) {
    result.value.request.destination = Address{ip, port};
  } else {
    std::size_t name_length = 0;
    switch (ReadNulTerminated(in.subspan(r.consumed()), kMaxSocks4NameSize, name_length)) {
      case Field::kNeedMore:
        return {};
      case Field::kTooLong:
        return Invalid(Reply::kGeneralFailure);
      case Field::kComplete:
        break;
    }
    if (name_length == 0) return Invalid(Reply::kGeneralFailure);
    Bytes name;
    r.Bytes(name_length, name);
    r.U8(nul);
    result.value.request.destination = Address{ToString(name), port};
    result.value.socks4a = true;
  }
  result.status = ParseStatus::kComplete;
  result.consumed = r.consumed();
  return result;
}

std::size_t EncodeSocks4Request(const Socks4Request& request, std::span<std::uint8_t> out) {
  const Request& req = request.request;
  if (req.command != Command::kConnect && req.command != Command::kBind) return 0;
  if (!IsNulFree(request.user_id, kMaxSocks4UserIdSize)) return 0;
  const auto* v4 = std::get_if<Ipv4>(&req.destination.host);
  const auto* name = std::get_if<std::string>(&req.destination.host);
  if (v4 == nullptr && name == nullptr) return 0;  // SOCKS4 has no IPv6
  if (name != nullptr && (name->empty() || !IsNulFree(*name, kMaxSocks4NameSize))) return 0;
  Writer w(out);
  w.U8(kSocks4Version);
  w.U8(static_cast<std::uint8_t>(req.command));
  w.U16(req.destination.port);
  w.Bytes(v4 != nullptr ? *v4 : Ipv4{0, 0, 0, 1});
  w.Bytes(AsBytes(request.user_id));
  w.U8(0);
  if (name != nullptr) {
    w.Bytes(AsBytes(*name));
    w.U8(0);
  }
  return w.ok() ? w.written() : 0;
}

std::uint8_t Socks4ReplyCode(Reply reply) {
  return reply == Reply::kSucceeded ? kSocks4Granted : kSocks4Rejected;
}

std::size_t EncodeSocks4Reply(Reply reply, const Address& bound, std::span<std::uint8_t> out) {
  Ipv4 ip{};
  if (const auto* v4 = std::get_if<Ipv4>(&bound.host)) {
    ip = *v4;
  } else if (const auto* v6 = std::get_if<Ipv6>(&bound.host)) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(std::begin(kMapped), std::end(kMapped), v6->begin())) {
      std::copy(v6->begin() + 12, v6->end(), ip.begin());
    }
  }
  Writer w(out);
  w.U8(0x00);  // VN of a reply
  w.U8(Socks4ReplyCode(reply));
  w.U16(bound.port);
  w.Bytes(ip);
  return w.ok() ? w.written() : 0;
}

}  // namespace socks5::protocol
