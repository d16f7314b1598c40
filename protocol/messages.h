// SOCKS5 (RFC 1928) and username/password (RFC 1929) messages: parsers and encoders.
// No I/O: parsers take the bytes received so far and say whether a whole message is there.
// Handshake messages are at most 513 bytes, so callers re-parse the whole buffer after each read.
#ifndef SOCKS5_PROTOCOL_MESSAGES_H_
#define SOCKS5_PROTOCOL_MESSAGES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/address.h"

namespace socks5::protocol {

inline constexpr std::uint8_t kSocksVersion = 0x05;
inline constexpr std::uint8_t kUserPassVersion = 0x01;

// METHOD values (RFC 1928 s.3).
inline constexpr std::uint8_t kMethodNoAuth = 0x00;
inline constexpr std::uint8_t kMethodUserPass = 0x02;
inline constexpr std::uint8_t kMethodNoAcceptable = 0xFF;

// CMD values (RFC 1928 s.4), and Tor's two extensions (tor's doc/socks-extensions.txt): RESOLVE
// (F0) asks for the address of DST.ADDR's name, RESOLVE_PTR (F1) for the name of DST.ADDR's
// address; both are answered with one reply (the answer in BND.ADDR) and a close.
enum class Command : std::uint8_t {
  kConnect = 0x01,
  kBind = 0x02,
  kUdpAssociate = 0x03,
  kResolve = 0xF0,
  kResolvePtr = 0xF1,
};
// "CONNECT", "BIND", "UDP_ASSOCIATE", "RESOLVE", "RESOLVE_PTR"
const char* CommandName(Command c);

// REP values (RFC 1928 s.6).
enum class Reply : std::uint8_t {
  kSucceeded = 0x00,
  kGeneralFailure = 0x01,
  kNotAllowed = 0x02,
  kNetworkUnreachable = 0x03,
  kHostUnreachable = 0x04,
  kConnectionRefused = 0x05,
  kTtlExpired = 0x06,
  kCommandNotSupported = 0x07,
  kAddressTypeNotSupported = 0x08,
};

enum class ParseStatus {
  kNeedMore,  // a strict prefix of a valid message: read more
  kComplete,  // value is set; `consumed` bytes belong to the message, the rest do not
  kInvalid,   // not a valid message; `reply` says what to answer (nullopt: just close)
};

template <typename T>
struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  T value{};
  std::size_t consumed = 0;
  std::optional<Reply> reply;  // only for kInvalid
};

// ---- Method negotiation (RFC 1928 s.3) ----
//   +----+----------+----------+
//   |VER | NMETHODS | METHODS  |
//   +----+----------+----------+
//   | 1  |    1     | 1 to 255 |
//   +----+----------+----------+
// VER other than 5 is invalid (no reply: close). NMETHODS = 0 is a complete greeting with no
// methods (the server then answers 05 FF).
struct Greeting {
  std::vector<std::uint8_t> methods;
  friend bool operator==(const Greeting&, const Greeting&) = default;
};
ParseResult<Greeting> ParseGreeting(std::span<const std::uint8_t> in);
// How the server uses RFC 1929.
enum class AuthPolicy : std::uint8_t {
  kUsersFile,  // a users file: user/password only (no-auth alone is refused)
  // No users file: no-auth; user/password (any credentials accepted, the name only recorded)
  // when the greeting offers it without no-auth, as Tor clients asking for stream isolation do.
  kNoUsers,
  kAnyCredentials,  // no users file, --accept_any_credentials: user/password whenever offered
};
// Picks the method for `policy` (above), or kMethodNoAcceptable when nothing offered fits.
std::uint8_t ChooseMethod(const Greeting& greeting, AuthPolicy policy);
inline constexpr std::size_t kMaxGreetingSize = 2 + 255;
// For clients/tests; 0 when `out` is too small or there are more than 255 methods.
std::size_t EncodeGreeting(const Greeting& g, std::span<std::uint8_t> out);
//   +----+--------+
//   |VER | METHOD |
//   +----+--------+
inline constexpr std::size_t kMethodSelectionSize = 2;
std::size_t EncodeMethodSelection(std::uint8_t method, std::span<std::uint8_t> out);

