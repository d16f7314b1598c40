#include "session/context.h"

#include <algorithm>

#include "net/address.h"

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

bool Settings::ExpectsProxyHeader(const asio::ip::address& peer) const {
  return std::any_of(proxy_protocol_from.begin(), proxy_protocol_from.end(),
                     [&peer](const net::Cidr& cidr) { return cidr.Contains(peer); });
}

std::shared_ptr<const udp::DestinationPolicy> MakeDestinationPolicy(
    const std::vector<net::Cidr>& deny, const std::vector<asio::ip::tcp::endpoint>& listeners,
    const std::vector<asio::ip::address>& local) {
  auto policy = std::make_shared<udp::DestinationPolicy>();
  for (const net::Cidr& cidr : deny) {
    // ParseCidr unmaps the network, so its length fits the family.
    policy->denied.push_back(udp::IpPrefix{net::ToUdpIp(cidr.network), cidr.prefix_length});
  }
  for (const auto& endpoint : listeners) {
    if (endpoint.port() != 0) policy->listen_ports.insert(endpoint.port());
    if (!endpoint.address().is_unspecified()) {
      policy->local_addresses.insert(net::ToUdpIp(endpoint.address()));
    }
  }
  for (const auto& address : local) policy->local_addresses.insert(net::ToUdpIp(address));
  return policy;
}

Context::Context(const Settings& s, asio::io_context& loop, dns::Resolver& r,
                 std::atomic<std::size_t>& active, int index, int workers)
    : settings(s),
      io(loop),
      resolver(r),
      active_sessions(active),
      destinations(MakeDestinationPolicy(s.deny_destinations, {}, {})),
      bind_ports_(PickerFor(s.bind_port_range, index, workers)),
      udp_ports_(PickerFor(s.udp_port_range, index, workers)) {}

}  // namespace socks5::session
