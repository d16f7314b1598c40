// Connection attempts in the manner of RFC 8305 (Happy Eyeballs v2): candidates are tried in the
// given order; a further attempt starts when the previous one fails or after `attempt_delay`
// without an answer, while earlier attempts keep running. The first to connect wins; the rest are
// cancelled. Without an egress address (session/egress.h) there is no bind() before connect(): the
// kernel picks the source address and port at connect time. With one, each attempt is bound to
// its family's egress address with IP_BIND_ADDRESS_NO_PORT, so the port is still picked at
// connect time and a busy destination does not exhaust ephemeral ports; and when only one family
// has an egress address, only that family's candidates are tried (none left: host_unreachable,
// REP 04).
#ifndef SOCKS5_SESSION_HAPPY_EYEBALLS_H_
#define SOCKS5_SESSION_HAPPY_EYEBALLS_H_

#include <chrono>
#include <cstddef>
#include <system_error>
#include <vector>

#include "asio.hpp"
#include "metrics/worker_metrics.h"
#include "net/result.h"
#include "session/admission.h"
#include "session/egress.h"

namespace socks5::session {

// The connected socket and which candidate it reached (its index: the caller knows the rule of
// that address without asking the socket), or the most telling error of all attempts (timed_out
// when `timeout` passed first: the race runs under net::AsyncWithDeadline).
struct Connected {
  asio::ip::tcp::socket socket;
  std::size_t candidate = 0;
};
using ConnectResult = net::Result<Connected>;

// What one race may hold (--connect_max_attempts_in_flight, the descriptor budget). At the cap a
// further attempt waits for one in flight to fail, however long the stagger. Each attempt's
// socket is charged to `descriptors` while it is in flight (the caller charges the connected
// socket it keeps beforehand, so no charge changes owner). Out of descriptors with no attempt in
// flight: too_many_files_open (REP 01).
struct ConnectLimits {
  int max_in_flight = 0;  // 0: no cap
  DescriptorBudget* descriptors = nullptr;
  Egress egress = {};  // source addresses (none: the kernel chooses)
  // When not empty, parallel to the candidates: each attempt's own source address (the rule
  // that allowed that address, session/rules.h), replacing `egress`; the caller has left out
  // candidates their egress cannot reach.
  std::vector<std::optional<asio::ip::address>> sources = {};
  // ---- metrics ----: counts each attempt started (socks5d_connect_attempts_total); null: none.
  metrics::Counter* attempts = nullptr;
};

// The candidates an egress allows (Egress::Reaches), in their order.
std::vector<asio::ip::tcp::endpoint> ReachableCandidates(
    const Egress& egress, std::vector<asio::ip::tcp::endpoint> candidates);

asio::awaitable<ConnectResult> AsyncConnectAny(std::vector<asio::ip::tcp::endpoint> candidates,
                                               std::chrono::nanoseconds timeout,
                                               std::chrono::nanoseconds attempt_delay,
                                               ConnectLimits limits = {});

// Of two attempt errors, the one to report: refused beats host unreachable beats network
// unreachable beats timeout beats anything else (a refusal proves the host was reached).
std::error_code MoreTellingError(const std::error_code& a, const std::error_code& b);

// Orders addresses for connection attempts as RFC 8305 s.4 asks: families interleaved, starting
// with the family of the first address the resolver returned.
std::vector<asio::ip::address> InterleaveFamilies(const std::vector<asio::ip::address>& addresses);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_HAPPY_EYEBALLS_H_
