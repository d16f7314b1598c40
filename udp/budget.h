// The process-wide bound on UDP memory held for clients (issue 11, defect 12): bytes in reassembly
// queues and datagrams queued behind lookups, across every association of every worker. Each
// association holds one Charge and keeps it equal to what it holds; a datagram or fragment whose
// charge would pass the limit is dropped (drop_budget). Lock-free: one atomic counter shared by
// the workers. Pure (no I/O, no clock).
#ifndef SOCKS5_UDP_BUDGET_H_
#define SOCKS5_UDP_BUDGET_H_

#include <atomic>
#include <cstddef>

namespace socks5::udp {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  std::size_t limit() const { return limit_; }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  friend class Charge;
  // Adds `bytes` if the total stays within the limit.
  bool TryAdd(std::size_t bytes);
  void Add(std::size_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  void Remove(std::size_t bytes) { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  const std::size_t limit_;
  std::atomic<std::size_t> used_{0};
};

// What one holder has charged to a MemoryBudget; gives it all back when destroyed (RAII: no path
// can leak a charge). Without a budget (null) every request succeeds and nothing is counted.
// Move-only; the budget must outlive it.
class Charge {
 public:
  explicit Charge(MemoryBudget* budget = nullptr) : budget_(budget) {}
  Charge(Charge&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) {
    other.bytes_ = 0;
  }
  Charge& operator=(Charge&& other) noexcept;
  Charge(const Charge&) = delete;
  Charge& operator=(const Charge&) = delete;
  ~Charge() { Set(0); }

  // Makes the charge `bytes`: shrinking always succeeds; growing succeeds only within the
  // budget's limit, else the charge is unchanged and this returns false.
  bool TryResize(std::size_t bytes);
  // Makes the charge `bytes` whatever the limit (to follow memory already held; callers reserve
  // with TryResize first, so this only passes the limit if they did not).
  void Set(std::size_t bytes);

  std::size_t bytes() const { return bytes_; }

 private:
  MemoryBudget* budget_;
  std::size_t bytes_ = 0;
};

}  // namespace socks5::udp

#endif  // SOCKS5_UDP_BUDGET_H_
