// The UDP ASSOCIATE datagram header (RFC 1928 s.7).
//   +----+------+------+----------+----------+----------+
//   |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
//   +----+------+------+----------+----------+----------+
//   | 2  |  1   |  1   | Variable |    2     | Variable |
//   +----+------+------+----------+----------+----------+
// A datagram is whole: there is no "need more". A short or malformed header is invalid.
#ifndef SOCKS5_PROTOCOL_UDP_HEADER_H_
#define SOCKS5_PROTOCOL_UDP_HEADER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/address.h"

namespace socks5::protocol {

struct UdpHeader {
  std::uint8_t frag = 0;  // 0: standalone; else position 1..127, 0x80 marks the last fragment
  Address address;        // DST (client to server) or the remote's address (server to client)
  friend bool operator==(const UdpHeader&, const UdpHeader&) = default;
};

struct UdpDatagram {
  UdpHeader header;
  std::span<const std::uint8_t> payload;  // points into the input
};

// nullopt when the datagram is malformed: shorter than its header, RSV not zero, unknown ATYP,
// empty domain or a domain with NUL.
std::optional<UdpDatagram> ParseUdpDatagram(std::span<const std::uint8_t> in);

inline constexpr std::size_t kMaxUdpHeaderSize = 3 + 1 + 1 + 255 + 2;
// Writes the header; returns bytes written, or 0 when `out` is too small.
std::size_t EncodeUdpHeader(const UdpHeader& h, std::span<std::uint8_t> out);

}  // namespace socks5::protocol

#endif  // SOCKS5_PROTOCOL_UDP_HEADER_H_
