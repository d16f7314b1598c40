#include "server/flags.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "dns/resolver.h"
#include "net/log.h"
#include "net/parse.h"
#include "net/port_range.h"
#include "session/egress.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:1080",
          "Comma-separated HOST:PORT addresses to listen on (IPv6 as [::1]:1080; port 0 picks a "
          "free port). A non-loopback address needs --users_file or --allow_open_proxy.");
ABSL_FLAG(int, workers, 0, "Worker threads, each with its own event loop (0: one per core).");
ABSL_FLAG(std::string, users_file, "",
          "File of `user:password` lines; when set, RFC 1929 username/password authentication "
          "is required and clients offering only no-auth are refused. Re-read on SIGHUP.");
ABSL_FLAG(std::string, rules_file, "",
          "File of access rules, one a line (`allow|deny key=value,...`; README \"Rules\"), "
          "decided first match wins with an implicit deny at the end. Unset: every destination "
          "--deny_destinations allows is allowed. A malformed file stops start-up with FILE:LINE. "
          "Re-read on SIGHUP.");
ABSL_FLAG(bool, watch_config, false,
          "Also reload --users_file and --rules_file (as SIGHUP does) when they change: inotify "
          "on their directories, which sees edits, renames into place and Kubernetes' ConfigMap "
          "and Secret updates (the ..data symlink swap); one reload a second at most.");
ABSL_FLAG(bool, check_config, false,
          "Validate the flags, the users file and the rules file, print the result and exit: 0 "
          "when valid, 1 with the error (FILE:LINE for a file) otherwise. Listens on nothing.");
ABSL_FLAG(bool, allow_open_proxy, false,
          "Allow listening on a non-loopback address without --users_file (an open proxy).");
ABSL_FLAG(bool, accept_any_credentials, false,
          "Without --users_file: select username/password whenever a client offers it (not only "
          "when it offers nothing else) and accept any credentials, recording the user name for "
          "the log and the rules' user=, as Tor does for stream isolation. No effect with "
          "--users_file.");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(10),
          "Time a client has to finish negotiation, authentication and its request.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(10),
          "Time allowed to connect to a CONNECT target (all addresses together); then REP 06.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Minutes(5),
          "A relayed TCP session with no traffic either way for this long is closed.");
