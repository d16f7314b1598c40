#include "session/auth_cache.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <strings.h>
#include <sys/random.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace socks5::session {
namespace {

std::string RandomKey() {
  std::string key(32, '\0');
  std::size_t got = 0;
  while (got < key.size()) {
    const ssize_t n = getrandom(key.data() + got, key.size() - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  return key;
}

}  // namespace

Sha256Digest Sha256(absl::string_view data) {
  Sha256Digest digest;
  ::SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

Sha256Digest HmacSha256(absl::string_view key, absl::string_view message) {
  Sha256Digest mac;
  unsigned int length = 0;
  ::HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
         &length);
  return mac;
}

AuthCache::AuthCache(std::size_t capacity, absl::Duration ttl, std::string key)
    : capacity_(capacity), ttl_(ttl), hmac_key_(key.empty() ? RandomKey() : std::move(key)) {}

AuthCache::~AuthCache() { explicit_bzero(hmac_key_.data(), hmac_key_.size()); }

std::string AuthCache::KeyFor(std::uint64_t credentials_id, absl::string_view user,
                              absl::string_view password) const {
  // The user's length first, so no (user, password) split of the same bytes collides.
  std::string message;
  message.reserve(1 + user.size() + password.size());
  message.push_back(static_cast<char>(user.size()));
  absl::StrAppend(&message, user, password);
  const Sha256Digest mac = HmacSha256(hmac_key_, message);
  explicit_bzero(message.data(), message.size());
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(credentials_id >> (8 * i));
  out.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return out;
}

bool AuthCache::Contains(const std::string& key, absl::Time now) {
  if (capacity_ == 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  if (now >= it->second->expires) {
    lru_.erase(it->second);
    index_.erase(it);
    return false;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return true;
}

void AuthCache::Insert(const std::string& key, absl::Time now) {
  if (capacity_ == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->expires = now + ttl_;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (lru_.size() >= capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{key, now + ttl_});
  index_.emplace(key, lru_.begin());
}

std::size_t AuthCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace socks5::session
