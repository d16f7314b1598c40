#include "server/config.h"

#include "absl/strings/str_cat.h"
#include "net/parse.h"

namespace socks5::server {

absl::Status ValidateConfig(const Config& config) {
  if (config.listen.empty()) return absl::InvalidArgumentError("--listen: no address given");
  if (config.watch_config && config.users_file.empty() && config.rules_file.empty()) {
    return absl::InvalidArgumentError(
        "--watch_config: nothing to watch (give --users_file or --rules_file)");
  }
  if (config.workers < 1 || config.workers > 256) {
    return absl::InvalidArgumentError("--workers must be between 1 and 256");
  }
  if (config.max_sessions < 1)
    return absl::InvalidArgumentError("--max_sessions must be at least 1");
  auto positive = [](absl::Duration d, absl::string_view name) -> absl::Status {
    if (d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " must be positive"));
    }
    return absl::OkStatus();
  };
  for (auto [d, name] : {std::pair{config.handshake_timeout, "handshake_timeout"},
                         {config.connect_timeout, "connect_timeout"},
                         {config.idle_timeout, "idle_timeout"},
                         {config.dns_timeout, "dns_timeout"},
                         {config.bind_timeout, "bind_timeout"},
                         {config.udp_idle_timeout, "udp_idle_timeout"}}) {
    if (absl::Status s = positive(d, name); !s.ok()) return s;
  }
  if (config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--shutdown_grace must not be negative");
  }
  if (config.udp_reassembly_timeout < absl::Seconds(5)) {
    return absl::InvalidArgumentError(
        "--udp_reassembly_timeout must be at least 5s (RFC 1928 s.7)");
  }
  if (config.advertise_address && config.advertise_address->is_unspecified()) {
    return absl::InvalidArgumentError(
        "--advertise_address must be an address clients can reach, not 0.0.0.0 or ::");
  }
  if (config.users_file.empty() && !config.allow_open_proxy) {
    // ---- metrics ----
    if (config.metrics_listen && !net::IsLoopback(config.metrics_listen->address())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--metrics_listen: refusing to serve metrics on ",
          config.metrics_listen->address().to_string(),
          " without --users_file or --allow_open_proxy (the same rule as --listen: a "
          "non-loopback address is for a server whose clients are authenticated or trusted)."));
    }
    for (const auto& endpoint : config.listen) {
      if (!net::IsLoopback(endpoint.address())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "refusing to listen on ", endpoint.address().to_string(),
            " without authentication: "
            "an open SOCKS proxy on a non-loopback address is found and abused within hours. "
            "Pass --users_file=PATH to require a username and password, or --allow_open_proxy "
            "if every client that can reach this address is trusted."));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace socks5::server
