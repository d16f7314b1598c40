#include "udp/destination.h"

#include <algorithm>

namespace socks5::udp {

bool IpPrefix::Contains(const IpAddress& ip) const {
  const std::uint8_t* a = nullptr;
  const std::uint8_t* b = nullptr;
  int bits = 0;
  if (ip.is_v4() != network.is_v4()) return false;
  if (ip.is_v4()) {
    a = ip.v4()->data();
    b = network.v4()->data();
    bits = std::clamp(length, 0, 32);
  } else {
    a = ip.v6()->data();
    b = network.v6()->data();
    bits = std::clamp(length, 0, 128);
  }
  int i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (a[i] != b[i]) return false;
  }
  if (bits == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
  return (a[i] & mask) == (b[i] & mask);
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kUnspecified:
      return "unspecified";
    case Verdict::kOwnEndpoint:
      return "own_endpoint";
    case Verdict::kDenied:
      return "denied";
  }
  return "?";
}

bool IsLoopback(const IpAddress& ip) {
  if (const auto* v4 = ip.v4()) return (*v4)[0] == 127;
  static constexpr protocol::Ipv6 kLoopback6 = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return *ip.v6() == kLoopback6;
}

bool IsUnspecifiedRange(const IpAddress& ip) {
  if (const auto* v4 = ip.v4()) return (*v4)[0] == 0;
  return *ip.v6() == protocol::Ipv6{};
}

Verdict DestinationPolicy::Decide(const Endpoint& destination) const {
  const IpAddress& ip = destination.ip;
  if (IsUnspecifiedRange(ip)) return Verdict::kUnspecified;
  if (listen_ports.contains(destination.port) && (IsLoopback(ip) || local_addresses.contains(ip))) {
    return Verdict::kOwnEndpoint;
  }
  if (std::any_of(denied.begin(), denied.end(),
                  [&ip](const IpPrefix& prefix) { return prefix.Contains(ip); })) {
    return Verdict::kDenied;
  }
  return Verdict::kAllow;
}

Filtered FilterResolved(const DestinationPolicy& policy, const std::vector<IpAddress>& addresses,
                        std::uint16_t port) {
  Filtered out;
  Verdict first_other = Verdict::kAllow;
  for (const IpAddress& ip : addresses) {
    Verdict verdict = policy.Decide(Endpoint{ip, port});
    if (verdict == Verdict::kAllow) {
      out.allowed.push_back(ip);
    } else if (verdict != Verdict::kUnspecified && first_other == Verdict::kAllow) {
      first_other = verdict;
    }
  }
  if (out.allowed.empty()) {
    out.refusal = first_other == Verdict::kAllow ? Verdict::kUnspecified : first_other;
  }
  return out;
}

}  // namespace socks5::udp
