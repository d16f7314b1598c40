// Port ranges for listening and relay sockets (--udp_port_range, --bind_port_range) and round-robin
// choice of a port to bind within one. Pure: net/socket.h does the binding (BindWithinRange).
#ifndef SOCKS5_NET_PORT_RANGE_H_
#define SOCKS5_NET_PORT_RANGE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace socks5::net {

// The ports lo..hi, both included; 1 <= lo <= hi.
struct PortRange {
  std::uint16_t lo = 1;
  std::uint16_t hi = 1;

  std::size_t size() const { return std::size_t{hi} - lo + 1; }
  bool Contains(std::uint16_t port) const { return port >= lo && port <= hi; }
  std::string ToString() const;  // "LO-HI"

  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// "LO-HI" in decimal, e.g. "40000-40999" or "5000-5000"; LO <= HI, both in 1..65535. Nothing else
// (no spaces, signs or single ports) is accepted.
absl::StatusOr<PortRange> ParsePortRange(absl::string_view text);

// Hands out a range's ports round-robin, so that successive binds spread over the range instead
// of all retrying its low end. One per worker thread (no locking).
class PortPicker {
 public:
  // The first candidate is range.lo + start (modulo the range size); give each worker its own
  // start so that workers begin apart.
  explicit PortPicker(PortRange range, std::size_t start = 0);

  // The next candidate; wraps from hi to lo.
  std::uint16_t Next();
  // Offers each port of the range at most once to try_bind, continuing from the previous search,
  // until it returns true; returns that port, or nullopt when every port was refused.
  std::optional<std::uint16_t> Pick(absl::FunctionRef<bool(std::uint16_t)> try_bind);

  const PortRange& range() const { return range_; }

 private:
  PortRange range_;
  std::size_t next_;  // offset of the next candidate from range_.lo
};

}  // namespace socks5::net

#endif  // SOCKS5_NET_PORT_RANGE_H_
