// PROXY protocol at session start (--proxy_protocol_from): a connection from a trusted load
// balancer begins with a PROXY v1/v2 header (protocol/proxy_header.h) naming the client the
// balancer accepted. It is read before the SOCKS greeting, under the handshake deadline, and its
// client becomes the session's client for everything that follows: the access log, the rules,
// --max_sessions_per_client (charged here instead of at accept), RFC 1929 throttling, the UDP
// source check and BIND's peer rules. A LOCAL header (a health check), v1 UNKNOWN and v2
// UNSPEC/AF_UNIX leave the balancer as the client.
#ifndef SOCKS5_SESSION_PROXY_H_
#define SOCKS5_SESSION_PROXY_H_

#include <cstdint>
#include <vector>

#include "asio.hpp"
#include "session/session.h"

namespace socks5::session {

// Reads the header into `in` (bytes after it stay there: the client's early SOCKS data), sets
// the session's client and takes its per-client slot. False, with a log line and the connection
// closed, when the header is missing, malformed or over --proxy_protocol_max_size, the
// connection ends first, or the header's client is at --max_sessions_per_client.
asio::awaitable<bool> AsyncReadProxyHeader(Session& session, std::vector<std::uint8_t>& in);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_PROXY_H_
