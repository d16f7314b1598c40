#include "server/policy_files.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
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
  return loaded;
}

}  // namespace socks5::server
