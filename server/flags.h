// socks5d's command-line flags (defined in flags.cc; `socks5d --help` lists that file's flags)
// and the Config built from them.
#ifndef SOCKS5_SERVER_FLAGS_H_
#define SOCKS5_SERVER_FLAGS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "net/log.h"
#include "server/config.h"

namespace socks5::server {

// The file that defines the flags, for absl::FlagsUsageConfig.
inline constexpr char kFlagsFile[] = "server/flags.cc";

// --hash_password: main() reads a password on stdin and prints its hash instead of serving.
bool HashPasswordRequested();
// --check_config: validate (BuildConfig) and exit without listening.
bool CheckConfigFlag();
// --log_level.
absl::StatusOr<net::LogLevel> LogLevelFromFlags();
// Every other flag, parsed and then checked (ValidateConfig). Call after absl::ParseCommandLine.
absl::Status BuildConfig(Config& config);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_FLAGS_H_
