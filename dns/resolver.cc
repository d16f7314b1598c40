// How the channels are driven (the pattern Envoy uses with libevent):
// - c-ares opens and closes its own sockets and tells us through the socket-state callback which
//   descriptors it wants watched for reading or writing. We wrap each in a stream_descriptor only
//   to wait on it (async_wait), hand readiness back with ares_process_fd, and release() it (never
//   close()) when c-ares says it is done: c-ares closes it.
// - c-ares keeps its own retry timers; each channel has one steady_timer that fires at or before
//   c-ares's next deadline, and then runs c-ares's timeouts (see ArmBy for how it is armed
//   without asking ares_timeout() after every event).
// - Every user completion is posted, since c-ares can call back synchronously (IP literals, the
//   hosts file) or from ares_destroy().
// - Asio handlers hold a weak_ptr to alive_ and do nothing once the Impl is gone; handlers of a
//   channel or a watched descriptor look it up by id and do nothing once it is gone.
// - Channels rotate every queries_per_channel lookups (a fresh UDP source port). A retired
//   channel is destroyed once its last query has called back, from a posted handler: never
//   inside one of its own callbacks. c-ares 1.18 offers nothing finer: ARES_OPT_UDP_PORT is the
//   servers' port, ares_set_local_ip4/6 choose only the source address, and
//   ARES_OPT_UDP_MAX_QUERIES (the same rotation inside c-ares) arrived in 1.20. Its query IDs
//   are fine as they are: an RC4 keystream keyed from /dev/urandom per channel.
//
// Lookups order: the hosts file first, then DNS ("fb"), set explicitly so nsswitch.conf does not
// change it. /etc/hosts therefore wins over the configured servers; "localhost" always resolves
// to loopback without a query (c-ares 1.18 does that per RFC 6761 s6.3). Tests use names under
// the reserved "test." TLD (RFC 6761 s6.2), which no hosts file carries.
#include "dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "asio/experimental/as_tuple.hpp"
#include "dns/cache.h"
#include "protocol/address.h"

namespace socks5::dns {
namespace {

class ErrorCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "dns"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::kNotFound:
        return "host not found";
      case Errc::kTimeout:
        return "DNS lookup timed out";
      case Errc::kServerFailure:
        return "DNS server failure";
      case Errc::kBadName:
        return "not a valid host name";
      case Errc::kCancelled:
        return "DNS lookup cancelled";
      case Errc::kBusy:
        return "too many DNS lookups in flight";
      case Errc::kOverBudget:
        return "too many DNS lookups for one client";
    }
    return "unknown DNS error";
  }
};

// Tries per server (see Impl::TryTimeout).
constexpr int kTries = 2;
constexpr std::uint16_t kDnsPort = 53;

struct ServerAddress {
  asio::ip::address ip;
  std::uint16_t port = kDnsPort;
};

absl::Status BadServer(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("DNS server \"", text, "\": ", why, " (expected IP, IP:PORT or [IPv6]:PORT)"));
}

// "IP", "IP:PORT" or "[IPv6]:PORT"; a bare IPv6 address takes port 53.
absl::StatusOr<ServerAddress> ParseServer(absl::string_view text) {
  if (text.empty()) return BadServer(text, "empty");
  if (text.find('%') != absl::string_view::npos) {
    return BadServer(text, "scoped IPv6 addresses are not supported");
  }
  absl::string_view host = text;
  std::optional<absl::string_view> port_text;
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == absl::string_view::npos) return BadServer(text, "missing ']'");
    host = text.substr(1, close - 1);
    absl::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return BadServer(text, "expected ':' after ']'");
      port_text = rest.substr(1);
    }
  } else if (std::size_t colon = text.find(':');
             colon != absl::string_view::npos &&
             text.find(':', colon + 1) == absl::string_view::npos) {
    // One colon: IPv4:PORT. Two or more: a bare IPv6 address, parsed below.
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }

  ServerAddress server;
  std::error_code ec;
  server.ip = asio::ip::make_address(std::string(host), ec);
  if (ec) return BadServer(text, "not an IP address");
  if (text.front() == '[' && !server.ip.is_v6()) return BadServer(text, "only IPv6 goes in []");
  if (port_text.has_value()) {
    std::uint32_t port = 0;
    if (port_text->empty() ||
        !std::all_of(port_text->begin(), port_text->end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(*port_text, &port) || port == 0 || port > 65535) {
      return BadServer(text, "port must be 1..65535");
    }
    server.port = static_cast<std::uint16_t>(port);
  }
  return server;
}

