// Connection attempts in the manner of RFC 8305 (Happy Eyeballs v2): candidates are tried in the
// given order; a further attempt starts when the previous one fails or after `attempt_delay`
// without an answer, while earlier attempts keep running. The first to connect wins; the rest are
// cancelled. No bind() before connect(): the kernel picks the source address and port at connect
// time, so a busy destination does not exhaust ephemeral ports.
#ifndef SOCKS5_SERVER_HAPPY_EYEBALLS_H_
#define SOCKS5_SERVER_HAPPY_EYEBALLS_H_

#include <chrono>
#include <system_error>
#include <vector>

#include "asio.hpp"

namespace socks5::server {

struct ConnectResult {
  std::error_code error;  // set when no attempt connected; the most telling error of all attempts
  asio::ip::tcp::socket socket;
};

asio::awaitable<ConnectResult> AsyncConnectAny(std::vector<asio::ip::tcp::endpoint> candidates,
                                               std::chrono::nanoseconds timeout,
                                               std::chrono::nanoseconds attempt_delay);

// Of two attempt errors, the one to report: refused beats host unreachable beats network
// unreachable beats timeout beats anything else (a refusal proves the host was reached).
std::error_code MoreTellingError(const std::error_code& a, const std::error_code& b);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_HAPPY_EYEBALLS_H_
