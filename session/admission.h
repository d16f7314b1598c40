// Admission control: what any one stranger can make the server hold (issue 11, defects 3, 5, 8,
// 12). One component, four parts, each a small class whose decisions are pure and unit-tested
// (tests/session/admission_test.cc); the Asio wiring is in server/worker.cc (accept) and the
// handlers (session/*.cc).
//
// - ClientTable: sessions and UDP associations per client address (the unmapped IP), counted
//   across workers: one mutex-protected hash map touched only when a session or association
//   starts or ends, never on the data path. ClientSlot is the RAII share of it.
// - UserTable: sessions per authenticated user (RFC 1929 name), counted across workers like the
//   ClientTable and touched at the same moments only; a session is charged once its user is
//   authenticated, when its request has been read, and released when the session ends. Over
//   --max_sessions_per_user the request gets REP 02 and the access log says limit=user.
// - DescriptorBudget: the process's descriptors (RLIMIT_NOFILE less a reserve for listeners,
//   resolver sockets, epoll/eventfd and stdio), charged by what a session opens: the client
//   socket at accept, one per Happy Eyeballs attempt, a BIND's listener and peer, a UDP
//   association's relay socket and its two outgoing sockets. DescriptorCharge is the RAII share,
//   so every path releases it. When the budget is spent a new client is accepted and closed at
//   once (never left in the backlog) and a request needing more gets REP 01.
// - Handshakes in progress: a process-wide count and, per worker, a list of the handshaking
//   sessions (HandshakeRegistry, used only on its worker's thread). At --max_handshakes a new
//   connection sheds the worker's oldest handshake: its client socket is closed, so its pending
//   read completes with an error and its coroutine ends on its own; an established session is
//   never in the list. An entry leaves the list when its handshake ends or its session is freed,
//   so the list never points at a freed session.
// - AuthThrottle: RFC 1929 failures per client address (an IPv6 /64 counts as one address),
//   a decaying score; past `free_failures` every further attempt from that address waits, before
//   its credentials are checked, a delay doubling per failure up to `max_delay`, and attempts
//   made in parallel queue behind each other. The comparison itself is untouched (still constant
//   time): only when it is done moves. Bounded: at most `max_tracked` addresses are remembered.
//
// The order of the accept-time checks is DecideAccept's (below).
#ifndef SOCKS5_SESSION_ADMISSION_H_
#define SOCKS5_SESSION_ADMISSION_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "asio.hpp"

namespace socks5::session {

// A client address as a map key: IPv4 (also when IPv4-mapped) as ::ffff:a.b.c.d.
using ClientKey = std::array<std::uint8_t, 16>;
ClientKey KeyFor(const asio::ip::address& address);
// The same with an IPv6 address cut to its /64 (one subscriber's usual allocation).
ClientKey PrefixKeyFor(const asio::ip::address& address);

// --- Per-client table -------------------------------------------------------------------------
enum class ClientKind { kSession = 0, kAssociation = 1 };

class ClientTable {
 public:
  // Counts one more of `kind` for `key` unless it already holds `cap` (0: no cap).
  bool TryAcquire(const ClientKey& key, ClientKind kind, std::size_t cap);
  void Release(const ClientKey& key, ClientKind kind);
  std::size_t Count(const ClientKey& key, ClientKind kind) const;
  std::size_t addresses() const;  // entries held (an address holding nothing is removed)

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<ClientKey, std::array<std::size_t, 2>> counts_;
};

// One counted session or association; releases it when destroyed. Movable.
class ClientSlot {
 public:
  static std::optional<ClientSlot> TryAcquire(ClientTable& table, const asio::ip::address& client,
                                              ClientKind kind, std::size_t cap);
  ClientSlot(ClientSlot&& other) noexcept;
  ClientSlot& operator=(ClientSlot&& other) noexcept;
  ClientSlot(const ClientSlot&) = delete;
  ~ClientSlot();

 private:
  ClientSlot(ClientTable& table, const ClientKey& key, ClientKind kind)
      : table_(&table), key_(key), kind_(kind) {}
  ClientTable* table_;
  ClientKey key_;
  ClientKind kind_;
};

// --- Per-user table ---------------------------------------------------------------------------
class UserTable {
 public:
  // Counts one more session for `user` unless it already holds `cap` (0: no cap).
  bool TryAcquire(std::string_view user, std::size_t cap);
  void Release(std::string_view user);
  std::size_t Count(std::string_view user) const;
  std::size_t users() const;  // entries held (a user holding nothing is removed)

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::size_t> counts_;
};

// One counted session of a user; releases it when destroyed. Movable.
class UserSlot {
 public:
  static std::optional<UserSlot> TryAcquire(UserTable& table, std::string_view user,
                                            std::size_t cap);
  UserSlot(UserSlot&& other) noexcept;
  UserSlot& operator=(UserSlot&& other) noexcept;
  UserSlot(const UserSlot&) = delete;
  ~UserSlot();