// What we hand to c-ares: a host name (protocol::IsHostName) with an optional final dot. Anything
// else would only waste a query.
bool IsResolvableName(absl::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return protocol::IsHostName(std::string_view(name.data(), name.size()));
}

std::error_code FromAresStatus(int status) {
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
      return Errc::kNotFound;
    case ARES_ETIMEOUT:
      return Errc::kTimeout;
    case ARES_EBADNAME:
      return Errc::kBadName;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      return Errc::kCancelled;
    default:
      return Errc::kServerFailure;
  }
}

absl::Status InitAresLibrary() {
  static std::once_flag once;
  static int result = ARES_SUCCESS;
  // Never cleaned up: other workers' channels may outlive any one Resolver.
  std::call_once(once, [] { result = ares_library_init(ARES_LIB_INIT_ALL); });
  if (result != ARES_SUCCESS) {
    return absl::InternalError(absl::StrCat("ares_library_init: ", ares_strerror(result)));
  }
  return absl::OkStatus();
}

std::chrono::nanoseconds ToChrono(absl::Duration d) { return absl::ToChronoNanoseconds(d); }

}  // namespace

const std::error_category& Category() {
  static const ErrorCategory category;
  return category;
}

std::error_code make_error_code(Errc e) { return {static_cast<int>(e), Category()}; }

absl::Status ValidateServers(const std::vector<std::string>& servers) {
  for (const std::string& server : servers) {
    absl::StatusOr<ServerAddress> parsed = ParseServer(server);
    if (!parsed.ok()) return parsed.status();
  }
  return absl::OkStatus();
}

class Resolver::Impl {
 public:
  using Clock = std::chrono::steady_clock;
  using BudgetState = std::shared_ptr<LookupBudget::State>;