ABSL_FLAG(bool, socks4, true,
          "Serve SOCKS4 and SOCKS4a CONNECT and BIND on the same listeners (the first byte, 04, "
          "decides). On by default: SOCKS4 gets no more than a SOCKS5 client without a password "
          "(with --users_file every SOCKS4 request is answered 5B: it carries no password). "
          "false: every SOCKS4 request is answered 5B.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "On SIGTERM/SIGINT: stop accepting, let open sessions finish for this long, then close.");
ABSL_FLAG(int64_t, max_sessions, 0,
          "Most sessions open at once; further connections are closed at accept. 0: half the "
          "descriptor budget (RLIMIT_NOFILE, raised to its hard limit, less a reserve for "
          "listeners, resolvers and the loops): a relayed session holds two sockets. Whatever "
          "this says, sessions are also bounded by the descriptor budget itself.");
// Admission (session/admission.h).
ABSL_FLAG(int64_t, max_sessions_per_client, 1024,
          "Most sessions one client address may hold, however it opened them; further "
          "connections from it are closed at accept (0: no cap). 1024: a NAT'd office, a "
          "carrier-grade NAT or one torrent client shares one address (Chromium alone pools up "
          "to 256 sockets), while one address still cannot take more than about a tenth of the "
          "default --max_sessions (~9,900 with 20,000 descriptors).");
ABSL_FLAG(int64_t, max_associations_per_client, 16,
          "Most UDP associations one client address may hold (each holds four descriptors and up "
          "to ~200 KiB of buffers); further UDP ASSOCIATE requests get REP 02 (0: no cap). An "
          "application needs one; 16 leaves room for several users behind one NAT.");
ABSL_FLAG(int64_t, max_handshakes, 0,
          "Most connections in their handshake (negotiation, RFC 1929, request) at once; a new "
          "connection at this cap closes the oldest handshake, so idle unauthenticated sockets "
          "cannot lock clients out. 0: half of --max_sessions (the other half is always left for "
          "sessions past their handshake).");
ABSL_FLAG(int, connect_max_attempts_in_flight, 4,
          "Most Happy Eyeballs connection attempts one CONNECT keeps in flight (a further one "
          "starts when one fails). 4: RFC 8305 staggers attempts 250 ms apart, so a name with "
          "many dead addresses cannot make one CONNECT hold one socket per address.");
ABSL_FLAG(int64_t, max_sessions_per_user, 0,
          "Most sessions one authenticated user may hold at once, across workers; a further "
          "request from that user gets REP 02 and the access log says limit=user (0: no cap). "
          "0 by default: a user is a named account the operator gave a password to (its use is "
          "accountable), one person's devices and applications legitimately open hundreds of "
          "sessions, and what any one client address can hold is already capped by "
          "--max_sessions_per_client; set it to share a server fairly between customers.");
ABSL_FLAG(std::string, outbound_address, "",
          "IP[,IP]: at most one IPv4 and one IPv6 address of this host to use as the source of "
          "CONNECT and UDP ASSOCIATE traffic and as the address BIND listens on (default: the "
          "kernel picks by route). With only one family given, only targets of that family are "
          "reached: others get REP 04 (UDP: dropped, drop_no_egress).");
ABSL_FLAG(int, auth_failures_before_delay, 5,
          "RFC 1929 failures one client address (IPv6: its /64) may have before each further "
          "attempt from it waits (50 ms, doubling per failure up to --auth_max_delay; one failure "
          "is forgotten per 10 s). 0: no throttle.");
ABSL_FLAG(absl::Duration, auth_max_delay, absl::Seconds(2),
          "The longest an RFC 1929 attempt from a throttled address waits before it is checked.");
// RFC 1929 verification (session/verifier.h) and --hash_password (server/main.cc).
ABSL_FLAG(int, auth_threads, 2,
          "Threads that verify crypt(3) hashes of --users_file, off the event loops. 2: a burst "
          "of logins takes at most two cores from relaying whatever the host's size, and one slow "
          "hash does not hold up every other login.");
ABSL_FLAG(int64_t, auth_max_pending, 128,
          "Most hash verifications queued or running at once; a login over it fails at once "
          "(01, logged). 128: at ~25-250 ms a hash on 2 threads that drains in 2-16 s, about a "
          "--handshake_timeout, and never holds more than 128 passwords in memory.");
ABSL_FLAG(int64_t, auth_cache_size, 1024,
          "Recent successful logins remembered (user and an HMAC of the password, never the "
          "password) so a client opening many connections pays one hash, not one each; the least "
          "recently used is forgotten first. 1024 entries: ~200 KiB. 0: no cache.");
ABSL_FLAG(absl::Duration, auth_cache_ttl, absl::Minutes(5),
          "How long a cached successful login is trusted before the hash is verified again.");
ABSL_FLAG(bool, hash_password, false,
          "Read a password (one line) on stdin, print its yescrypt hash for --users_file, exit.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, access_log_format, "text",
          "text (one 'access key=value ...' line per session) or json (one JSON object per "
          "session, a line of its own; the same fields, numbers as numbers).");
ABSL_FLAG(std::string, dns_servers, "",
          "Comma-separated DNS servers IP[:PORT] (IPv6 as [IP]:PORT) instead of the system's "
          "/etc/resolv.conf.");
ABSL_FLAG(absl::Duration, dns_timeout, absl::Seconds(5),
          "Time allowed for one name lookup (A and AAAA); then REP 04.");
// --- DNS caps and UDP memory (issue 11, defects 6, 7, 12) ---
ABSL_FLAG(int64_t, dns_max_in_flight, 1000,
          "DNS queries in flight per worker; over it a CONNECT or BIND to a name gets REP 04 at "
          "once and a UDP datagram to a name is dropped (drop_dns_busy). 1,000 keeps c-ares's "
          "per-event scan of pending queries to microseconds and still allows 10,000 lookups/s "
          "at 100 ms each. 0: no limit.");
ABSL_FLAG(int64_t, dns_queries_per_channel, 100,
          "Lookups sent through one c-ares channel (one UDP source port) before a fresh one takes "
          "over, so a spoofer must guess the port as well as the 16-bit ID. 0: never rotate.");
ABSL_FLAG(int64_t, udp_max_lookups_per_association, 16,
          "Lookups one UDP association may have waiting; over it a datagram to a new name is "
          "dropped (drop_dns_busy). A client rarely talks to more new names at once. 0: no limit.");
ABSL_FLAG(int64_t, udp_memory_budget, 64 << 20,
          "Bytes all UDP associations together may hold in fragment reassembly and in datagrams "
          "queued behind lookups; a fragment or datagram that would pass it is dropped "
          "(drop_budget). 64 MiB: about a thousand full 64 KiB reassembly queues. Minimum 65536.");
ABSL_FLAG(std::string, deny_destinations, "",
          "Comma-separated CIDR prefixes that clients may not reach (answered REP 02), e.g. "
          "127.0.0.0/8,10.0.0.0/8,::1/128.");
ABSL_FLAG(std::string, bind_port_range, "",
          "LO-HI: ports for BIND listeners (publish them from a container); default ephemeral.");
ABSL_FLAG(absl::Duration, bind_timeout, absl::Minutes(2),
          "How long a BIND waits for the incoming connection.");
ABSL_FLAG(std::string, advertise_address, "",
          "IP to put in BIND and UDP ASSOCIATE replies instead of the socket's own address "
          "(NAT, Docker: the address clients and application servers can reach).");
ABSL_FLAG(std::string, udp_port_range, "",
          "LO-HI: ports for UDP ASSOCIATE relay sockets; default ephemeral.");
ABSL_FLAG(std::string, udp_reply_policy, "restricted",
          "restricted: only remotes the client has sent to may reply through an association; "
          "full_cone: any remote may (peer-to-peer games, torrents).");
ABSL_FLAG(absl::Duration, udp_reassembly_timeout, absl::Seconds(5),
          "How long an incomplete fragmented UDP datagram is kept (at least 5s).");
ABSL_FLAG(absl::Duration, udp_idle_timeout, absl::Minutes(5),
          "A UDP association with no datagrams either way for this long ends.");

namespace socks5::server {
namespace {

std::vector<std::string> SplitList(const std::string& text) {
  return absl::StrSplit(text, ',', absl::SkipWhitespace());
}

// Raises the soft descriptor limit to the hard one and returns the descriptors sessions may
// charge (session/admission.h): the limit less a reserve for what is not a session's: stdio,
// the signal loop, and per worker its epoll and eventfd, its listeners, its resolver's sockets
// and the reserve descriptor of the acceptor.
int64_t DescriptorBudget(int workers, std::size_t listeners) {
  const int64_t reserve =
      64 + static_cast<int64_t>(workers) * (24 + static_cast<int64_t>(listeners));
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 2000;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  int64_t descriptors =
      limit.rlim_cur == RLIM_INFINITY ? 1 << 20 : static_cast<int64_t>(limit.rlim_cur);
  return std::max<int64_t>(32, descriptors - reserve);
}

// An optional LO-HI flag; `name` for the message.
absl::Status PortRangeFlag(const std::string& text, const char* name,
                           std::optional<net::PortRange>& out) {
  if (text.empty()) return absl::OkStatus();
  auto parsed = net::ParsePortRange(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", parsed.status().message()));
  }
  out = *parsed;
  return absl::OkStatus();
}

// --auth_threads, --auth_max_pending, --auth_cache_size, --auth_cache_ttl.
absl::Status BuildVerifierFlags(Config& config) {
  const int threads = absl::GetFlag(FLAGS_auth_threads);
  const int64_t pending = absl::GetFlag(FLAGS_auth_max_pending);
  const int64_t cache_size = absl::GetFlag(FLAGS_auth_cache_size);
  const absl::Duration ttl = absl::GetFlag(FLAGS_auth_cache_ttl);
  if (threads < 1 || threads > 256) {
    return absl::InvalidArgumentError("--auth_threads must be 1-256");
  }
  if (pending < 1) {
    return absl::InvalidArgumentError(
        "--auth_max_pending must be at least 1 (the queue is never unbounded)");
  }
  if (cache_size < 0) return absl::InvalidArgumentError("--auth_cache_size must not be negative");
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--auth_cache_ttl must be positive");
  }
  config.verifier.threads = threads;
  config.verifier.max_pending = static_cast<std::size_t>(pending);
  config.verifier.cache_size = static_cast<std::size_t>(cache_size);
  config.verifier.cache_ttl = ttl;
  return absl::OkStatus();
}

// The admission flags (session/admission.h); after --max_sessions.
absl::Status BuildAdmissionFlags(Config& config) {
  const int64_t per_client = absl::GetFlag(FLAGS_max_sessions_per_client);
  const int64_t associations = absl::GetFlag(FLAGS_max_associations_per_client);
  const int64_t handshakes = absl::GetFlag(FLAGS_max_handshakes);
  const int attempts = absl::GetFlag(FLAGS_connect_max_attempts_in_flight);
  const int free_failures = absl::GetFlag(FLAGS_auth_failures_before_delay);
  const int64_t per_user = absl::GetFlag(FLAGS_max_sessions_per_user);
  if (per_client < 0 || associations < 0 || handshakes < 0 || free_failures < 0 || per_user < 0) {
    return absl::InvalidArgumentError(
        "--max_sessions_per_client, --max_associations_per_client, --max_handshakes, "
        "--max_sessions_per_user and --auth_failures_before_delay must not be negative");
  }
  config.max_sessions_per_user = static_cast<std::size_t>(per_user);
  if (attempts < 1) {
    return absl::InvalidArgumentError("--connect_max_attempts_in_flight must be at least 1");
  }
  config.max_sessions_per_client = static_cast<std::size_t>(per_client);
  config.max_associations_per_client = static_cast<std::size_t>(associations);
  config.max_handshakes = handshakes != 0 ? static_cast<std::size_t>(handshakes)
                                          : std::max<std::size_t>(1, config.max_sessions / 2);
  config.connect_max_attempts_in_flight = attempts;
  config.auth_throttle.free_failures = free_failures;
  config.auth_throttle.max_delay = absl::GetFlag(FLAGS_auth_max_delay);
  if (config.auth_throttle.max_delay < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--auth_max_delay must not be negative");
  }
  return BuildVerifierFlags(config);
}

// --listen, --workers, --users_file, --rules_file, --allow_open_proxy, the timeouts, --socks4 and
// --max_sessions.
absl::Status BuildProcessFlags(Config& config) {
  auto listen = net::ParseListenList(absl::GetFlag(FLAGS_listen));
  if (!listen.ok()) return listen.status();
  config.listen = *listen;

  int workers = absl::GetFlag(FLAGS_workers);
  if (workers < 0) return absl::InvalidArgumentError("--workers must not be negative");
  config.workers =
      workers == 0 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : workers;

  config.users_file = absl::GetFlag(FLAGS_users_file);  // both read by LoadPolicyFiles
  config.rules_file = absl::GetFlag(FLAGS_rules_file);
  config.watch_config = absl::GetFlag(FLAGS_watch_config);
  config.allow_open_proxy = absl::GetFlag(FLAGS_allow_open_proxy);
  if (std::string format = absl::GetFlag(FLAGS_access_log_format); format == "json") {
    config.access_log_json = true;
  } else if (format != "text") {
    return absl::InvalidArgumentError(absl::StrCat("--access_log_format: unknown format '",
                                                   net::LogSafe(format), "' (use text or json)"));
  }
  config.accept_any_credentials = absl::GetFlag(FLAGS_accept_any_credentials);
  config.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  config.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  config.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  config.socks4 = absl::GetFlag(FLAGS_socks4);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  int64_t max_sessions = absl::GetFlag(FLAGS_max_sessions);
  if (max_sessions < 0) return absl::InvalidArgumentError("--max_sessions must not be negative");
  config.descriptor_budget = DescriptorBudget(config.workers, config.listen.size());
  if (max_sessions == 0) max_sessions = config.descriptor_budget / 2;
  config.max_sessions = static_cast<std::size_t>(max_sessions);
  return BuildAdmissionFlags(config);
}

// --dns_servers, --dns_timeout and --deny_destinations.
absl::Status BuildNetworkFlags(Config& config) {
  config.dns_servers = SplitList(absl::GetFlag(FLAGS_dns_servers));
  if (absl::Status s = dns::ValidateServers(config.dns_servers); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--dns_servers: ", s.message()));
  }
  config.dns_timeout = absl::GetFlag(FLAGS_dns_timeout);
  // --- DNS caps and UDP memory (issue 11, defects 6, 7, 12) ---
  const std::pair<const char*, int64_t> counts[] = {
      {"dns_max_in_flight", absl::GetFlag(FLAGS_dns_max_in_flight)},
      {"dns_queries_per_channel", absl::GetFlag(FLAGS_dns_queries_per_channel)},
      {"udp_max_lookups_per_association", absl::GetFlag(FLAGS_udp_max_lookups_per_association)},
      {"udp_memory_budget", absl::GetFlag(FLAGS_udp_memory_budget)},
  };
  for (const auto& [name, value] : counts) {
    if (value < 0)
      return absl::InvalidArgumentError(absl::StrCat("--", name, " must not be negative"));
  }
  config.dns_max_in_flight = static_cast<std::size_t>(counts[0].second);
  config.dns_queries_per_channel = static_cast<std::size_t>(counts[1].second);
  config.udp_max_lookups_per_association = static_cast<std::size_t>(counts[2].second);
  if (counts[3].second < 65536) {
    return absl::InvalidArgumentError(
        "--udp_memory_budget must be at least 65536 (one full reassembly queue)");
  }
  config.udp_memory_budget = static_cast<std::size_t>(counts[3].second);
  for (const std::string& item : SplitList(absl::GetFlag(FLAGS_deny_destinations))) {
    auto cidr = net::ParseCidr(item);
    if (!cidr.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--deny_destinations: ", cidr.status().message()));
    }
    config.deny_destinations.push_back(*cidr);
  }
  return absl::OkStatus();
}

// The BIND and UDP ASSOCIATE flags.
absl::Status BuildCommandFlags(Config& config) {
  if (absl::Status s = PortRangeFlag(absl::GetFlag(FLAGS_bind_port_range), "bind_port_range",
                                     config.bind_port_range);
      !s.ok()) {
    return s;
  }
  config.bind_timeout = absl::GetFlag(FLAGS_bind_timeout);
  if (std::string text = absl::GetFlag(FLAGS_advertise_address); !text.empty()) {
    std::error_code ec;
    config.advertise_address = asio::ip::make_address(text, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("--advertise_address: '", text, "' is not an IP address"));
    }
  }
  if (absl::Status s = PortRangeFlag(absl::GetFlag(FLAGS_udp_port_range), "udp_port_range",
                                     config.udp_port_range);
      !s.ok()) {
    return s;
  }
  auto policy = udp::ParseReplyPolicy(absl::GetFlag(FLAGS_udp_reply_policy));
  if (!policy.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--udp_reply_policy: ", policy.status().message()));
  }
  config.udp_reply_policy = *policy;
  config.udp_reassembly_timeout = absl::GetFlag(FLAGS_udp_reassembly_timeout);
  config.udp_idle_timeout = absl::GetFlag(FLAGS_udp_idle_timeout);
  auto egress = session::ParseEgress(absl::GetFlag(FLAGS_outbound_address));
  if (!egress.ok()) return egress.status();
  // An address this host does not have would fail every CONNECT: refuse it now.
  for (const auto& address : {egress->v4, egress->v6}) {
    if (!address) continue;
    asio::io_context io;
    asio::ip::udp::socket probe(io);
    std::error_code ec;
    probe.open(address->is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
    if (!ec) probe.bind(asio::ip::udp::endpoint(*address, 0), ec);
    if (ec) {
      return absl::InvalidArgumentError(absl::StrCat("--outbound_address: cannot use ",
                                                     address->to_string(), " (", ec.message(),
                                                     "): not an address of this host?"));
    }
  }
  config.outbound = *egress;
  return absl::OkStatus();
}

}  // namespace

bool HashPasswordRequested() { return absl::GetFlag(FLAGS_hash_password); }
bool CheckConfigFlag() { return absl::GetFlag(FLAGS_check_config); }

absl::StatusOr<net::LogLevel> LogLevelFromFlags() {
  return net::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
}

// ---- metrics ---- (at the end of the file)
absl::Status BuildMetricsFlags(Config& config);

absl::Status BuildConfig(Config& config) {
  if (absl::Status s = BuildProcessFlags(config); !s.ok()) return s;
  if (absl::Status s = BuildNetworkFlags(config); !s.ok()) return s;
  if (absl::Status s = BuildCommandFlags(config); !s.ok()) return s;
  if (absl::Status s = BuildMetricsFlags(config); !s.ok()) return s;
  return ValidateConfig(config);
}

}  // namespace socks5::server

// ---- metrics ----
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on (/metrics), with /healthz and /readyz "
          "(README \"Metrics\"); empty: off. Port 0 picks a free port (logged as `metrics on "
          "HOST:PORT`). A non-loopback address needs --users_file or --allow_open_proxy.");
ABSL_FLAG(bool, metrics_per_user, false,
          "Also export bytes and sessions by authenticated user name (socks5d_user_*; at most "
          "1000 names, later ones counted as \"(other)\"). Off: no metric has a label with a "
          "user, client address or target.");

namespace socks5::server {

absl::Status BuildMetricsFlags(Config& config) {
  if (std::string text = absl::GetFlag(FLAGS_metrics_listen); !text.empty()) {
    auto endpoint = net::ParseHostPort(text);
    if (!endpoint.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics_listen: ", endpoint.status().message()));
    }
    config.metrics_listen = *endpoint;
  }
  config.metrics_per_user = absl::GetFlag(FLAGS_metrics_per_user);
  return absl::OkStatus();
}

}  // namespace socks5::server