 private:
  UserSlot(UserTable& table, std::string_view user) : table_(&table), user_(user) {}
  UserTable* table_;
  std::string user_;
};

// --- Descriptor budget ------------------------------------------------------------------------
// What a session charges besides its client socket.
inline constexpr int kBindDescriptors = 2;  // listener + peer
inline constexpr int kUdpDescriptors = 3;   // relay socket + an outgoing IPv4 and IPv6 socket

class DescriptorBudget {
 public:
  explicit DescriptorBudget(std::int64_t limit) : limit_(limit) {}
  bool TryCharge(int n);
  void Release(int n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  std::int64_t used() const { return used_.load(std::memory_order_relaxed); }
  std::int64_t limit() const { return limit_; }

 private:
  const std::int64_t limit_;
  std::atomic<std::int64_t> used_{0};
};

// `n` charged descriptors, released when destroyed (or moved into another charge). Movable.
class DescriptorCharge {
 public:
  DescriptorCharge() = default;
  // nullopt when the budget cannot take `n` more. A null budget charges nothing (tests).
  static std::optional<DescriptorCharge> Try(DescriptorBudget* budget, int n);
  DescriptorCharge(DescriptorCharge&& other) noexcept;
  DescriptorCharge& operator=(DescriptorCharge&& other) noexcept;
  DescriptorCharge(const DescriptorCharge&) = delete;
  ~DescriptorCharge() { Reset(); }
  void Reset();

 private:
  DescriptorCharge(DescriptorBudget* budget, int n) : budget_(budget), n_(n) {}
  DescriptorBudget* budget_ = nullptr;
  int n_ = 0;
};

// --- Accept-time decision ---------------------------------------------------------------------
struct AcceptState {
  std::size_t active_sessions = 0;  // all sessions, handshaking or not, across workers
  std::size_t max_sessions = 0;
  std::size_t handshakes = 0;  // handshakes in progress across workers
  std::size_t max_handshakes = 0;
  bool can_shed = false;  // this worker has a handshake in progress
};

enum class AcceptVerdict {
  kAccept,
  kAcceptShedOldest,   // at --max_handshakes: shed this worker's oldest handshake, then accept
  kRefuseMaxSessions,  // close at once
};

// --max_sessions first (a full server refuses; handshakes can never take more than
// --max_handshakes of its slots, so at least max_sessions - max_handshakes are always left for
// clients past their handshake), then the handshake cap (shed the oldest: a flood of idle sockets
// keeps cycling through at most --max_handshakes slots while new clients still get in). The
// descriptor budget and the per-client cap are charged after this (they are try-acquire).
AcceptVerdict DecideAccept(const AcceptState& state);

// --- Handshakes in progress (one registry per worker, used on its thread only) ----------------
class HandshakeRegistry {
 public:
  explicit HandshakeRegistry(std::atomic<std::size_t>* global = nullptr) : global_(global) {}
  HandshakeRegistry(const HandshakeRegistry&) = delete;
  HandshakeRegistry& operator=(const HandshakeRegistry&) = delete;
  void set_global(std::atomic<std::size_t>* global) { global_ = global; }

  // A session's handshake, listed while it lives (RAII, on the session's coroutine frame, next
  // to the session that owns `socket`, and destroyed before it).
  class Entry {
   public:
    Entry(HandshakeRegistry& registry, asio::ip::tcp::socket& socket);
    ~Entry();
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    bool shed() const { return shed_; }

   private:
    friend class HandshakeRegistry;
    HandshakeRegistry& registry_;
    asio::ip::tcp::socket& socket_;
    std::list<Entry*>::iterator it_;
    bool listed_ = true;
    bool shed_ = false;
  };

  std::size_t size() const { return entries_.size(); }
  // Closes the oldest handshake's client socket and unlists it. False when there is none.
  bool ShedOldest();

 private:
  std::list<Entry*> entries_;  // oldest first
  std::atomic<std::size_t>* global_;
};

// --- RFC 1929 guessing throttle ---------------------------------------------------------------
struct ThrottleOptions {
  int free_failures = 5;                               // 0: the throttle is off
  absl::Duration base_delay = absl::Milliseconds(50);  // the first delay; doubles per failure
  absl::Duration max_delay = absl::Seconds(2);
  absl::Duration decay = absl::Seconds(10);  // one failure forgotten per this much quiet
  std::size_t max_tracked = 16384;           // addresses remembered (~1.5 MiB at most)
};

class AuthThrottle {
 public:
  explicit AuthThrottle(ThrottleOptions options = {}) : options_(options) {}
  // How long this authentication attempt waits before its credentials are checked.
  absl::Duration Admit(const ClientKey& key, absl::Time now);
  void RecordFailure(const ClientKey& key, absl::Time now);
  std::size_t tracked() const;

 private:
  struct State {
    double score = 0;                             // failures, decayed
    absl::Time updated;                           // when score was last decayed
    absl::Time next_slot = absl::InfinitePast();  // when the next queued attempt may be checked
  };
  void Decay(State& state, absl::Time now) const;
  void MakeRoomLocked(absl::Time now);

  const ThrottleOptions options_;
  mutable std::mutex mu_;
  absl::flat_hash_map<ClientKey, State> states_;
};

// Charges `n` descriptors for a command, logging (rate-limited) when the budget is spent; the
// caller answers REP 01. A null budget (no server: unit tests) charges nothing.
std::optional<DescriptorCharge> ChargeForCommand(DescriptorBudget* budget, int n,
                                                 const char* command);

// The process-wide parts, owned by the server and shared by every worker's Context.
struct Admission {
  Admission(std::int64_t descriptor_limit, ThrottleOptions throttle)
      : descriptors(descriptor_limit), auth_throttle(throttle) {}
  ClientTable clients;
  UserTable users;
  DescriptorBudget descriptors;
  AuthThrottle auth_throttle;
  std::atomic<std::size_t> handshakes{0};
};

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_ADMISSION_H_