  Impl(asio::io_context& io, ResolverOptions options)
      : io_(io),
        options_(std::move(options)),
        cache_(CacheOptions{options_.cache_entries, options_.max_ttl, options_.negative_ttl}) {}

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    alive_.reset();  // Asio handlers still queued become no-ops.
    destroying_ = true;
    // Each ares_destroy calls OnAddrInfo(ARES_EDESTRUCTION) for every query of the channel
    // (completing waiters with kCancelled, posted) and OnSocketState(fd, 0, 0) for every socket
    // before closing it.
    for (auto& [id, channel] : channels_) ares_destroy(channel->ares);
    for (auto& [fd, watch] : watches_) watch->descriptor.release();
  }

  absl::Status Init() {
    std::vector<ares_addr_port_node>& nodes = server_nodes_;
    nodes.resize(options_.servers.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      ServerAddress server = *ParseServer(options_.servers[i]);  // validated by Create
      ares_addr_port_node& node = nodes[i];
      node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
      node.udp_port = node.tcp_port = server.port;
      if (server.ip.is_v4()) {
        node.family = AF_INET;
        std::array<unsigned char, 4> bytes = server.ip.to_v4().to_bytes();
        std::memcpy(&node.addr.addr4, bytes.data(), bytes.size());
      } else {
        node.family = AF_INET6;
        std::array<unsigned char, 16> bytes = server.ip.to_v6().to_bytes();
        std::memcpy(&node.addr.addr6, bytes.data(), bytes.size());
      }
    }
    server_count_ = std::max<std::size_t>(options_.servers.size(), 1);
    absl::StatusOr<Channel*> first = NewChannel();
    if (!first.ok()) return first.status();
    if (options_.servers.empty()) {
      // resolv.conf decided how many servers there are: fit the per-try timeout to that.
      std::size_t system_count = CountServers((*first)->ares);
      if (system_count > server_count_) {
        DestroyChannel((*first)->id);
        server_count_ = system_count;
        first = NewChannel();
        if (!first.ok()) return first.status();
      }
    }
    current_ = *first;
    return absl::OkStatus();
  }

  void Resolve(const std::string& name, Handler handler, const BudgetState& budget) {
    // make_address and c-ares read C strings: "1.2.3.4\0x" must not pass for 1.2.3.4.
    if (name.find('\0') != std::string::npos) return Post(std::move(handler), Errc::kBadName, {});
    std::error_code ec;
    asio::ip::address literal = asio::ip::make_address(name, ec);
    if (!ec) return Post(std::move(handler), {}, {literal});
    if (!IsResolvableName(name)) return Post(std::move(handler), Errc::kBadName, {});

    std::string key = absl::AsciiStrToLower(name);
    Addresses cached;
    switch (cache_.Lookup(key, absl::Now(), &cached)) {
      case CacheStatus::kFound:
        Count(metrics::DnsCacheHit::kFound);
        return Post(std::move(handler), {}, std::move(cached));
      case CacheStatus::kNotFound:
        Count(metrics::DnsCacheHit::kNotFound);
        return Post(std::move(handler), Errc::kNotFound, {});
      case CacheStatus::kMiss:
        break;
    }
    if (budget != nullptr) {
      if (budget->limit != 0 && budget->in_flight >= budget->limit) {
        Count(Errc::kOverBudget);
        return Post(std::move(handler), Errc::kOverBudget, {});
      }
      // Counted until the handler runs, whatever completes it (kBusy below included).
      ++budget->in_flight;
      handler = [budget, handler = std::move(handler)](std::error_code ec, Addresses addresses) {
        --budget->in_flight;
        handler(ec, std::move(addresses));
      };
    }
    if (auto it = waiting_.find(key); it != waiting_.end()) {
      it->second->waiters.push_back(std::move(handler));  // share the query in flight
      return;
    }
    if (AtMaxInFlight()) {
      Count(Errc::kBusy);
      return Post(std::move(handler), Errc::kBusy, {});
    }
    StartLookup(std::move(key), std::move(handler));
  }

  void ResolvePtr(const asio::ip::address& address, PtrHandler handler) {
    if (AtMaxInFlight()) return PostPtr(std::move(handler), Errc::kBusy, {});
    Channel& channel = ChannelForLookup();
    std::uint64_t id = next_id_++;
    auto owned = std::make_unique<PtrLookup>(io_, this, &channel, id, std::move(handler));
    PtrLookup* lookup = owned.get();
    ptr_lookups_.emplace(id, std::move(owned));
    lookup->deadline.expires_after(ToChrono(options_.timeout));
    lookup->deadline.async_wait([this, alive = std::weak_ptr(alive_), id](std::error_code ec) {
      if (alive.expired() || ec) return;
      auto it = ptr_lookups_.find(id);
      if (it != ptr_lookups_.end()) AnswerPtr(*it->second, Errc::kTimeout, {});
    });
    ++channel.started;
    ++channel.running;
    const asio::ip::address plain =
        address.is_v6() && address.to_v6().is_v4_mapped()
            ? asio::ip::address(asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()))
            : address;
    Clock::time_point now = Clock::now();
    // May call OnHost before returning (the hosts file), which frees `lookup`.
    if (plain.is_v4()) {
      const asio::ip::address_v4::bytes_type bytes = plain.to_v4().to_bytes();
      ares_gethostbyaddr(channel.ares, bytes.data(), static_cast<int>(bytes.size()), AF_INET,
                         &Impl::OnHost, lookup);
    } else {
      const asio::ip::address_v6::bytes_type bytes = plain.to_v6().to_bytes();
      ares_gethostbyaddr(channel.ares, bytes.data(), static_cast<int>(bytes.size()), AF_INET6,
                         &Impl::OnHost, lookup);
    }
    ArmBy(channel, now + TryTimeout());
  }

  std::size_t queries_in_flight() const { return lookups_.size() + ptr_lookups_.size(); }
  void set_metrics(metrics::WorkerMetrics* metrics) { metrics_ = metrics; }
  std::size_t channels() const { return channels_.size(); }

 private:
  struct Channel;

  // A descriptor c-ares asked us to watch. `id` tells a new Watch from an old one whose fd number
  // c-ares closed and then reused.
  struct Watch {
    Watch(asio::io_context& io, std::uint64_t id, Channel* channel)
        : id(id), channel(channel), descriptor(io) {}
    std::uint64_t id;
    Channel* channel;  // the channel whose socket it is; it outlives the Watch
    asio::posix::stream_descriptor descriptor;
    bool want_read = false;
    bool want_write = false;
    bool reading = false;  // an async_wait(wait_read) is outstanding
    bool writing = false;
  };

  // One ares channel, with its timer. Owned by channels_; sock_state_cb_data points here.
  struct Channel {
    Channel(asio::io_context& io, Impl* impl, std::uint64_t id) : impl(impl), id(id), timer(io) {}
    Impl* impl;
    std::uint64_t id;
    ares_channel ares = nullptr;
    std::size_t started = 0;  // ares_getaddrinfo calls made on it
    std::size_t running = 0;  // of those, not yet called back
    bool retired = false;     // no new lookups; destroyed once running is 0
    asio::steady_timer timer;
    std::optional<Clock::time_point> armed;  // when `timer` fires, while it is armed
    std::uint64_t arming = 0;                // tells the current async_wait from replaced ones
  };

  // One ares_getaddrinfo call, owned here until c-ares calls OnAddrInfo, which it always does
  // exactly once (ARES_EDESTRUCTION from ares_destroy included).
  struct Lookup {
    Lookup(asio::io_context& io, Impl* impl, Channel* channel, std::uint64_t id, std::string name)
        : impl(impl), channel(channel), id(id), name(std::move(name)), deadline(io) {}
    Impl* impl;
    Channel* channel;  // it runs on; the channel is not destroyed before OnAddrInfo
    std::uint64_t id;
    std::string name;
    std::vector<Handler> waiters;
    asio::steady_timer deadline;  // options.timeout: the callers' limit, whatever c-ares does
    bool answered = false;        // waiters were completed (answer, error or deadline)
    Clock::time_point started = Clock::now();  // socks5d_dns_lookup_duration_seconds
  };

  // One ares_gethostbyaddr call (a PTR query), owned here until c-ares calls OnHost, which it
  // always does exactly once (ARES_EDESTRUCTION included).
  struct PtrLookup {
    PtrLookup(asio::io_context& io, Impl* impl, Channel* channel, std::uint64_t id,
              PtrHandler handler)
        : impl(impl), channel(channel), id(id), handler(std::move(handler)), deadline(io) {}
    Impl* impl;
    Channel* channel;
    std::uint64_t id;
    PtrHandler handler;  // empty once answered
    asio::steady_timer deadline;
  };

  bool AtMaxInFlight() const {
    return options_.max_in_flight != 0 && queries_in_flight() >= options_.max_in_flight;
  }

  void PostPtr(PtrHandler handler, std::error_code ec, std::string name) {
    asio::post(io_, [handler = std::move(handler), ec, name = std::move(name)]() mutable {
      handler(ec, std::move(name));
    });
  }

  // Completes the caller once; a later call (the answer after the deadline) does nothing.
  void AnswerPtr(PtrLookup& lookup, std::error_code ec, std::string name) {
    if (!lookup.handler) return;
    lookup.deadline.cancel();
    PostPtr(std::exchange(lookup.handler, nullptr), ec, std::move(name));
  }

  static void OnHost(void* arg, int status, int /*timeouts*/, hostent* host) {
    auto* lookup = static_cast<PtrLookup*>(arg);
    Impl& self = *lookup->impl;
    if (self.destroying_) {
      self.AnswerPtr(*lookup, Errc::kCancelled, {});
    } else if (status != ARES_SUCCESS) {
      self.AnswerPtr(*lookup, FromAresStatus(status), {});
    } else if (host == nullptr || host->h_name == nullptr || host->h_name[0] == '\0') {
      self.AnswerPtr(*lookup, Errc::kNotFound, {});
    } else {
      self.AnswerPtr(*lookup, {}, std::string(host->h_name));
    }
    Channel& channel = *lookup->channel;
    --channel.running;
    self.ptr_lookups_.erase(lookup->id);  // destroys *lookup
    if (channel.retired && channel.running == 0 && !self.destroying_) self.DestroyLater(channel.id);
  }

  // The per-try timeout: ares_getaddrinfo runs A and AAAA in parallel; each try waits
  // try_timeout << round for each server, so kTries = 2 takes servers * try_timeout * 3 in all.
  std::chrono::milliseconds TryTimeout() const {
    std::int64_t total_ms = std::max<std::int64_t>(absl::ToInt64Milliseconds(options_.timeout), 1);
    std::int64_t try_ms =
        total_ms / (static_cast<std::int64_t>(server_count_) * ((1 << kTries) - 1));
    return std::chrono::milliseconds(std::clamp<std::int64_t>(try_ms, 1, 1 << 30));
  }

  // A channel with the configured servers (or resolv.conf's), added to channels_.
  absl::StatusOr<Channel*> NewChannel() {
    auto owned = std::make_unique<Channel>(io_, this, next_id_++);
    ares_options opts{};
    opts.sock_state_cb = &Impl::OnSocketState;
    opts.sock_state_cb_data = owned.get();
    opts.timeout = static_cast<int>(TryTimeout().count());
    opts.tries = kTries;
    char lookups[] = "fb";
    opts.lookups = lookups;
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
    if (int rc = ares_init_options(&owned->ares, &opts, mask); rc != ARES_SUCCESS) {
      return absl::InternalError(absl::StrCat("ares_init_options: ", ares_strerror(rc)));
    }
    if (!server_nodes_.empty()) {
      if (int rc = ares_set_servers_ports(owned->ares, server_nodes_.data()); rc != ARES_SUCCESS) {
        ares_destroy(owned->ares);
        return absl::InternalError(absl::StrCat("ares_set_servers_ports: ", ares_strerror(rc)));
      }
    }
    Channel* channel = owned.get();
    channels_.emplace(channel->id, std::move(owned));
    return channel;
  }

  static std::size_t CountServers(ares_channel channel) {
    ares_addr_port_node* servers = nullptr;
    if (ares_get_servers_ports(channel, &servers) != ARES_SUCCESS) return 0;
    std::size_t count = 0;
    for (ares_addr_port_node* node = servers; node != nullptr; node = node->next) ++count;
    ares_free_data(servers);
    return count;
  }

  // The channel for the next lookup: a fresh one once the current one has carried
  // queries_per_channel lookups, unless kMaxChannels are open (or a new one cannot be made, say
  // for want of descriptors): then the current one carries on.
  Channel& ChannelForLookup() {
    if (options_.queries_per_channel == 0 || current_->started < options_.queries_per_channel ||
        channels_.size() >= kMaxChannels) {
      return *current_;
    }
    absl::StatusOr<Channel*> fresh = NewChannel();
    if (!fresh.ok()) return *current_;
    Channel* old = std::exchange(current_, *fresh);
    old->retired = true;
    if (old->running == 0) DestroyLater(old->id);
    return *current_;
  }

  // Destroys a retired channel whose queries have all ended, from a handler of its own: never
  // inside a c-ares callback of that channel.
  void DestroyLater(std::uint64_t id) {
    asio::post(io_, [this, alive = std::weak_ptr(alive_), id] {
      if (alive.expired()) return;
      auto it = channels_.find(id);
      if (it != channels_.end() && it->second->retired && it->second->running == 0) {
        DestroyChannel(id);
      }
    });
  }

  void DestroyChannel(std::uint64_t id) {
    auto it = channels_.find(id);
    Channel* channel = it->second.get();
    // No queries left, so no OnAddrInfo; OnSocketState(fd, 0, 0) releases each socket's Watch.
    ares_destroy(channel->ares);
    for (auto watch = watches_.begin(); watch != watches_.end();) {
      if (watch->second->channel == channel) {
        watch->second->descriptor.release();
        watch = watches_.erase(watch);
      } else {
        ++watch;
      }
    }
    channels_.erase(it);  // its timer's wait, if any, completes with operation_aborted
  }

  // ---- metrics ----
  void Count(metrics::DnsCacheHit hit) {
    if (metrics_ != nullptr) metrics_->dns_cache_hits[metrics::Index(hit)].Add();
  }
  void Count(std::error_code ec) {
    if (metrics_ == nullptr) return;
    metrics::DnsResult result = metrics::DnsResult::kOther;
    if (!ec) {
      result = metrics::DnsResult::kOk;
    } else if (ec.category() == Category()) {
      switch (static_cast<Errc>(ec.value())) {
        case Errc::kNotFound:
          result = metrics::DnsResult::kNotFound;
          break;
        case Errc::kTimeout:
          result = metrics::DnsResult::kTimeout;
          break;
        case Errc::kServerFailure:
          result = metrics::DnsResult::kServerFailure;
          break;
        case Errc::kBadName:
          result = metrics::DnsResult::kBadName;
          break;
        case Errc::kCancelled:
          result = metrics::DnsResult::kCancelled;
          break;
        case Errc::kBusy:
          result = metrics::DnsResult::kBusy;
          break;
        case Errc::kOverBudget:
          result = metrics::DnsResult::kOverBudget;
          break;
        default:
          break;
      }
    }
    metrics_->dns_lookups[metrics::Index(result)].Add();
  }

  void Post(Handler handler, std::error_code ec, Addresses addresses) {
    asio::post(io_, [handler = std::move(handler), ec, addresses = std::move(addresses)]() mutable {
      handler(ec, std::move(addresses));
    });
  }

  void StartLookup(std::string key, Handler handler) {
    Channel& channel = ChannelForLookup();
    std::uint64_t id = next_id_++;
    auto owned = std::make_unique<Lookup>(io_, this, &channel, id, std::move(key));
    Lookup* lookup = owned.get();
    lookups_.emplace(id, std::move(owned));
    waiting_.emplace(lookup->name, lookup);
    lookup->waiters.push_back(std::move(handler));
    lookup->deadline.expires_after(ToChrono(options_.timeout));
    lookup->deadline.async_wait([this, alive = std::weak_ptr(alive_), id](std::error_code ec) {
      if (alive.expired() || ec) return;
      OnDeadline(id);
    });

    ++channel.started;
    ++channel.running;
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    Clock::time_point now = Clock::now();
    // May call OnAddrInfo before returning (hosts file, localhost), which frees `lookup`.
    ares_getaddrinfo(channel.ares, lookup->name.c_str(), nullptr, &hints, &Impl::OnAddrInfo,
                     lookup);
    ArmBy(channel, now + TryTimeout());
  }

  // Completes every waiter once; a later call (the answer after the deadline) does nothing.
  void Answer(Lookup& lookup, std::error_code ec, const Addresses& addresses) {
    if (lookup.answered) return;
    lookup.answered = true;
    Count(ec);
    if (metrics_ != nullptr) {
      metrics_->dns_seconds.Observe(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - lookup.started)
              .count());
    }
    lookup.deadline.cancel();
    if (auto it = waiting_.find(lookup.name); it != waiting_.end() && it->second == &lookup) {
      waiting_.erase(it);
    }
    for (Handler& waiter : lookup.waiters) Post(std::move(waiter), ec, addresses);
    lookup.waiters.clear();
  }

  void OnDeadline(std::uint64_t id) {
    auto it = lookups_.find(id);
    if (it == lookups_.end()) return;
    // The c-ares query runs on (its own tries end about now); its answer will still be cached.
    Answer(*it->second, Errc::kTimeout, {});
  }

  static void OnAddrInfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
    std::unique_ptr<ares_addrinfo, decltype(&ares_freeaddrinfo)> owned(result, ares_freeaddrinfo);
    auto* lookup = static_cast<Lookup*>(arg);
    Impl& self = *lookup->impl;
    if (self.destroying_) {
      self.Answer(*lookup, Errc::kCancelled, {});
    } else if (status != ARES_SUCCESS) {
      std::error_code ec = FromAresStatus(status);
      if (ec == Errc::kNotFound) self.cache_.InsertNotFound(lookup->name, absl::Now());
      self.Answer(*lookup, ec, {});
    } else {
      Addresses addresses;
      absl::Duration ttl = absl::InfiniteDuration();
      for (ares_addrinfo_node* node = result->nodes; node != nullptr; node = node->ai_next) {
        if (node->ai_family == AF_INET) {
          const auto* sin = reinterpret_cast<const sockaddr_in*>(node->ai_addr);
          addresses.push_back(asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)));
        } else if (node->ai_family == AF_INET6) {
          const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(node->ai_addr);
          asio::ip::address_v6::bytes_type bytes;
          std::memcpy(bytes.data(), sin6->sin6_addr.s6_addr, bytes.size());
          addresses.push_back(asio::ip::address_v6(bytes, sin6->sin6_scope_id));
        } else {
          continue;
        }
        ttl = std::min(ttl, absl::Seconds(node->ai_ttl));
      }
      for (ares_addrinfo_cname* cname = result->cnames; cname != nullptr; cname = cname->next) {
        ttl = std::min(ttl, absl::Seconds(cname->ttl));
      }
      if (addresses.empty()) {
        self.cache_.InsertNotFound(lookup->name, absl::Now());
        self.Answer(*lookup, Errc::kNotFound, {});
      } else {
        self.cache_.InsertFound(lookup->name, addresses, ttl, absl::Now());
        self.Answer(*lookup, {}, addresses);
      }
    }
    Channel& channel = *lookup->channel;
    --channel.running;
    self.lookups_.erase(lookup->id);  // destroys *lookup
    if (channel.retired && channel.running == 0 && !self.destroying_) self.DestroyLater(channel.id);
  }

  static void OnSocketState(void* data, ares_socket_t fd, int readable, int writable) {
    Channel& channel = *static_cast<Channel*>(data);
    Impl& self = *channel.impl;
    auto it = self.watches_.find(fd);
    if (!readable && !writable) {
      if (it != self.watches_.end()) {
        it->second->descriptor.release();  // c-ares closes fd right after this callback
        self.watches_.erase(it);
      }
      return;
    }
    if (it == self.watches_.end()) {
      auto watch = std::make_unique<Watch>(self.io_, self.next_id_++, &channel);
      std::error_code ec;
      watch->descriptor.assign(fd, ec);
      // On failure nothing will report readiness; c-ares's own timeout ends the query.
      if (ec) return;
      it = self.watches_.emplace(fd, std::move(watch)).first;
    }
    Watch& watch = *it->second;
    watch.want_read = readable != 0;
    watch.want_write = writable != 0;
    if (!self.destroying_) self.StartWaits(fd, watch);
  }

  void StartWaits(ares_socket_t fd, Watch& watch) {
    if (watch.want_read && !watch.reading) {
      watch.reading = true;
      watch.descriptor.async_wait(
          asio::posix::stream_descriptor::wait_read,
          [this, alive = std::weak_ptr(alive_), fd, id = watch.id](std::error_code ec) {
            if (!alive.expired()) OnReady(fd, id, /*write=*/false, ec);
          });
    }
    if (watch.want_write && !watch.writing) {
      watch.writing = true;
      watch.descriptor.async_wait(
          asio::posix::stream_descriptor::wait_write,
          [this, alive = std::weak_ptr(alive_), fd, id = watch.id](std::error_code ec) {
            if (!alive.expired()) OnReady(fd, id, /*write=*/true, ec);
          });
    }
  }

  void OnReady(ares_socket_t fd, std::uint64_t id, bool write, std::error_code ec) {
    auto it = watches_.find(fd);
    if (it == watches_.end() || it->second->id != id) return;  // released since
    Watch& watch = *it->second;
    (write ? watch.writing : watch.reading) = false;
    // operation_aborted: released. Other errors (a failed registration) would only repeat if
    // re-armed; c-ares's timeout ends the query instead.
    if (ec) return;
    if (write ? !watch.want_write : !watch.want_read) return;
    Channel& channel = *watch.channel;  // not destroyed inside ares_process_fd (DestroyLater)
    Clock::time_point now = Clock::now();
    ares_process_fd(channel.ares, write ? ARES_SOCKET_BAD : fd, write ? fd : ARES_SOCKET_BAD);
    // ares_process_fd may have closed fd (erasing the Watch) or reused its number.
    it = watches_.find(fd);
    if (it != watches_.end() && it->second->id == id) StartWaits(fd, *it->second);
    ArmBy(channel, now + TryTimeout());
  }

  // Keeps `channel.timer` at or before c-ares's next deadline, for at most `when`. c-ares 1.18
  // gives every query it sends at time t (a first try, a retry, the same query over TCP) the
  // deadline t + timeout << (tries so far / servers), never earlier than t + TryTimeout(), and
  // has no other timers. So after any call into c-ares that began at `now`, arming at the
  // earlier of now + TryTimeout() and the current expiry keeps the timer early enough, in O(1):
  // ares_timeout(), which walks every pending query, runs only when the timer fires (OnTimer),
  // not after every event as before (9,000 silent lookups cost seconds of CPU that way).
  void ArmBy(Channel& channel, Clock::time_point when) {
    if (channel.armed.has_value() && *channel.armed <= when) return;
    channel.armed = when;
    std::uint64_t arming = ++channel.arming;
    channel.timer.expires_at(when);  // a replaced wait completes with operation_aborted
    channel.timer.async_wait(
        [this, alive = std::weak_ptr(alive_), id = channel.id, arming](std::error_code ec) {
          if (alive.expired() || ec) return;
          OnTimer(id, arming);
        });
  }

  // Runs c-ares's timeouts (retries, the next server, giving up), then asks it for its next
  // deadline: the one walk of its queries per expiry. Deadlines closer than kTimerStep are
  // served together, so a stream of lookups started microseconds apart cannot make the timer
  // fire (and walk) once per lookup; c-ares just sees them up to kTimerStep late.
  void OnTimer(std::uint64_t id, std::uint64_t arming) {
    auto it = channels_.find(id);
    if (it == channels_.end() || it->second->arming != arming) return;
    Channel& channel = *it->second;
    channel.armed.reset();
    Clock::time_point now = Clock::now();
    ares_process_fd(channel.ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    timeval tv{};
    if (ares_timeout(channel.ares, nullptr, &tv) == nullptr) return;  // no queries left
    Clock::duration next = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    ArmBy(channel, now + std::max<Clock::duration>(next, kTimerStep));  // retries sent included
  }

  static constexpr std::chrono::milliseconds kTimerStep{5};

  asio::io_context& io_;
  ResolverOptions options_;
  metrics::WorkerMetrics* metrics_ = nullptr;      // ---- metrics ---- (SetMetrics)
  std::vector<ares_addr_port_node> server_nodes_;  // the configured servers, linked; empty: system
  std::size_t server_count_ = 1;                   // what TryTimeout divides by
  Cache<Addresses> cache_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Channel>> channels_;  // current and retired
  Channel* current_ = nullptr;                                            // in channels_
  std::unordered_map<ares_socket_t, std::unique_ptr<Watch>> watches_;     // of every channel
  std::unordered_map<std::uint64_t, std::unique_ptr<Lookup>> lookups_;    // every query in c-ares
  std::unordered_map<std::uint64_t, std::unique_ptr<PtrLookup>> ptr_lookups_;  // PTR queries too
  absl::flat_hash_map<std::string, Lookup*> waiting_;  // lookups with callers waiting, by name
  std::uint64_t next_id_ = 1;
  bool destroying_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>();  // handlers hold weak_ptrs to it
};

