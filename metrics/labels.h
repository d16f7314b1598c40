// The label values of metrics/worker_metrics.h's enums, as exported (socks5d_..._total{...}).
#ifndef SOCKS5_METRICS_LABELS_H_
#define SOCKS5_METRICS_LABELS_H_

#include "metrics/worker_metrics.h"

namespace socks5::metrics {

const char* LabelOf(Protocol p);     // "socks5", "socks4", "socks4a", "http", "tls", "unknown"
const char* LabelOf(Command c);      // "connect", "bind", "udp_associate", ..., "unknown", "none"
const char* LabelOf(Reply r);        // "00".."08", "5a".."5d", "other", "none"
const char* LabelOf(Handshake h);    // "ok", "timeout", "closed", "bad_version", ...
const char* LabelOf(DnsResult r);    // "ok", "not_found", "timeout", ...
const char* LabelOf(DnsCacheHit h);  // "found", "not_found"
const char* LabelOf(BindOutcome b);  // "connected", "timeout", "client_closed", "failed"
const char* LabelOf(RuleAction a);   // "allow", "deny", "default_deny"
const char* LabelOf(Abandoned a);    // "standalone", "out_of_order", ...

}  // namespace socks5::metrics

#endif  // SOCKS5_METRICS_LABELS_H_
