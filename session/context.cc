#include "session/context.h"

#include <algorithm>

namespace socks5::session {
namespace {

std::optional<net::PortPicker> PickerFor(const std::optional<net::PortRange>& range, int index,
                                         int workers) {
  if (!range) return std::nullopt;
  const std::size_t start = static_cast<std::size_t>(index) * range->size() /
                            static_cast<std::size_t>(std::max(1, workers));
  return net::PortPicker(*range, start);
}

}  // namespace

bool Settings::IsDenied(const asio::ip::address& address) const {
  return std::any_of(deny_destinations.begin(), deny_destinations.end(),
                     [&address](const net::Cidr& cidr) { return cidr.Contains(address); });
}

Context::Context(const Settings& s, asio::io_context& loop, dns::Resolver& r,
                 std::atomic<std::size_t>& active, int index, int workers)
    : settings(s),
      io(loop),
      resolver(r),
      active_sessions(active),
      bind_ports_(PickerFor(s.bind_port_range, index, workers)),
      udp_ports_(PickerFor(s.udp_port_range, index, workers)) {}

}  // namespace socks5::session
