#include "server/policy_files.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "policy/rules.h"
#include "server/users.h"

namespace socks5::server {

std::string LoadedPolicy::Summary() const {
  return absl::StrCat("users=", users, " rules=", rules);
}

absl::StatusOr<LoadedPolicy> LoadPolicyFiles(const Config& config) {
  LoadedPolicy loaded;
  if (!config.users_file.empty()) {
    absl::StatusOr<Users> users = Users::Load(config.users_file);
    if (!users.ok()) return users.status();
    loaded.users = users->size();
    loaded.policy.users = std::make_shared<const Users>(*std::move(users));
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
    loaded.rules = rules->size();
    loaded.policy.rules = std::make_shared<const policy::RuleSet>(*std::move(rules));
  }
  return loaded;
}

}  // namespace socks5::server
