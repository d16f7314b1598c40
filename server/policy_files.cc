#include "server/policy_files.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "net/log.h"
#include "policy/rules.h"
#include "server/users.h"

namespace socks5::server {
namespace {

// Rules that can never match as meant: user= names without --users_file (a client is then `-`,
// or whatever name it sends, unchecked: session/handshake.cc), or a user the users file does not
// have. One warning each, naming the first rule; a
// warning, not an error (at start-up, on SIGHUP and with --check_config alike), since a user may
// be added to the users file later.
void WarnAboutRuleUsers(const policy::RuleSet& rules, const session::Credentials* users) {
  const policy::Rule* without_users = nullptr;
  int without_users_count = 0;
  const policy::Rule* unknown = nullptr;
  std::string unknown_name;
  int unknown_count = 0;
  for (const policy::Rule& rule : rules.rules()) {
    if (users == nullptr && (rule.any_user || !rule.users.empty())) {
      if (without_users_count++ == 0) without_users = &rule;
    }
    if (users == nullptr) continue;
    for (const std::string& user : rule.users) {
      if (users->Contains(user)) continue;
      if (unknown_count++ == 0) {
        unknown = &rule;
        unknown_name = user;
      }
    }
  }
  if (without_users != nullptr) {
    net::LogWarning(
        "%s: user= names authenticated users, but --users_file is not set (%d rules like it; "
        "without it a client is user=- unless it sends username/password, which is then "
        "accepted unchecked, as Tor accepts it: any client can match these rules)",
        without_users->source, without_users_count);
  }
  if (unknown != nullptr) {
    net::LogWarning("%s: user '%s' is not in --users_file (%d such names in the rules)",
                    unknown->source, net::LogSafe(unknown_name), unknown_count);
  }
}

}  // namespace

std::string LoadedPolicy::Summary() const {
  return absl::StrCat("users=", users, " rules=", rules);
}

absl::StatusOr<LoadedPolicy> LoadPolicyFiles(const Config& config) {
  LoadedPolicy loaded;
  std::shared_ptr<const Users> users;
  if (!config.users_file.empty()) {
    absl::StatusOr<Users> parsed = Users::Load(config.users_file);
    if (!parsed.ok()) return parsed.status();
    loaded.users = parsed->size();
    users = std::make_shared<const Users>(*std::move(parsed));
    loaded.policy.users = users;
  }
  if (!config.rules_file.empty()) {
    absl::StatusOr<policy::RuleSet> rules = policy::LoadRules(config.rules_file);
    if (!rules.ok()) return rules.status();
    if (rules->size() == 0) {
      // Like an empty users file: far more often a file caught half-written, or emptied by
      // mistake, than a wish to refuse everyone, which a reload would then do at once.
      return absl::InvalidArgumentError(absl::StrCat(
          config.rules_file, ": no rules in the file (to refuse everything, write `deny`)"));
    }
    WarnAboutRuleUsers(*rules, users.get());
    loaded.rules = rules->size();
    loaded.policy.rules = std::make_shared<const policy::RuleSet>(*std::move(rules));
  }
  return loaded;
}

}  // namespace socks5::server