absl::StatusOr<std::unique_ptr<Resolver>> Resolver::Create(asio::io_context& io,
                                                           ResolverOptions options) {
  if (absl::Status status = ValidateServers(options.servers); !status.ok()) return status;
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("DNS timeout must be positive");
  }
  if (options.max_ttl < absl::ZeroDuration() || options.negative_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("DNS cache TTLs must not be negative");
  }
  if (absl::Status status = InitAresLibrary(); !status.ok()) return status;
  auto impl = std::make_unique<Impl>(io, std::move(options));
  if (absl::Status status = impl->Init(); !status.ok()) return status;
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Resolver::~Resolver() = default;

void Resolver::Resolve(const std::string& name, Handler handler) {
  impl_->Resolve(name, std::move(handler), nullptr);
}

void Resolver::Resolve(const std::string& name, LookupBudget& budget, Handler handler) {
  impl_->Resolve(name, std::move(handler), budget.state_);
}

void Resolver::ResolvePtr(const asio::ip::address& address, PtrHandler handler) {
  impl_->ResolvePtr(address, std::move(handler));
}

asio::awaitable<std::pair<std::error_code, std::string>> Resolver::AsyncResolvePtr(
    asio::ip::address address) {
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  std::tuple<std::error_code, std::string> result =
      co_await asio::async_initiate<decltype(token), void(std::error_code, std::string)>(
          [this](auto handler, const asio::ip::address& address) {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            ResolvePtr(address, [shared](std::error_code ec, std::string name) {
              (*shared)(ec, std::move(name));
            });
          },
          token, address);
  co_return std::pair(std::get<0>(result), std::move(std::get<1>(result)));
}

std::size_t Resolver::queries_in_flight() const { return impl_->queries_in_flight(); }

std::size_t Resolver::channels() const { return impl_->channels(); }

void Resolver::SetMetrics(metrics::WorkerMetrics* metrics) { impl_->set_metrics(metrics); }

asio::awaitable<std::pair<std::error_code, Resolver::Addresses>> Resolver::AsyncResolve(
    std::string name, LookupBudget* budget) {
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  std::tuple<std::error_code, Addresses> result =
      co_await asio::async_initiate<decltype(token), void(std::error_code, Addresses)>(
          [this, budget](auto handler, const std::string& name) {
            // Handler is a copyable std::function; the coroutine's handler is move-only.
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            Handler completion = [shared](std::error_code ec, Addresses addresses) {
              (*shared)(ec, std::move(addresses));
            };
            if (budget != nullptr) {
              Resolve(name, *budget, std::move(completion));
            } else {
              Resolve(name, std::move(completion));
            }
          },
          token, name);
  co_return std::pair(std::get<0>(result), std::move(std::get<1>(result)));
}

}  // namespace socks5::dns
