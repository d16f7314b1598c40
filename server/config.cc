#include "server/config.h"

#include <charconv>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/net.h"

namespace socks5::server {
bool Cidr::Contains(const asio::ip::address& raw) const {
  asio::ip::address address = Unmapped(raw);
  if (address.is_v4() != network.is_v4()) return false;
  auto prefix_match = [this](const auto& a, const auto& b) {
    int bits = prefix_length;
    for (std::size_t i = 0; i < a.size() && bits > 0; ++i, bits -= 8) {
      std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
      if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
  };
  if (address.is_v4()) return prefix_match(address.to_v4().to_bytes(), network.to_v4().to_bytes());
  return prefix_match(address.to_v6().to_bytes(), network.to_v6().to_bytes());
}

bool Config::IsDenied(const asio::ip::address& address) const {
  for (const Cidr& cidr : deny_destinations) {
    if (cidr.Contains(address)) return true;
  }
  return false;
}

absl::StatusOr<asio::ip::tcp::endpoint> ParseHostPort(absl::string_view text) {
  absl::string_view host;
  absl::string_view port_text;
  if (absl::ConsumePrefix(&text, "[")) {
    std::size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "'[", text, "': an IPv6 address is written [ADDRESS]:PORT, e.g. [::1]:1080"));
    }
    host = text.substr(0, close);
    port_text = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "': expected HOST:PORT, e.g. 127.0.0.1:1080"));
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "': put an IPv6 address in brackets, e.g. [::1]:1080"));
    }
  }
  std::uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535 || port_text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("'", port_text, "' is not a port (0-65535)"));
  }
  std::error_code ec;
  asio::ip::address address = asio::ip::make_address(std::string(host), ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host, "' is not an IP address (names are not accepted here)"));
  }
  return asio::ip::tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> ParseListenList(absl::string_view text) {
  std::vector<asio::ip::tcp::endpoint> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    auto endpoint = ParseHostPort(absl::StripAsciiWhitespace(item));
    if (!endpoint.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--listen: ", endpoint.status().message()));
    }
    out.push_back(*endpoint);
  }
  if (out.empty()) return absl::InvalidArgumentError("--listen: no address given");
  return out;
}

absl::StatusOr<Cidr> ParseCidr(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  absl::string_view address_text = text;
  std::optional<int> prefix;
  if (std::size_t slash = text.find('/'); slash != absl::string_view::npos) {
    address_text = text.substr(0, slash);
    int value = -1;
    if (!absl::SimpleAtoi(text.substr(slash + 1), &value) || value < 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "': bad prefix length"));
    }
    prefix = value;
  }
  std::error_code ec;
  asio::ip::address network = asio::ip::make_address(std::string(address_text), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("'", text, "': not an IP prefix"));
  network = Unmapped(network);
  int max_prefix = network.is_v4() ? 32 : 128;
  if (prefix.value_or(max_prefix) > max_prefix) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': prefix length above ", max_prefix));
  }
  return Cidr{network, prefix.value_or(max_prefix)};
}

bool IsLoopback(const asio::ip::address& address) { return Unmapped(address).is_loopback(); }

absl::Status ValidateConfig(const Config& config) {
  if (config.listen.empty()) return absl::InvalidArgumentError("--listen: no address given");
  if (config.workers < 1 || config.workers > 256) {
    return absl::InvalidArgumentError("--workers must be between 1 and 256");
  }
  if (config.max_sessions < 1)
    return absl::InvalidArgumentError("--max_sessions must be at least 1");
  auto positive = [](absl::Duration d, absl::string_view name) -> absl::Status {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " must be positive"));
    }
    return absl::OkStatus();
  };
  for (auto [d, name] : {std::pair{config.handshake_timeout, "handshake_timeout"},
                         {config.connect_timeout, "connect_timeout"},
                         {config.idle_timeout, "idle_timeout"},
                         {config.dns_timeout, "dns_timeout"},
                         {config.bind_timeout, "bind_timeout"},
                         {config.udp_idle_timeout, "udp_idle_timeout"}}) {
    if (absl::Status s = positive(d, name); !s.ok()) return s;
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  if (config.udp_reassembly_timeout < absl::Seconds(5)) {
    return absl::InvalidArgumentError(
        "--udp_reassembly_timeout must be at least 5s (RFC 1928 s.7)");
  }
  if (config.advertise_address && config.advertise_address->is_unspecified()) {
    return absl::InvalidArgumentError(
        "--advertise_address must be an address clients can reach, not 0.0.0.0 or ::");
  }
  if (!config.users && !config.allow_open_proxy) {
    for (const auto& endpoint : config.listen) {
      if (!IsLoopback(endpoint.address())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "refusing to listen on ", endpoint.address().to_string(),
            " without authentication: "
            "an open SOCKS proxy on a non-loopback address is found and abused within hours. "
            "Pass --users_file=PATH to require a username and password, or --allow_open_proxy "
            "if every client that can reach this address is trusted."));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace socks5::server
