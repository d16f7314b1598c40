#include "udp/name_cache.h"

#include <utility>

#include "absl/strings/ascii.h"

namespace socks5::udp {

NameCache::Route NameCache::Lookup(const std::string& name, std::uint16_t port,
                                   std::span<const std::uint8_t> payload, SteadyTime now) {
  const std::string key = absl::AsciiStrToLower(name);
  auto it = entries_.find(key);
  if (it != entries_.end() && !it->second.in_flight && it->second.expires <= now) {
    entries_.erase(it);
    it = entries_.end();
  }
  if (it != entries_.end()) {
    Entry& entry = it->second;
    if (entry.in_flight) {
      return {Enqueue(entry, port, payload) ? Outcome::kQueued : Outcome::kDropFull, {}};
    }
    if (!entry.ip) return {Outcome::kDropNotFound, {}};
    return {Outcome::kCached, *entry.ip};
  }
  if (queued_ >= options_.max_queued ||
      queued_bytes_ + payload.size() > options_.max_queued_bytes || !MakeRoom(now)) {
    return {Outcome::kDropFull, {}};
  }
  Entry& entry = entries_[key];
  entry.in_flight = true;
  Enqueue(entry, port, payload);
  return {Outcome::kStartLookup, {}};
}

NameCache::Completion NameCache::Complete(const std::string& name,
                                          const std::vector<IpAddress>& addresses, SteadyTime now) {
  Completion completion;
  auto it = entries_.find(absl::AsciiStrToLower(name));
  if (it == entries_.end() || !it->second.in_flight) return completion;  // not ours
  Entry& entry = it->second;
  entry.in_flight = false;
  if (!addresses.empty()) entry.ip = addresses.front();
  entry.expires = now + (entry.ip ? options_.ttl : options_.negative_ttl);
  completion.ip = entry.ip;
  for (Queued& q : entry.waiting) {
    --queued_;
    queued_bytes_ -= q.payload.size();
    completion.datagrams.push_back(std::move(q));
  }
  entry.waiting.clear();
  return completion;
}

bool NameCache::WouldQueue(const std::string& name, SteadyTime now) const {
  auto it = entries_.find(absl::AsciiStrToLower(name));
  return it == entries_.end() || it->second.in_flight || it->second.expires <= now;
}

std::optional<std::uint16_t> NameCache::FirstWaitingPort(const std::string& name) const {
  auto it = entries_.find(absl::AsciiStrToLower(name));
  if (it == entries_.end() || it->second.waiting.empty()) return std::nullopt;
  return it->second.waiting.front().port;
}

std::size_t NameCache::Forget(const std::string& name) {
  auto it = entries_.find(absl::AsciiStrToLower(name));
  if (it == entries_.end() || !it->second.in_flight) return 0;  // not ours
  const std::size_t dropped = it->second.waiting.size();
  for (const Queued& q : it->second.waiting) {
    --queued_;
    queued_bytes_ -= q.payload.size();
  }
  entries_.erase(it);
  return dropped;
}

bool NameCache::MakeRoom(SteadyTime now) {
  if (entries_.size() < options_.max_names) return true;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto current = it++;
    if (!current->second.in_flight && current->second.expires <= now) entries_.erase(current);
  }
  if (entries_.size() < options_.max_names) return true;
  auto oldest = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->second.in_flight) continue;
    if (oldest == entries_.end() || it->second.expires < oldest->second.expires) oldest = it;
  }
  if (oldest == entries_.end()) return false;
  entries_.erase(oldest);
  return true;
}

bool NameCache::Enqueue(Entry& entry, std::uint16_t port, std::span<const std::uint8_t> payload) {
  if (queued_ >= options_.max_queued ||
      queued_bytes_ + payload.size() > options_.max_queued_bytes) {
    return false;
  }
  entry.waiting.push_back(Queued{port, std::vector<std::uint8_t>(payload.begin(), payload.end())});
  ++queued_;
  queued_bytes_ += payload.size();
  return true;
}

}  // namespace socks5::udp
