#include "session/rules.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "net/address.h"

namespace socks5::session {

policy::Query RuleQuery(const Session& session, policy::Command command) {
  policy::Query query;
  query.client = net::ToUdpIp(session.client_endpoint().address());
  if (session.user()) query.user = absl::string_view(*session.user());
  query.command = command;
  return query;
}

void RecordRule(Session& session, const policy::Decision& decision) {
  session.record().rule_decided = true;
  session.record().rule = decision.rule;
}

void ApplyAllowingRule(Session& session, const policy::Rule* rule) {
  session.set_allowing_rule(rule);
  if (rule == nullptr) return;
  if (rule->egress_v4 || rule->egress_v6) {
    session.set_egress(EgressForRule(session.settings().outbound, rule));
  }
  if (rule->rate)
    session.set_rate_limiter(relay::RateLimiters::For(RateKey(*rule, session), *rule->rate));
}

Egress EgressForRule(const Egress& flag, const policy::Rule* rule) {
  if (rule == nullptr) return flag;
  auto to_asio = [](const std::optional<udp::IpAddress>& ip) -> std::optional<asio::ip::address> {
    if (!ip) return std::nullopt;
    return net::ToAsio(*ip);
  };
  return WithRuleEgress(flag, to_asio(rule->egress_v4), to_asio(rule->egress_v6));
}

std::string RateKey(const policy::Rule& rule, const Session& session) {
  if (session.user()) return absl::StrCat(rule.source, " user=", *session.user());
  return absl::StrCat(rule.source,
                      " client=", net::Unmapped(session.client_endpoint().address()).to_string());
}

UdpRuleCache::UdpRuleCache(std::shared_ptr<const policy::RuleSet> rules, const Session& session)
    : rules_(std::move(rules)),
      client_(net::ToUdpIp(session.client_endpoint().address())),
      user_(session.user()) {}

bool UdpRuleCache::Allowed(const udp::Endpoint& target, const std::string* name) {
  if (!rules_) return true;
  // The key: family, address bytes, port, then the name in lower case (names match
  // case-insensitively), "\0" for none.
  key_.clear();
  if (const auto* v4 = target.ip.v4()) {
    key_.push_back('4');
    key_.append(reinterpret_cast<const char*>(v4->data()), v4->size());
  } else {
    key_.push_back('6');
    key_.append(reinterpret_cast<const char*>(target.ip.v6()->data()), target.ip.v6()->size());
  }
  key_.push_back(static_cast<char>(target.port >> 8));
  key_.push_back(static_cast<char>(target.port & 0xff));
  if (name != nullptr) {
    key_.push_back('n');
    for (char c : *name) key_.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  if (auto it = decided_.find(key_); it != decided_.end()) return it->second;
  policy::Query query;
  query.client = client_;
  if (user_) query.user = absl::string_view(*user_);
  query.command = policy::Command::kUdp;
  if (name != nullptr) query.name = absl::string_view(*name);
  query.address = target.ip;
  query.port = target.port;
  const bool allow = rules_->Decide(query).allow;
  if (decided_.size() >= kMaxEntries) decided_.clear();
  decided_.emplace(key_, allow);
  return allow;
}

void UdpRuleCache::Reset(std::shared_ptr<const policy::RuleSet> rules) {
  rules_ = std::move(rules);
  decided_.clear();
}

}  // namespace socks5::session
