// The one loading path of the reloadable configuration (session/policy.h): start-up
// (Server::Start), SIGHUP (the server's reload) and --check_config read the users file
// (--users_file) and the rules file (--rules_file) here, and nowhere else.
#ifndef SOCKS5_SERVER_POLICY_FILES_H_
#define SOCKS5_SERVER_POLICY_FILES_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "session/policy.h"

namespace socks5::server {

struct LoadedPolicy {
  session::Policy policy;  // generation 0: PolicyStore::Replace numbers it
  std::size_t users = 0;   // entries of --users_file (0 without one)
  std::size_t rules = 0;   // rules of --rules_file (0 without one)

  std::string Summary() const;  // "users=N rules=M"
};

// Reads and validates every file `config` names. Either all of them are valid and come back
// together, or the first error comes back (`FILE:LINE: what is wrong`, or the file that cannot be
// read) and nothing else: a caller never holds half a configuration. A rules file without a rule
// is an error, as an empty users file is.
absl::StatusOr<LoadedPolicy> LoadPolicyFiles(const Config& config);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_POLICY_FILES_H_
