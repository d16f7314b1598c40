#include "session/auth_cache.h"

#include <strings.h>
#include <sys/random.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace socks5::session {
namespace {

// SHA-256 (FIPS 180-4), just enough for HMAC; checked against the FIPS and RFC 4231 vectors in
// tests/session/auth_cache_test.cc.
constexpr std::uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

std::uint32_t Rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

class Sha256State {
 public:
  void Update(absl::string_view data) {
    for (char c : data) {
      block_[fill_++] = static_cast<std::uint8_t>(c);
      if (fill_ == 64) Compress();
    }
    length_ += data.size();
  }
  Sha256Digest Finish() {
    const std::uint64_t bits = length_ * 8;
    block_[fill_++] = 0x80;
    if (fill_ > 56) {
      while (fill_ < 64) block_[fill_++] = 0;
      Compress();
    }
    while (fill_ < 56) block_[fill_++] = 0;
    for (int i = 7; i >= 0; --i) block_[fill_++] = static_cast<std::uint8_t>(bits >> (8 * i));
    Compress();
    Sha256Digest out;
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(h_[i] >> (24 - 8 * j));
    }
    return out;
  }

 private:
  void Compress() {
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = std::uint32_t{block_[4 * i]} << 24 | std::uint32_t{block_[4 * i + 1]} << 16 |
             std::uint32_t{block_[4 * i + 2]} << 8 | std::uint32_t{block_[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      const std::uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const std::uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6],
                  h = h_[7];
    for (int i = 0; i < 64; ++i) {
      const std::uint32_t t1 =
          h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
      const std::uint32_t t2 =
          (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
    fill_ = 0;
  }

  std::uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::uint8_t block_[64] = {};
  std::size_t fill_ = 0;
  std::uint64_t length_ = 0;
};

absl::string_view View(const Sha256Digest& digest) {
  return absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size());
}

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
  Sha256State state;
  state.Update(data);
  return state.Finish();
}

Sha256Digest HmacSha256(absl::string_view key, absl::string_view message) {
  // RFC 2104: H((K ^ opad) || H((K ^ ipad) || message)), K padded (or first hashed) to 64 bytes.
  std::uint8_t block[64] = {};
  Sha256Digest hashed_key;
  if (key.size() > 64) {
    hashed_key = Sha256(key);
    key = View(hashed_key);
  }
  std::memcpy(block, key.data(), key.size());
  char pad[64];
  for (int i = 0; i < 64; ++i) pad[i] = static_cast<char>(block[i] ^ 0x36);
  Sha256State inner;
  inner.Update(absl::string_view(pad, 64));
  inner.Update(message);
  const Sha256Digest inner_digest = inner.Finish();
  for (int i = 0; i < 64; ++i) pad[i] = static_cast<char>(block[i] ^ 0x5c);
  Sha256State outer;
  outer.Update(absl::string_view(pad, 64));
  outer.Update(View(inner_digest));
  explicit_bzero(block, sizeof block);
  explicit_bzero(pad, sizeof pad);
  return outer.Finish();
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
