// One client's session: its control connection, the bytes that arrived behind its request, and
// the typed access-log record written when the session ends.
#ifndef SOCKS5_SESSION_SESSION_H_
#define SOCKS5_SESSION_SESSION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "asio.hpp"
#include "metrics/worker_metrics.h"
#include "policy/rules.h"
#include "protocol/address.h"
#include "protocol/log_record.h"
#include "protocol/messages.h"
#include "relay/rate.h"
#include "relay/tcp_relay.h"
#include "session/admission.h"
#include "session/context.h"
#include "session/policy.h"

namespace socks5::session {

// The fields of the access-log line (`access client=... user=... cmd=...`). Handlers fill what
// applies to their command; unset fields are not printed (or print "-" for the common ones).
// Every session holds one for its whole life, so it is kept small: what only BIND and UDP
// ASSOCIATE log sits behind `command_fields` (RSS per idle CONNECT session, issue 10).
struct AccessRecord {
  // BIND: the advertised listener, how a wait without a peer ended, the peer. UDP ASSOCIATE: the
  // relay socket and the association's counters (udp::Association::LogFields).
  struct CommandFields {
    std::optional<protocol::Address> bound;
    std::optional<std::string> outcome;  // "client_closed", "timeout"
    std::optional<protocol::Address> peer;
    std::optional<protocol::Address> relay;
    protocol::LogRecord association_fields;
    std::optional<std::string> limit;          // the limit that refused the request ("user")
    std::optional<std::uint8_t> first_byte;    // proto=unknown: the byte that opened the connection
    std::optional<std::string> socks4_userid;  // SOCKS4's USERID, escaped; never a user
  };

  absl::Time start;
  std::string user = "-";  // escaped (the client's bytes)
  bool user_rejected = false;
  // How the handshake ended (socks5d_handshakes_total); failure sites set theirs, the handshake's
  // wrapper kOk or kTimeout (session/session_metrics.h).
  metrics::Handshake handshake = metrics::Handshake::kClosed;
  // --rules_file (session/rules.h): set when a rule decided; `rule` null is the implicit deny.
  bool rule_decided = false;
  std::optional<protocol::Reply> reply;  // the last reply sent (beside the flags: no padding)
  const char* command = "-";             // protocol::CommandName: a static string
  // What the client spoke when it was not SOCKS5 ("socks4", "socks4a", "http", "tls",
  // "unknown"): a static string; null (not logged) for SOCKS5.
  const char* proto = nullptr;
  std::string target = "-";
  relay::Counters bytes;
  std::unique_ptr<CommandFields> command_fields;  // null until a BIND or UDP handler sets one
  const policy::Rule* rule = nullptr;             // see rule_decided

