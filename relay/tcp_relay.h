// The TCP relay shared by CONNECT and BIND: two sockets, byte counters and the worker's pools in;
// it knows nothing of sessions.
#ifndef SOCKS5_RELAY_TCP_RELAY_H_
#define SOCKS5_RELAY_TCP_RELAY_H_

#include <chrono>
#include <cstdint>
#include <vector>

#include "asio.hpp"
#include "relay/pools.h"
#include "relay/rate.h"

namespace socks5::relay {

struct Counters {
  std::uint64_t bytes_up = 0;    // client -> upstream
  std::uint64_t bytes_down = 0;  // upstream -> client
};

// Relays between `client` and `upstream` until both directions have ended. First sends
// `early_data` (client bytes that arrived behind the request) upstream. A FIN from one side
// becomes a write shutdown toward the other while the other direction keeps flowing
// (half-close); a reset or error on one side resets the other. No progress either way (no read
// and no write) for `idle` ends the relay: with bytes still in flight (read, not yet written;
// the direction is blocked writing) both sides are reset, never a clean FIN that would hide the
// lost tail; otherwise both are closed. Buffers and pipes are borrowed from `pools` only while a
// direction has data to move. Counts relayed bytes into `counters`. Closes both sockets before it
// returns.
//
// With a `rate` limiter (relay/rate.h; the caller keeps it alive until this returns) each read
// moves at most the tokens the limiter grants (a splice() too: bulk data is still spliced, in
// pieces of the grant), and a direction finding the bucket empty waits on a timer, never
// blocking the loop. The early data is not charged. Without one (null) nothing is added to the
// data path: no clock reads, no locks, no timers.
asio::awaitable<void> AsyncRelay(asio::ip::tcp::socket& client, asio::ip::tcp::socket upstream,
                                 std::vector<std::uint8_t> early_data, Counters& counters,
                                 Pools& pools, std::chrono::steady_clock::duration idle,
                                 RateLimiter* rate = nullptr);

}  // namespace socks5::relay

#endif  // SOCKS5_RELAY_TCP_RELAY_H_
