// The cache of recent successful RFC 1929 verifications (--auth_cache_size, --auth_cache_ttl),
// so a client that opens many connections does not pay a crypt(3) hash for each. Only
// successes are kept. An entry's key is the Credentials id, the user, and HMAC-SHA-256 of the
// password under a random per-process key: the password itself is never stored. An entry
// expires `ttl` after the verification that made it (a hit does not extend it); when full, the
// least recently used entry goes. SHA-256 and HMAC are OpenSSL's (libcrypto). Thread-safe (one mutex, held for a lookup or an insert; only
// authentications touch it). Time is passed in.
#ifndef SOCKS5_SESSION_AUTH_CACHE_H_
#define SOCKS5_SESSION_AUTH_CACHE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace socks5::session {

using Sha256Digest = std::array<std::uint8_t, 32>;
Sha256Digest Sha256(absl::string_view data);
Sha256Digest HmacSha256(absl::string_view key, absl::string_view message);

class AuthCache {
 public:
  // `capacity` 0: nothing is cached. `key`: the HMAC key; empty draws 32 random bytes
  // (getrandom), which is what the server does.
  AuthCache(std::size_t capacity, absl::Duration ttl, std::string key = "");
  AuthCache(const AuthCache&) = delete;
  AuthCache& operator=(const AuthCache&) = delete;
  ~AuthCache();

  // The cache key of a verification.
  std::string KeyFor(std::uint64_t credentials_id, absl::string_view user,
                     absl::string_view password) const;
  // True when `key` succeeded less than ttl ago.
  bool Contains(const std::string& key, absl::Time now);
  // Records a success at `now`.
  void Insert(const std::string& key, absl::Time now);
  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::string key;
    absl::Time expires;
  };
  const std::size_t capacity_;
  const absl::Duration ttl_;
  std::string hmac_key_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_AUTH_CACHE_H_
