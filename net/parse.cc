#include "net/parse.h"

#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/address.h"

namespace socks5::net {
namespace {

// Splits "[v6]:port" or "v4:port" into host and port text.
absl::Status SplitHostPort(absl::string_view text, absl::string_view& host,
                           absl::string_view& port_text) {
  if (absl::ConsumePrefix(&text, "[")) {
    std::size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "'[", text, "': an IPv6 address is written [ADDRESS]:PORT, e.g. [::1]:1080"));
    }
    host = text.substr(0, close);
    port_text = text.substr(close + 2);
    return absl::OkStatus();
  }
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
  return absl::OkStatus();
}

}  // namespace

bool Cidr::Contains(const asio::ip::address& raw) const {
  asio::ip::address address = Unmapped(raw);
  if (address.is_v4() != network.is_v4()) return false;
  if (address.is_v4()) {
    return asio::ip::network_v4(address.to_v4(), prefix_length).canonical() ==
           asio::ip::network_v4(network.to_v4(), prefix_length).canonical();
  }
  return asio::ip::network_v6(address.to_v6(), prefix_length).canonical() ==
         asio::ip::network_v6(network.to_v6(), prefix_length).canonical();
}

absl::StatusOr<asio::ip::tcp::endpoint> ParseHostPort(absl::string_view text) {
  absl::string_view host;
  absl::string_view port_text;
  if (absl::Status s = SplitHostPort(text, host, port_text); !s.ok()) return s;
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

}  // namespace socks5::net
