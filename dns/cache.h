// A bounded cache of DNS answers keyed by name: least recently used entries are evicted beyond
// `max_entries`, answers live min(their TTL, max_ttl), "not found" lives negative_ttl.
// Pure: no Asio, no clock (callers pass `now`), no threads; the Resolver owns one per channel.
#ifndef SOCKS5_DNS_CACHE_H_
#define SOCKS5_DNS_CACHE_H_

#include <algorithm>
#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace socks5::dns {

struct CacheOptions {
  std::size_t max_entries = 4096;  // 0 disables the cache
  absl::Duration max_ttl = absl::Hours(1);
  absl::Duration negative_ttl = absl::Seconds(5);
};

// What Lookup found for a name.
enum class CacheStatus {
  kMiss,      // nothing fresh: ask the servers
  kFound,     // a fresh answer, copied to *value
  kNotFound,  // a fresh "name does not exist"
};

template <typename Value>
class Cache {
 public:
  explicit Cache(CacheOptions options) : options_(options) {}

  // Looks `name` up at `now`. A fresh entry becomes the most recently used; an expired one is
  // dropped and reported as a miss.
  CacheStatus Lookup(const std::string& name, absl::Time now, Value* value) {
    auto it = index_.find(name);
    if (it == index_.end()) return CacheStatus::kMiss;
    auto entry = it->second;
    if (entry->expires <= now) {
      index_.erase(it);
      entries_.erase(entry);
      return CacheStatus::kMiss;
    }
    entries_.splice(entries_.begin(), entries_, entry);
    if (!entry->value.has_value()) return CacheStatus::kNotFound;
    *value = *entry->value;
    return CacheStatus::kFound;
  }

  // Remembers an answer for min(ttl, max_ttl). A TTL of zero or less means "do not cache".
  void InsertFound(std::string name, Value value, absl::Duration ttl, absl::Time now) {
    Insert(std::move(name), std::move(value), std::min(ttl, options_.max_ttl), now);
  }

  // Remembers that `name` has no addresses, for negative_ttl.
  void InsertNotFound(std::string name, absl::Time now) {
    Insert(std::move(name), std::nullopt, options_.negative_ttl, now);
  }

  // Entries held, expired ones included until they are looked up or evicted.
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string name;
    std::optional<Value> value;  // nullopt: the name does not exist
    absl::Time expires;
  };
  using Entries = std::list<Entry>;  // most recently used first

  void Insert(std::string name, std::optional<Value> value, absl::Duration ttl, absl::Time now) {
    if (ttl <= absl::ZeroDuration() || options_.max_entries == 0) return;
    if (auto it = index_.find(name); it != index_.end()) {
      entries_.erase(it->second);
      index_.erase(it);
    }
    entries_.push_front(Entry{std::move(name), std::move(value), now + ttl});
    index_.emplace(entries_.front().name, entries_.begin());
    while (entries_.size() > options_.max_entries) {
      index_.erase(entries_.back().name);
      entries_.pop_back();
    }
  }

  CacheOptions options_;
  Entries entries_;
  absl::flat_hash_map<std::string, typename Entries::iterator> index_;
};

}  // namespace socks5::dns

#endif  // SOCKS5_DNS_CACHE_H_
