// UDP ASSOCIATE (RFC 1928 s.4, s.7): opens the relay socket on the control connection's local
// address, answers with the address clients send to, and runs the relay (relay/udp_relay.h)
// until the control connection closes or the association idles out.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "net/address.h"
#include "net/log.h"
#include "net/socket.h"
#include "relay/udp_relay.h"
#include "session/handlers.h"
#include "session/replies.h"
#include "session/rules.h"
#include "session/session_metrics.h"

namespace socks5::session {
namespace {

relay::RelayOptions RelayOptionsFor(Session& session) {
  const Context& context = session.context();
  const Settings& settings = context.settings;
  relay::RelayOptions options;
  options.association.reply_policy = settings.udp_reply_policy;
  options.association.reassembly.timeout =
      absl::ToChronoNanoseconds(settings.udp_reassembly_timeout);
  options.association.destinations = context.destinations;
  options.association.memory_budget = context.udp_memory;  // the server outlives its workers
  options.idle_timeout = absl::ToChronoNanoseconds(settings.udp_idle_timeout);
  options.outbound_v4 = session.egress().v4;
  options.outbound_v6 = session.egress().v6;
  options.rate = session.shared_rate_limiter();
  if (session.rules()) {
    // Owned by the relay's association (which may outlive this frame by a callback or two).
    // The decisions follow reloads (session/policy.h): once a newer snapshot is published the
    // cache starts over with its rules, so new datagrams are decided by them. One atomic load
    // per datagram otherwise.
    struct FollowedRules {
      PolicyFollower policy;
      UdpRuleCache cache;
    };
    auto rules = std::make_shared<FollowedRules>(
        FollowedRules{PolicyFollower(context.policies, session.policy()),
                      UdpRuleCache(session.rules(), session)});
    options.association.rules_allow = [rules](const udp::Endpoint& target,
                                              const std::string* name) {
      if (rules->policy.Refresh()) rules->cache.Reset(rules->policy.policy().rules);
      return rules->cache.Allowed(target, name);
    };
  }
  return options;
}

// Copies the relay's counters into the access record when the handler ends, including when
// its coroutine is destroyed mid-association (the worker stopping at shutdown).
class RecordOnExit {
 public:
  RecordOnExit(Context& context, AccessRecord& record, const relay::UdpRelay& relay,
               const asio::ip::udp::endpoint& bound)
      : context_(context), record_(record), relay_(relay), bound_(bound) {}
  RecordOnExit(const RecordOnExit&) = delete;
  RecordOnExit& operator=(const RecordOnExit&) = delete;
  ~RecordOnExit() {
    const udp::Association& association = relay_.association();
    record_.bytes.bytes_up = association.counters().bytes_up;
    record_.bytes.bytes_down = association.counters().bytes_down;
    record_.fields().relay = net::FromEndpoint(bound_);
    protocol::LogRecord& fields = record_.fields().association_fields;
    association.AppendLogFields(fields);
    relay_.AppendLogFields(fields);
    CountAssociation(context_, association);
  }

 private:
  Context& context_;
  AccessRecord& record_;
  const relay::UdpRelay& relay_;
  asio::ip::udp::endpoint bound_;
};

// Opens the relay socket on `local`, in --udp_port_range when set. The error is logged.
std::error_code OpenRelaySocket(Session& session, const asio::ip::address& local,
                                asio::ip::udp::socket& socket) {
  std::error_code ec = net::OpenUdpSocket(socket, local, session.context().udp_ports());
  if (ec) {
    const auto& range = session.settings().udp_port_range;
    net::LogWarning("UDP ASSOCIATE: cannot open a relay socket on %s%s: %s", local.to_string(),
                    range ? absl::StrCat(" in ", range->ToString()) : "", ec.message());
  }
  return ec;
}

}  // namespace

asio::awaitable<void> RunUdpAssociate(Session& session, const protocol::Request& request) {
  const Settings& settings = session.settings();
  // Admission (session/admission.h): --max_associations_per_client (02) and the descriptor budget
  // (01), held until the association ends.
  std::optional<ClientSlot> slot;
  std::optional<DescriptorCharge> descriptors;
  if (Admission* admission = session.context().admission; admission != nullptr) {
    slot = ClientSlot::TryAcquire(admission->clients, session.client_endpoint().address(),
                                  ClientKind::kAssociation, settings.max_associations_per_client);
    if (!slot) {
      static net::RateLimitedWarning warning("max_associations_per_client", "refused",
                                             "UDP ASSOCIATE requests");
      warning.Warn("max_associations_per_client=%d reached for %s; UDP ASSOCIATE answered 02",
                   settings.max_associations_per_client,
                   net::Unmapped(session.client_endpoint().address()).to_string());
      co_return co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
    }
    descriptors = ChargeForCommand(&admission->descriptors, kUdpDescriptors, "UDP ASSOCIATE");
    if (!descriptors) {
      co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
    }
  }
  // The rules (session/rules.h): the association by from/user/cmd=udp, then every datagram.
  if (const auto& rules = session.rules(); rules) {
    const policy::Query base = RuleQuery(session, policy::Command::kUdp);
    const policy::Decision decision =
        rules->DecideAnyTarget(base.client, base.user, policy::Command::kUdp);
    RecordRule(session, decision);
    if (!decision.allow) {
      net::LogDebug("UDP ASSOCIATE refused by rule=%s", decision.source());
      co_return co_await AsyncFailAndClose(session, protocol::Reply::kNotAllowed);
    }
    ApplyAllowingRule(session, decision.rule);
  }
  // The relay listens where the client already reaches us: the control connection's local address.
  std::error_code ec;
  asio::ip::tcp::endpoint local = session.client().local_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  asio::ip::udp::socket socket(session.context().io);
  ec = OpenRelaySocket(session, net::Unmapped(local.address()), socket);
  asio::ip::udp::endpoint bound;
  if (!ec) bound = socket.local_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, ReplyForError(ec));

  dns::Resolver& resolver = session.context().resolver;
  // One budget per association (--udp_max_lookups_per_association): a client sending to many
  // new names at once gets counted drops (drop_dns_busy), not a share of the worker's lookups.
  std::shared_ptr<relay::UdpRelay> relay = relay::UdpRelay::Create(
      std::move(socket), session.client_endpoint().address(), request.destination,
      RelayOptionsFor(session),
      [&resolver, budget = dns::LookupBudget(settings.udp_max_lookups_per_association)](
          const std::string& name, relay::ResolveHandler handler) mutable {
        // The worker's resolver outlives its sessions, and it caches and coalesces.
        resolver.Resolve(name, budget, std::move(handler));
      });

  const asio::ip::address advertised = settings.advertise_address.value_or(bound.address());
  const protocol::Address relay_address = net::FromAsio(advertised, bound.port());
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, relay_address)) co_return;

  RecordOnExit record(session.context(), session.record(), *relay, bound);
  co_await relay->AsyncRun(session.client());
  session.client().close(ec);
}

}  // namespace socks5::session
