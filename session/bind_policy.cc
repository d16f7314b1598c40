#include "session/bind_policy.h"

#include <algorithm>

#include "net/address.h"

namespace socks5::session {

bool BindPeerAllowed(const std::vector<asio::ip::address>& expected,
                     const asio::ip::address& peer) {
  if (expected.empty()) return true;
  const asio::ip::address from = net::Unmapped(peer);
  return std::any_of(expected.begin(), expected.end(),
                     [&from](const asio::ip::address& a) { return net::Unmapped(a) == from; });
}

std::optional<asio::ip::address> BindReplyAddress(const std::optional<asio::ip::address>& advertise,
                                                  const asio::ip::address& listener) {
  if (advertise && !net::Unmapped(*advertise).is_unspecified()) return net::Unmapped(*advertise);
  const asio::ip::address own = net::Unmapped(listener);
  if (own.is_unspecified()) return std::nullopt;
  return own;
}

}  // namespace socks5::session
