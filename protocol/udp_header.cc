#include "protocol/udp_header.h"

#include "protocol/messages.h"
#include "protocol/wire.h"

namespace socks5::protocol {

std::optional<UdpDatagram> ParseUdpDatagram(std::span<const std::uint8_t> in) {
  Reader r(in);
  std::uint16_t reserved = 0;
  std::uint8_t frag = 0;
  if (!r.U16(reserved) || !r.U8(frag)) return std::nullopt;
  if (reserved != 0) return std::nullopt;  // docs/conformance.md F9
  // A datagram is all there is: an address cut short is as malformed as an invalid one.
  auto address = ParseAddress(in.subspan(r.consumed()));
  if (address.status != ParseStatus::kComplete) return std::nullopt;
  std::size_t header_size = r.consumed() + address.consumed;
  return UdpDatagram{UdpHeader{frag, std::move(address.value)}, in.subspan(header_size)};
}

std::size_t EncodeUdpHeader(const UdpHeader& h, std::span<std::uint8_t> out) {
  Writer w(out);
  w.U16(0x0000);  // RSV
  w.U8(h.frag);
  if (!w.ok()) return 0;
  std::size_t address_size = EncodeAddress(h.address, out.subspan(w.written()));
  if (address_size == 0) return 0;
  return w.written() + address_size;
}

}  // namespace socks5::protocol
