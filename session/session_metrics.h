// The session's counts in its worker's metrics (metrics/worker_metrics.h), taken from its access
// record: the handshake's outcome, the session's start past its handshake, and its end (protocol,
// command, reply, bytes, rule decision, BIND outcome, --metrics_per_user). On the worker's thread.
#ifndef SOCKS5_SESSION_SESSION_METRICS_H_
#define SOCKS5_SESSION_SESSION_METRICS_H_

#include <chrono>
#include <optional>
#include <string>

#include "metrics/worker_metrics.h"
#include "session/context.h"
#include "session/happy_eyeballs.h"
#include "udp/association.h"

namespace socks5::session {

struct AccessRecord;

// The handshake ended with `record.handshake` (kOk: the session is active from now on).
void CountHandshake(Context& context, const AccessRecord& record);
// A CONNECT's race ended after `took` (success: the histogram, and a fallback when an address
// other than the first tried connected).
void CountConnect(Context& context, const ConnectResult& result, std::chrono::nanoseconds took);
// A UDP association ended: its datagrams, drops and fragments.
void CountAssociation(Context& context, const udp::Association& association);
// The session ends (~Session). `user`: the authenticated user, if any.
void CountSessionEnd(Context& context, const AccessRecord& record,
                     const std::optional<std::string>& user);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_SESSION_METRICS_H_
