// Bandwidth caps (a rules file's `rate=`): a token bucket per direction, in bytes per second,
// shared by every session holding the same limiter, on any worker (thread-safe: one small mutex
// per limiter, taken once per read a limited direction makes; an unlimited session holds no
// limiter and pays nothing). RateLimiters hands out one limiter per key (the rule's source and
// the user or client address) and rate, and forgets it when the last session holding it ends.
//
// Bucket: it fills at the rate up to a capacity of 100 ms of the rate (at least min(rate, 16 KiB)
// so a slow rate still moves useful chunks); an idle limiter therefore lets one burst of that
// size through, which is 1% of a 10 s transfer. TCP takes at most what the bucket holds (Grant,
// then Refund what the read did not use) and waits (an Asio timer, UntilRefilled) when it is
// empty. UDP cannot split a datagram: one passes when the bucket is not empty and may take it
// into debt (Admit), so a large datagram at a slow rate delays the ones behind it rather than
// never passing; a datagram arriving while the bucket is empty or in debt is dropped.
#ifndef SOCKS5_RELAY_RATE_H_
#define SOCKS5_RELAY_RATE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace socks5::relay {

enum class RateDirection { kUp = 0, kDown = 1 };  // client -> target, target -> client

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `bytes_per_second` > 0. The bucket starts full.
  explicit RateLimiter(std::uint64_t bytes_per_second, Clock::time_point now = Clock::now());
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  std::uint64_t rate() const { return rate_; }
  std::uint64_t capacity() const { return capacity_; }

  // Takes up to `want` bytes' worth of tokens now; 0 when the bucket holds less than
  // min(`want`, a quarter of its capacity) (a grant is never a trickle of what the refill added
  // since the last read).
  std::size_t Grant(RateDirection direction, std::size_t want, Clock::time_point now);
  // Gives back tokens a Grant took and the read did not use.
  void Refund(RateDirection direction, std::size_t unused);
  // A datagram of `bytes`: passes (and is charged, possibly into debt) when the bucket holds
  // anything; false (nothing charged) when it is empty or in debt.
  bool Admit(RateDirection direction, std::size_t bytes, Clock::time_point now);
  // How long until the bucket holds half its capacity again (zero if it does): how long an
  // empty-handed direction waits before it asks again.
  Clock::duration UntilRefilled(RateDirection direction, Clock::time_point now);

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void RefillLocked(Bucket& bucket, Clock::time_point now) const;

  const std::uint64_t rate_;
  const std::uint64_t capacity_;
  std::mutex mu_;
  Bucket buckets_[2];
};

// The process-wide registry: one limiter per (key, rate), shared while any session holds it.
// The rate is part of the key, so a reload that changes a rule's rate gives new sessions a new
// limiter and leaves the running ones on theirs.
class RateLimiters {
 public:
  RateLimiters() = default;
  RateLimiters(const RateLimiters&) = delete;
  RateLimiters& operator=(const RateLimiters&) = delete;

  // The shared limiter of `key` at `bytes_per_second` (> 0), made on first use.
  static std::shared_ptr<RateLimiter> For(std::string_view key, std::uint64_t bytes_per_second);
  static RateLimiters& Global();  // never destroyed (limiters may be released at exit)

  std::shared_ptr<RateLimiter> Get(std::string_view key, std::uint64_t bytes_per_second);
  std::size_t size() const;  // limiters currently held by someone

 private:
  struct Entry {
    RateLimiter* raw;  // identifies the limiter this entry is for
    std::weak_ptr<RateLimiter> weak;
  };
  void Forget(const std::pair<std::string, std::uint64_t>& key, RateLimiter* raw);

  mutable std::mutex mu_;
  absl::flat_hash_map<std::pair<std::string, std::uint64_t>, Entry> entries_;
};

}  // namespace socks5::relay

#endif  // SOCKS5_RELAY_RATE_H_
