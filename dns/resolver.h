// Asynchronous A + AAAA resolution on c-ares, one Resolver (one ares channel) per worker
// io_context. The io_context owns the waiting (socket readiness and a timer); c-ares owns the
// sockets. Answers are cached with their TTLs in a bounded cache (c-ares 1.18 has none), and
// concurrent lookups of one name share a single query.
#ifndef SOCKS5_DNS_RESOLVER_H_
#define SOCKS5_DNS_RESOLVER_H_

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "asio.hpp"

namespace socks5::dns {

// Resolution failures, as std::error_code in dns::Category().
enum class Errc {
  kNotFound = 1,  // NXDOMAIN, or the name has no A/AAAA records
  kTimeout = 2,   // no answer within ResolverOptions::timeout
  kServerFailure = 3,
  kBadName = 4,    // not a resolvable host name
  kCancelled = 5,  // the Resolver was destroyed with the query in flight
};
const std::error_category& Category();
std::error_code make_error_code(Errc e);

struct ResolverOptions {
  // "IP", "IP:PORT" or "[IPv6]:PORT"; empty means the system's resolv.conf.
  std::vector<std::string> servers;
  absl::Duration timeout = absl::Seconds(5);       // per lookup, all tries included
  std::size_t cache_entries = 4096;                // bound on cached names
  absl::Duration max_ttl = absl::Hours(1);         // cap on a cached answer's life
  absl::Duration negative_ttl = absl::Seconds(5);  // how long "not found" is cached
};

// Checks "IP[:PORT],..." server syntax (for start-up errors); used by Create too.
absl::Status ValidateServers(const std::vector<std::string>& servers);

// Not thread-safe: create, use and destroy it on its io_context's thread, and destroy it before
// the io_context. Names are looked up in /etc/hosts first, then DNS ("localhost" never leaves).
class Resolver {
 public:
  using Addresses = std::vector<asio::ip::address>;
  using Handler = std::function<void(std::error_code, Addresses)>;

  static absl::StatusOr<std::unique_ptr<Resolver>> Create(asio::io_context& io,
                                                          ResolverOptions options);
  ~Resolver();  // pending handlers are completed with Errc::kCancelled (posted, never inline)

  // Resolves `name` (A and AAAA). An IP literal completes with itself. The handler always runs
  // later on the io_context (posted), never inside this call.
  void Resolve(const std::string& name, Handler handler);

  // Awaitable form: co_await resolver.AsyncResolve(name) -> {error_code, addresses}.
  asio::awaitable<std::pair<std::error_code, Addresses>> AsyncResolve(std::string name);

 private:
  class Impl;
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace socks5::dns

template <>
struct std::is_error_code_enum<socks5::dns::Errc> : std::true_type {};

#endif  // SOCKS5_DNS_RESOLVER_H_