// ---- Username/password (RFC 1929 s.2) ----
//   +----+------+----------+------+----------+
//   |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
//   +----+------+----------+------+----------+
//   | 1  |  1   | 1 to 255 |  1   | 1 to 255 |
//   +----+------+----------+------+----------+
// VER other than 1, ULEN 0 or PLEN 0 are invalid (reply kGeneralFailure: send status 01, close).
struct UserPass {
  std::string username;
  std::string password;
  friend bool operator==(const UserPass&, const UserPass&) = default;
};
ParseResult<UserPass> ParseUserPass(std::span<const std::uint8_t> in);
inline constexpr std::size_t kMaxUserPassSize = 3 + 255 + 255;
// For clients/tests; 0 when `out` is too small or a field is empty or longer than 255 bytes.
std::size_t EncodeUserPass(const UserPass& up, std::span<std::uint8_t> out);
//   +----+--------+
//   |VER | STATUS |   STATUS 00 = success
//   +----+--------+
inline constexpr std::size_t kAuthStatusSize = 2;
std::size_t EncodeAuthStatus(bool success, std::span<std::uint8_t> out);

// ---- Requests (RFC 1928 s.4) ----
//   +----+-----+-------+------+----------+----------+
//   |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
//   +----+-----+-------+------+----------+----------+
//   | 1  |  1  | X'00' |  1   | Variable |    2     |
//   +----+-----+-------+------+----------+----------+
// Invalid: VER != 5 (close, no reply); CMD not 1..3, F0 or F1 (kCommandNotSupported); ATYP not
// 1/3/4 (kAddressTypeNotSupported); domain of length 0 or containing NUL (kGeneralFailure).
// RESOLVE (F0) normally carries ATYP 03 and RESOLVE_PTR (F1) ATYP 01 or 04; what else they may
// carry is the handler's to judge (PtrQueryAddress below). DST.PORT means nothing to either.
// RSV is not checked (docs/conformance.md C11: accept).
struct Request {
  Command command = Command::kConnect;
  Address destination;
  friend bool operator==(const Request&, const Request&) = default;
};
ParseResult<Request> ParseRequest(std::span<const std::uint8_t> in);
inline constexpr std::size_t kMaxRequestSize = 4 + 1 + 255 + 2;
std::size_t EncodeRequest(const Request& r, std::span<std::uint8_t> out);  // for clients/tests

// The address a RESOLVE_PTR (F1) asks about: DST.ADDR's IPv4 or IPv6 address, or the IP literal
// a domain DST.ADDR spells ("192.0.2.1", "2001:db8::1"); an IPv4-mapped IPv6 address is its IPv4
// address. nullopt for a name that is no IP literal (answered kAddressTypeNotSupported).
std::optional<Address> PtrQueryAddress(const Address& destination);

// ---- Replies (RFC 1928 s.6) ----
//   +----+-----+-------+------+----------+----------+
//   |VER | REP |  RSV  | ATYP | BND.ADDR | BND.PORT |
//   +----+-----+-------+------+----------+----------+
struct ReplyMessage {
  Reply reply = Reply::kSucceeded;
  Address bound;
  friend bool operator==(const ReplyMessage&, const ReplyMessage&) = default;
};
inline constexpr std::size_t kMaxReplySize = kMaxRequestSize;
std::size_t EncodeReply(Reply rep, const Address& bound, std::span<std::uint8_t> out);
// For clients/tests. Invalid (reply always nullopt: a client just closes): VER != 5, REP not
// 00..08, or a malformed BND address as for requests.
ParseResult<ReplyMessage> ParseReply(std::span<const std::uint8_t> in);

// ---- Addresses: ATYP DST.ADDR DST.PORT, shared by requests, replies and UDP headers ----
// Returns kNeedMore, kComplete or kInvalid (with the reply code as above).
ParseResult<Address> ParseAddress(std::span<const std::uint8_t> in);
// Returns bytes written (address.encoded_size()), or 0 when `out` is too small or the domain is
// empty or longer than 255 bytes (the same holds for every encoder that writes an address). A
// domain with a NUL is written as given, so tests can build the invalid request.
std::size_t EncodeAddress(const Address& a, std::span<std::uint8_t> out);

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_MESSAGES_H_
