// socks5d: a SOCKS5 proxy server implementing all of RFC 1928 (CONNECT, BIND, UDP ASSOCIATE)
// and RFC 1929 username/password authentication.
#include <strings.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "net/log.h"
#include "server/config.h"
#include "server/flags.h"
#include "server/policy_files.h"
#include "server/server.h"
#include "server/users.h"
#include "server/version.h"

namespace {

// --hash_password: one line of stdin (its '\n' and a '\r' before it removed) to a yescrypt hash
// on stdout. 0, or 1 with a message.
int HashPasswordFromStdin() {
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    std::fprintf(stderr, "socks5d: --hash_password: no password on stdin (one line expected)\n");
    return 1;
  }
  auto hash = socks5::server::HashPassword(line);
  explicit_bzero(line.data(), line.size());
  if (!hash.ok()) {
    std::fprintf(stderr, "socks5d: --hash_password: %s\n",
                 std::string(hash.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", hash->c_str());
  return 0;
}

bool IsOurFlagFile(absl::string_view file) {
  return absl::StrContains(file, socks5::server::kFlagsFile);
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else: writes to a peer that has gone fail with EPIPE instead of killing the
  // process (the relay's send() also passes MSG_NOSIGNAL), and SIGHUP / SIGUSR1 never take their
  // default action (the server logs them once its signal set is installed, before it listens).
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  std::signal(SIGUSR1, SIG_IGN);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_helpshort_flags = IsOurFlagFile;
  usage_config.contains_help_flags = IsOurFlagFile;
  // --version (Abseil's built-in flag) prints this and exits 0.
  usage_config.version_string = [] {
    return std::string("socks5d ") + socks5::server::kVersion + "\n";
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "a SOCKS5 proxy server (RFC 1928 CONNECT, BIND and UDP ASSOCIATE; RFC 1929 "
      "username/password).\nUsage: socks5d [--flag=value ...]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "socks5d: unexpected argument '%s' (flags are --name=value)\n",
                 positional[1]);
    return 2;
  }
  if (socks5::server::HashPasswordRequested()) return HashPasswordFromStdin();
  // A configuration error exits 1, as Abseil does for an unknown flag or a malformed value.
  const bool check_only = socks5::server::CheckConfigFlag();
  auto level = socks5::server::LogLevelFromFlags();
  if (!level.ok()) {
    std::fprintf(stderr, "socks5d: %s\n", std::string(level.status().message()).c_str());
    return 1;
  }
  socks5::net::SetLogLevel(*level);

  socks5::server::Config config;
  if (absl::Status s = socks5::server::BuildConfig(config); !s.ok()) {
    std::fprintf(stderr, "socks5d: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (check_only) {
    // The same loading path as start-up and SIGHUP (server/policy_files.h).
    auto loaded = socks5::server::LoadPolicyFiles(config);
    if (!loaded.ok()) {
      std::fprintf(stderr, "socks5d: %s\n", std::string(loaded.status().message()).c_str());
      return 1;
    }
    std::printf("socks5d: configuration OK%s\n",
                loaded->policy.rules ? absl::StrFormat(" (--rules_file=%s: %d rules)",
                                                       config.rules_file, loaded->rules)
                                           .c_str()
                                     : "");
    return 0;
  }
  socks5::net::LogDebug("max_sessions=%d", config.max_sessions);
  socks5::server::Server server(std::move(config));
  if (absl::Status s = server.Start(); !s.ok()) {
    socks5::net::FlushLog();  // the batched lines before it (net/log.h) come first
    std::fprintf(stderr, "socks5d: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  server.RunUntilSignalled();
  return 0;
}
