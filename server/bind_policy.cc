#include "server/bind_policy.h"

#include <algorithm>

#include "server/net.h"

namespace socks5::server {

bool BindPeerAllowed(const std::vector<asio::ip::address>& expected,
                     const asio::ip::address& peer) {
  if (expected.empty()) return true;
  const asio::ip::address from = Unmapped(peer);
  return std::any_of(expected.begin(), expected.end(),
                     [&from](const asio::ip::address& a) { return Unmapped(a) == from; });
}

std::optional<asio::ip::address> BindReplyAddress(const std::optional<asio::ip::address>& advertise,
                                                  const asio::ip::address& listener) {
  if (advertise && !Unmapped(*advertise).is_unspecified()) return Unmapped(*advertise);
  const asio::ip::address own = Unmapped(listener);
  if (own.is_unspecified()) return std::nullopt;
  return own;
}

}  // namespace socks5::server
