// Per-association resolution of domain targets (RFC 1928 s.7, ATYP 03): a small cache of
// name -> address, and a bounded queue of datagrams waiting for a lookup in flight, so a hot name
// costs one lookup, not one per datagram. Pure: the caller runs the lookups and passes `now`.
#ifndef SOCKS5_UDP_NAME_CACHE_H_
#define SOCKS5_UDP_NAME_CACHE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "udp/endpoint.h"
#include "udp/reassembler.h"

namespace socks5::udp {

struct NameCacheOptions {
  std::size_t max_names = 32;  // names cached or in flight
  // How long an answer is reused. Short: the worker's resolver keeps the real TTLs, this only
  // spares it one call per datagram.
  std::chrono::steady_clock::duration ttl = std::chrono::seconds(30);
  std::chrono::steady_clock::duration negative_ttl = std::chrono::seconds(5);
  // Datagrams (and their payload bytes) queued behind lookups, over all names.
  std::size_t max_queued = 64;
  std::size_t max_queued_bytes = 128 * 1024;
};

class NameCache {
 public:
  enum class Outcome {
    kCached,        // `ip` is the cached answer: send now
    kStartLookup,   // queued; the caller must start the lookup and call Complete() with its result
    kQueued,        // queued behind the lookup already in flight
    kDropFull,      // the queue (or the table of names) is full: dropped
    kDropNotFound,  // the name recently failed to resolve: dropped
  };
  struct Route {
    Outcome outcome = Outcome::kDropFull;
    IpAddress ip;  // for kCached
  };
  struct Queued {
    std::uint16_t port = 0;
    std::vector<std::uint8_t> payload;
  };
  struct Completion {
    std::optional<IpAddress> ip;  // nullopt: the lookup failed, `datagrams` are dropped
    std::vector<Queued> datagrams;
  };

  explicit NameCache(NameCacheOptions options = {}) : options_(options) {}

  // Routes one datagram to `name` (compared case-insensitively); copies the payload when queued.
  Route Lookup(const std::string& name, std::uint16_t port, std::span<const std::uint8_t> payload,
               SteadyTime now);
  // The lookup started for `name` finished with `addresses` (empty: failed). The first address is
  // cached and returned with the datagrams that waited for it, in arrival order.
  Completion Complete(const std::string& name, const std::vector<IpAddress>& addresses,
                      SteadyTime now);

  // True when Lookup(name, ...) at `now` would queue the payload rather than answer from the
  // cache (used to charge the memory budget only for what is queued).
  bool WouldQueue(const std::string& name, SteadyTime now) const;
  // The port of the first datagram waiting for `name`'s lookup; nullopt when none waits.
  std::optional<std::uint16_t> FirstWaitingPort(const std::string& name) const;
  // The lookup started for `name` was refused at once (a lookup cap): forgets the name without
  // remembering a failure, and drops the datagrams that waited for it; returns how many.
  std::size_t Forget(const std::string& name);

  std::size_t names() const { return entries_.size(); }
  std::size_t queued() const { return queued_; }
  std::size_t queued_bytes() const { return queued_bytes_; }

 private:
  struct Entry {
    bool in_flight = false;
    std::optional<IpAddress> ip;  // when !in_flight: the answer, or nullopt for "not found"
    SteadyTime expires{};
    std::deque<Queued> waiting;
  };
  // Makes room for one more name: forgets expired answers, then the one expiring first. False when
  // every name has a lookup in flight.
  bool MakeRoom(SteadyTime now);
  bool Enqueue(Entry& entry, std::uint16_t port, std::span<const std::uint8_t> payload);

  NameCacheOptions options_;
  absl::flat_hash_map<std::string, Entry> entries_;
  std::size_t queued_ = 0;
  std::size_t queued_bytes_ = 0;
};

}  // namespace socks5::udp

#endif  // SOCKS5_UDP_NAME_CACHE_H_
