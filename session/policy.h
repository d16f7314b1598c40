// The reloadable part of the configuration: the users (RFC 1929) and the access rules, as one
// immutable snapshot. The PolicyStore holds the current snapshot for the whole process; SIGHUP
// (server/server.cc) replaces it. A session takes Current() once when it starts and keeps that
// shared_ptr for its life, so a reload never changes a running session; a UDP association follows
// reloads for its per-destination decisions through a PolicyFollower.
#ifndef SOCKS5_SESSION_POLICY_H_
#define SOCKS5_SESSION_POLICY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "policy/rules.h"
#include "session/credentials.h"

namespace socks5::session {

struct Policy {
  std::shared_ptr<const Credentials> users;      // null: no authentication (RFC 1929 off)
  std::shared_ptr<const policy::RuleSet> rules;  // null: no --rules_file (everything allowed)
  std::uint64_t generation = 0;  // set by PolicyStore::Replace: 1, 2, ... in publishing order
};

// Thread-safe. Current() takes a mutex for the length of a shared_ptr copy: once per session
// start, never per byte or per datagram (generation() is a lock-free load for that).
class PolicyStore {
 public:
  PolicyStore();  // generation 0: no users, no rules
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Never null.
  std::shared_ptr<const Policy> Current() const;
  // Publishes `next` as the current snapshot with the next generation, which it returns.
  // Concurrent calls are applied one after the other; sessions holding the old one keep it.
  std::uint64_t Replace(Policy next);
  // The generation of Current(): equal to it, or older while a Replace() is publishing.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Policy> current_;  // guarded by mu_
  std::atomic<std::uint64_t> generation_{0};
};

// One UDP association's view of the store: the snapshot its cached per-destination decisions
// were made under. Refresh() costs one atomic load unless a reload happened. One thread only.
class PolicyFollower {
 public:
  // Starts from `start` (the session's snapshot). Never null.
  PolicyFollower(std::shared_ptr<const PolicyStore> store, std::shared_ptr<const Policy> start);

  // True when a newer snapshot was published since the last look: policy() is now that one and
  // the caller drops every decision it cached.
  bool Refresh();
  const Policy& policy() const { return *policy_; }

 private:
  std::shared_ptr<const PolicyStore> store_;
  std::shared_ptr<const Policy> policy_;
};

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_POLICY_H_