  // The BIND/UDP fields, created on first use.
  CommandFields& fields();
  // The access line's fields in order (protocol::LogRecord); `json`: the user's refusal is a
  // field of its own (user_rejected) instead of a mark on the name.
  protocol::LogRecord Fields(const asio::ip::tcp::endpoint& client, absl::Time now,
                             bool json) const;
  // "access client=... user=... cmd=..." (--access_log_format=text, after the log's prefix).
  std::string LogLine(const asio::ip::tcp::endpoint& client, absl::Time now) const;
  // {"ts":"...","event":"access","client":"...",...} (--access_log_format=json, a whole line).
  std::string JsonLine(const asio::ip::tcp::endpoint& client, absl::Time now) const;
};

// What the acceptor charged for a session (session/admission.h); released when it ends.
struct Admitted {
  std::optional<ClientSlot> client;  // counted in --max_sessions_per_client
  DescriptorCharge descriptor;       // the client socket
  asio::ip::tcp::endpoint peer;      // the client's address, as accept returned it
};

class Session {
 public:
  // Counts itself in context.active_sessions while it lives.
  // `peer`: the client's address as accept returned it (no getpeername).
  Session(Context& context, asio::ip::tcp::socket client, const asio::ip::tcp::endpoint& peer);
  // The peer's address asked of the socket (tests, sockets not from a worker's accept).
  Session(Context& context, asio::ip::tcp::socket client);
  ~Session();  // writes the access-log line
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  Context& context() { return context_; }
  const Settings& settings() const { return context_.settings; }
  asio::ip::tcp::socket& client() { return client_; }
  const asio::ip::tcp::endpoint& client_endpoint() const { return client_endpoint_; }
  AccessRecord& record() { return record_; }
  // Client bytes that arrived behind the request (pipelined); the handler forwards them first.
  std::vector<std::uint8_t>& early_data() { return early_data_; }
  Admitted& admitted() { return admitted_; }
  // The users and rules as they were when the session started (session/policy.h): a reload
  // never changes them for this session. The one place a session reads either.
  const std::shared_ptr<const Policy>& policy() const { return policy_; }
  // The users it authenticates against (null: no authentication); shared, so a check on the
  // verifier's threads keeps them alive (session/verifier.h).
  const std::shared_ptr<const Credentials>& users() const { return policy_->users; }
  // The access rules (--rules_file) this session is decided by; null: no rules file (everything
  // the destination policy allows is allowed).
  const std::shared_ptr<const policy::RuleSet>& rules() const { return policy_->rules; }
  // The RFC 1929 user name the client authenticated as; nullopt without authentication.
  const std::optional<std::string>& user() const;
  void set_user(std::string user) { extras().user = std::move(user); }
  // The rule that allowed what this session uses (session/rules.h ApplyAllowingRule); null
  // without a rules file. Points into rules(), which the session holds for its life.
  const policy::Rule* allowing_rule() const { return extras_ ? extras_->allowing_rule : nullptr; }
  void set_allowing_rule(const policy::Rule* rule) { extras().allowing_rule = rule; }
  // A SOCKS4/4a session (session/socks4.h): its replies are SOCKS4's (session/replies.h).
  bool socks4() const { return socks4_; }
  void set_socks4() { socks4_ = true; }

  // Counted in --max_sessions_per_user once the request is read (session.cc's ChargeUser).
  std::optional<UserSlot>& user_slot() { return extras().user_slot; }

  // The session's egress addresses (session/egress.h): --outbound_address unless an allowing
  // rule's egress= replaced it (set_egress, the one place the rules hook changes it; see
  // WithRuleEgress). Read by CONNECT, BIND and UDP ASSOCIATE when they open sockets.
  const Egress& egress() const {
    return extras_ && extras_->egress ? *extras_->egress : context_.settings.outbound;
  }
  void set_egress(Egress egress) { extras().egress = std::move(egress); }
  // The session's bandwidth cap (relay/rate.h; a rule's rate=, from relay::RateLimiters::For);
  // null: unlimited. Held for the session's whole life.
  relay::RateLimiter* rate_limiter() const {
    return extras_ ? extras_->rate_limiter.get() : nullptr;
  }
  const std::shared_ptr<relay::RateLimiter>& shared_rate_limiter() const;
  void set_rate_limiter(std::shared_ptr<relay::RateLimiter> limiter) {
    extras().rate_limiter = std::move(limiter);
  }

 private:
  Context& context_;
  // Taken once, at the start; declared before record_, so the rules the access record points
  // into outlive ~Session's access-log line.
  std::shared_ptr<const Policy> policy_;
  Admitted admitted_;  // declared before client_: released after the socket is closed
  asio::ip::tcp::socket client_;
  asio::ip::tcp::endpoint client_endpoint_;
  std::vector<std::uint8_t> early_data_;
  bool socks4_ = false;
  AccessRecord record_;
  // What only an authenticated or rule-decided session has, made by the first setter: an
  // anonymous session without a rules file (the common idle one) carries one null pointer
  // instead of ~120 bytes (RSS per idle session, issue 10).
  struct Extras {
    std::optional<std::string> user;
    std::optional<UserSlot> user_slot;
    const policy::Rule* allowing_rule = nullptr;
    std::optional<Egress> egress;  // unset: --outbound_address's, in the settings
    std::shared_ptr<relay::RateLimiter> rate_limiter;
  };
  Extras& extras() {
    if (!extras_) extras_ = std::make_unique<Extras>();
    return *extras_;
  }
  std::unique_ptr<Extras> extras_;
};

// Runs a whole session: handshake (listed in context.handshakes while it runs, so it can be shed),
// then the command's handler. `admitted` is held until the session ends.
asio::awaitable<void> RunSession(Context& context, asio::ip::tcp::socket client,
                                 Admitted admitted = {});

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_SESSION_H_
