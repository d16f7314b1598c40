#include "server/policy_files.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "net/log.h"
#include "policy/rules.h"
#include "server/users.h"

namespace socks5::server {
namespace {

// Rules that name users who cannot match: a warning (start-up, reload, --check_config), not an
// error, since a user may be added to the users file later.
void WarnAboutUsers(const policy::RuleSet& rules, const Users* users) {
  for (const policy::Rule& rule : rules.rules()) {
    if (users == nullptr && (rule.any_user || !rule.users.empty())) {
      // Without authentication every client is `-`: the rule can only match as user=-.
      net::LogWarning("%s: user= names authenticated users, but --users_file is not set",
                      rule.source);
    } else if (users != nullptr) {
      for (const std::string& user : rule.users) {
        if (!users->Contains(user)) {
          net::LogWarning("%s: user '%s' is not in --users_file", rule.source, net::LogSafe(user));
        }
      }
    }
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
    WarnAboutUsers(*rules, users.get());
    loaded.rules = rules->size();
    loaded.policy.rules = std::make_shared<const policy::RuleSet>(*std::move(rules));
  }
  return loaded;
}

}  // namespace socks5::server
