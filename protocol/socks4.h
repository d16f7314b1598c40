// SOCKS4 and SOCKS4A requests and replies (Ying-Da Lee, "SOCKS: A protocol for TCP proxy across
// firewalls" and "SOCKS 4A: A Simple Extension to SOCKS 4 Protocol"): parser and encoders.
// No I/O. A request is re-parsed whole after each read, like the SOCKS5 messages.
#ifndef SOCKS5_PROTOCOL_SOCKS4_H_
#define SOCKS5_PROTOCOL_SOCKS4_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "protocol/address.h"
#include "protocol/messages.h"

namespace socks5::protocol {

inline constexpr std::uint8_t kSocks4Version = 0x04;

// CD of a reply: 5A granted, 5B rejected or failed. (5C and 5D are identd's codes; socks5d runs
// no identd check, so it never sends them.)
inline constexpr std::uint8_t kSocks4Granted = 0x5A;
inline constexpr std::uint8_t kSocks4Rejected = 0x5B;

// Longest USERID and SOCKS4A host name accepted (without their NUL). The specifications set no
// bound; 255 is SOCKS5's (RFC 1928's domain, RFC 1929's user name), so a request is never
// larger than kMaxSocks4RequestSize and a client that never sends the NUL is answered 5B as
// soon as the bound is passed instead of being read forever.
inline constexpr std::size_t kMaxSocks4UserIdSize = 255;
inline constexpr std::size_t kMaxSocks4NameSize = 255;
inline constexpr std::size_t kMaxSocks4RequestSize =
    8 + kMaxSocks4UserIdSize + 1 + kMaxSocks4NameSize + 1;

// ---- Requests ----
//   +----+----+---------+--------+-------------+------+--------------------+
//   | VN | CD | DSTPORT | DSTIP  | USERID      | NULL | SOCKS4A: HOST NULL |
//   +----+----+---------+--------+-------------+------+--------------------+
//   | 1  | 1  |    2    |   4    | 0 to 255    |  1   | 1 to 255, 1        |
//   +----+----+---------+--------+-------------+------+--------------------+
// VN 04; CD 01 CONNECT, 02 BIND. SOCKS4A: DSTIP 0.0.0.x with x != 0 means a host name follows
// the USERID's NUL, and the destination is that name (resolved by the server).
// Invalid: VN != 4 (reply nullopt: not SOCKS4); CD not 1 or 2 (kCommandNotSupported); a USERID
// or name over its bound, or an empty name (kGeneralFailure). Every invalid SOCKS4 request is
// answered 5B; `reply` is the SOCKS5 reason, for the caller's log.
struct Socks4Request {
  Request request;      // kConnect or kBind; an IPv4 destination, or SOCKS4A's name
  std::string user_id;  // the client's bytes: untrusted, log escaped
  bool socks4a = false;
  friend bool operator==(const Socks4Request&, const Socks4Request&) = default;
};
ParseResult<Socks4Request> ParseSocks4Request(std::span<const std::uint8_t> in);
// For clients/tests: a SOCKS4 request for an IPv4 destination, a SOCKS4A request (DSTIP 0.0.0.1)
// for a name. 0 when `out` is too small, the destination is IPv6, a field is over its bound or
// holds a NUL, or the command is not CONNECT or BIND.
std::size_t EncodeSocks4Request(const Socks4Request& request, std::span<std::uint8_t> out);

// True for a DSTIP that announces a SOCKS4A name: 0.0.0.x, x != 0.
bool IsSocks4aMarker(const Ipv4& ip);

// ---- Replies ----
//   +----+----+---------+-------+
//   | VN | CD | DSTPORT | DSTIP |   VN 00; CD 5A or 5B
//   +----+----+---------+-------+
inline constexpr std::size_t kSocks4ReplySize = 8;
// The SOCKS4 reply for what a SOCKS5 handler decided: kSucceeded is 5A, anything else 5B.
std::uint8_t Socks4ReplyCode(Reply reply);
// Writes `00 CD PORT IP` for the SOCKS5 reply `reply` with `bound`: an IPv4 address as it is, an
// IPv4-mapped IPv6 address as its IPv4 address, anything else (IPv6, a name) as 0.0.0.0, which
// SOCKS4 defines as "the server's own address" for BIND. 0 when `out` is too small.
std::size_t EncodeSocks4Reply(Reply reply, const Address& bound, std::span<std::uint8_t> out);

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_SOCKS4_H_
