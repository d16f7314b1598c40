#include "net/port_range.h"

#include "absl/strings/str_cat.h"

namespace socks5::net {
namespace {

// A port in decimal, 1..65535: digits only, at most 5 of them.
std::optional<std::uint16_t> ParsePort(absl::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string PortRange::ToString() const { return absl::StrCat(lo, "-", hi); }

absl::StatusOr<PortRange> ParsePortRange(absl::string_view text) {
  const std::size_t dash = text.find('-');
  if (dash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("port range \"", text, "\": expected LO-HI, e.g. 40000-40999"));
  }
  std::optional<std::uint16_t> lo = ParsePort(text.substr(0, dash));
  std::optional<std::uint16_t> hi = ParsePort(text.substr(dash + 1));
  if (!lo || !hi) {
    return absl::InvalidArgumentError(absl::StrCat(
        "port range \"", text, "\": LO and HI must be decimal port numbers in 1..65535"));
  }
  if (*lo > *hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("port range \"", text, "\": LO (", *lo, ") is greater than HI (", *hi, ")"));
  }
  return PortRange{*lo, *hi};
}

PortPicker::PortPicker(PortRange range, std::size_t start)
    : range_(range), next_(start % range.size()) {}

std::uint16_t PortPicker::Next() {
  const auto port = static_cast<std::uint16_t>(range_.lo + next_);
  next_ = (next_ + 1) % range_.size();
  return port;
}

std::optional<std::uint16_t> PortPicker::Pick(absl::FunctionRef<bool(std::uint16_t)> try_bind) {
  for (std::size_t tried = 0; tried < range_.size(); ++tried) {
    const std::uint16_t port = Next();
    if (try_bind(port)) return port;
  }
  return std::nullopt;
}

}  // namespace socks5::net
