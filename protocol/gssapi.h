// RFC 1961, the GSS-API method (SOCKS method 01): its message framing and the choice of a
// protection level. Pure: no GSS-API calls, no I/O. The tokens inside the messages are made and
// checked by gss/ (MIT Kerberos); this file only frames them.
//
//   +------+------+------+.......................+
//   + ver  | mtyp | len  |       token           |
//   +------+------+------+.......................+
//   + 0x01 | 0x01 | 0x02 | up to 2^16 - 1 octets |
//   +------+------+------+.......................+
// mtyp 1: a context-establishment token (s.3.3-3.7); 2: the protection-level subnegotiation
// (s.4.3, the level octet, gss_wrap()ed); 3: encapsulated user data (s.5, one gss_wrap() token);
// 0xff: abort, two octets without len or token (s.3.8).
#ifndef SOCKS5_PROTOCOL_GSSAPI_H_
#define SOCKS5_PROTOCOL_GSSAPI_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/messages.h"

namespace socks5::protocol::gssapi {

inline constexpr std::uint8_t kVersion = 0x01;
inline constexpr std::size_t kHeaderSize = 4;         // ver, mtyp, len
inline constexpr std::size_t kMaxTokenSize = 0xffff;  // what len can say
inline constexpr std::size_t kAbortSize = 2;

enum class MessageType : std::uint8_t {
  kAuthentication = 0x01,
  kProtection = 0x02,
  kEncapsulated = 0x03,
  kAbort = 0xff,
};

struct Message {
  MessageType type = MessageType::kAbort;
  std::span<const std::uint8_t> token;  // a view into the parsed bytes; empty for kAbort
};

// Parses the message at the front of `in`, which must be of type `expected` or an abort (01 ff,
// complete after 2 bytes: the peer gave up). Invalid: ver not 1, another type, len 0, or len over
// `max_token` (checked as soon as len is there, before the token is waited for, so a peer cannot
// make the caller buffer more than max_token + 4 bytes). `reply` is never set (RFC 1961 answers
// everything with an abort or a close).
ParseResult<Message> ParseMessage(std::span<const std::uint8_t> in, MessageType expected,
                                  std::size_t max_token = kMaxTokenSize);

// Appends ver, mtyp, len and `token` to `out`. False (nothing appended) when the token is empty or
// longer than kMaxTokenSize.
bool AppendMessage(MessageType type, std::span<const std::uint8_t> token,
                   std::vector<std::uint8_t>& out);
// 01 ff.
inline constexpr std::uint8_t kAbort[kAbortSize] = {kVersion, 0xff};

// ---- Protection levels (s.4.3) ----
// The level octet. 0 is no per-message protection after the subnegotiation: not in RFC 1961, but
// what Dante's `clear` and curl (which cannot encapsulate) ask for. 3 (selective, per message) is
// never chosen: socks5d answers it with the strongest level it accepts.
enum class Protection : std::uint8_t {
  kNone = 0x00,
  kIntegrity = 0x01,
  kConfidentiality = 0x02,
  kSelective = 0x03,
};

// The levels a server accepts (--gssapi_protection).
struct ProtectionSet {
  bool none = false;
  bool integrity = true;
  bool confidentiality = true;
  bool Contains(Protection p) const;
  friend bool operator==(const ProtectionSet&, const ProtectionSet&) = default;
};

// "integrity,confidentiality", "none", ...: a comma-separated list of none, integrity,
// confidentiality (spaces around items allowed). nullopt when empty, or an item is unknown or
// repeated.
std::optional<ProtectionSet> ParseProtectionSet(std::string_view text);

// The level the server answers to the client's `requested` octet: the requested one when it is
// accepted; otherwise (3, selective, always) the strongest accepted level (the client then decides,
// RFC 1961 s.4.4: "If the server's choice of protection level is unacceptable to the client, then
// the client must close its connection"). nullopt when `requested` is not a level at all (over 3)
// or nothing is accepted: the server aborts.
std::optional<Protection> ChooseProtection(std::uint8_t requested, const ProtectionSet& accepted);

}  // namespace socks5::protocol::gssapi

#endif  // SOCKS5_PROTOCOL_GSSAPI_H_
