// The server's configuration, built from flags in main.cc and checked here. Parsing helpers are
// pure functions so start-up errors are unit-testable and come back as absl::Status.
#ifndef SOCKS5_SERVER_CONFIG_H_
#define SOCKS5_SERVER_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "server/users.h"
#include "udp/policy.h"
#include "udp/port_range.h"

namespace socks5::server {

// An IP prefix such as 10.0.0.0/8 or 2001:db8::/32.
struct Cidr {
  asio::ip::address network;
  int prefix_length = 0;
  bool Contains(const asio::ip::address& address) const;
};

struct Config {
  std::vector<asio::ip::tcp::endpoint> listen;
  int workers = 1;
  std::shared_ptr<const Users> users;  // null: no authentication (RFC 1929 off)
  bool allow_open_proxy = false;
  absl::Duration handshake_timeout = absl::Seconds(10);
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Minutes(5);
  absl::Duration shutdown_grace = absl::Seconds(5);
  std::size_t max_sessions = 10000;
  std::vector<std::string> dns_servers;
  absl::Duration dns_timeout = absl::Seconds(5);
  std::vector<Cidr> deny_destinations;
  // BIND
  std::optional<udp::PortRange> bind_port_range;
  absl::Duration bind_timeout = absl::Minutes(2);
  std::optional<asio::ip::address> advertise_address;
  // UDP ASSOCIATE
  std::optional<udp::PortRange> udp_port_range;
  udp::ReplyPolicy udp_reply_policy = udp::ReplyPolicy::kRestricted;
  absl::Duration udp_reassembly_timeout = absl::Seconds(5);
  absl::Duration udp_idle_timeout = absl::Minutes(5);

  // True when `address` is denied by --deny_destinations (answered with REP 02).
  bool IsDenied(const asio::ip::address& address) const;
};

// "127.0.0.1:1080", "[::1]:0". The host must be an IP literal.
absl::StatusOr<asio::ip::tcp::endpoint> ParseHostPort(absl::string_view text);
// Comma-separated ParseHostPort; at least one.
absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> ParseListenList(absl::string_view text);
// "10.0.0.0/8", "::1/128", or a bare IP (a host prefix).
absl::StatusOr<Cidr> ParseCidr(absl::string_view text);
// 127.0.0.0/8, ::1, and IPv4-mapped loopback.
bool IsLoopback(const asio::ip::address& address);

// Whole-configuration checks: the open-proxy safety rule, ranges and minimums.
absl::Status ValidateConfig(const Config& config);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_CONFIG_H_
