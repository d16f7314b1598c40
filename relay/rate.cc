#include "relay/rate.h"

#include <algorithm>

namespace socks5::relay {
namespace {

constexpr std::uint64_t kMinChunk = 16 * 1024;

std::uint64_t CapacityFor(std::uint64_t rate) {
  return std::max<std::uint64_t>({rate / 10, std::min(rate, kMinChunk), 1});
}

}  // namespace

RateLimiter::RateLimiter(std::uint64_t bytes_per_second, Clock::time_point now)
    : rate_(std::max<std::uint64_t>(1, bytes_per_second)),
      capacity_(CapacityFor(rate_)),
      buckets_{{static_cast<double>(capacity_), now}, {static_cast<double>(capacity_), now}} {}

void RateLimiter::RefillLocked(Bucket& bucket, Clock::time_point now) const {
  if (now <= bucket.updated) return;
  const double seconds = std::chrono::duration<double>(now - bucket.updated).count();
  bucket.tokens = std::min(static_cast<double>(capacity_),
                           bucket.tokens + seconds * static_cast<double>(rate_));
  bucket.updated = now;
}

std::size_t RateLimiter::Grant(RateDirection direction, std::size_t want, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& bucket = buckets_[static_cast<int>(direction)];
  RefillLocked(bucket, now);
  // Not less than a quarter of the bucket (or `want`): a direction that keeps asking while
  // others wait must not take each few bytes the refill adds between two of its reads, or it
  // spins on tiny reads and the waiters always find the bucket empty (seen under ASan: one of
  // three sessions moved 8 MB, the other two nothing).
  const double least = std::min(static_cast<double>(want), std::max(1.0, capacity_ / 4.0));
  if (bucket.tokens < least) return 0;
  const std::size_t granted =
      std::min(want, static_cast<std::size_t>(bucket.tokens));  // tokens <= capacity: fits
  bucket.tokens -= static_cast<double>(granted);
  return granted;
}

void RateLimiter::Refund(RateDirection direction, std::size_t unused) {
  if (unused == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& bucket = buckets_[static_cast<int>(direction)];
  bucket.tokens =
      std::min(static_cast<double>(capacity_), bucket.tokens + static_cast<double>(unused));
}

bool RateLimiter::Admit(RateDirection direction, std::size_t bytes, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& bucket = buckets_[static_cast<int>(direction)];
  RefillLocked(bucket, now);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= static_cast<double>(bytes);
  return true;
}

RateLimiter::Clock::duration RateLimiter::UntilRefilled(RateDirection direction,
                                                        Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  Bucket& bucket = buckets_[static_cast<int>(direction)];
  RefillLocked(bucket, now);
  const double target = std::max(1.0, static_cast<double>(capacity_) / 2);
  if (bucket.tokens >= target) return Clock::duration::zero();
  const double seconds = (target - bucket.tokens) / static_cast<double>(rate_);
  return std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::shared_ptr<RateLimiter> RateLimiters::For(std::string_view key,
                                               std::uint64_t bytes_per_second) {
  return Global().Get(key, bytes_per_second);
}

RateLimiters& RateLimiters::Global() {
  static RateLimiters* const registry = new RateLimiters();
  return *registry;
}

std::shared_ptr<RateLimiter> RateLimiters::Get(std::string_view key,
                                               std::uint64_t bytes_per_second) {
  std::pair<std::string, std::uint64_t> id(std::string(key), bytes_per_second);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    if (std::shared_ptr<RateLimiter> held = it->second.weak.lock()) return held;
  }
  // New, or its last holder is being released right now (its Forget, waiting for mu_, then sees
  // that the entry is no longer its own and leaves it).
  auto* raw = new RateLimiter(bytes_per_second);
  std::shared_ptr<RateLimiter> limiter(raw, [this, id](RateLimiter* p) {
    Forget(id, p);
    delete p;
  });
  entries_.insert_or_assign(std::move(id), Entry{raw, limiter});
  return limiter;
}

void RateLimiters::Forget(const std::pair<std::string, std::uint64_t>& key, RateLimiter* raw) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.raw == raw) entries_.erase(it);
}

std::size_t RateLimiters::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace socks5::relay
