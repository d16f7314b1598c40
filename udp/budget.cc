#include "udp/budget.h"

#include <utility>

namespace socks5::udp {

bool MemoryBudget::TryAdd(std::size_t bytes) {
  std::size_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ || used > limit_ - bytes) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
  return true;
}

Charge& Charge::operator=(Charge&& other) noexcept {
  if (this != &other) {
    Set(0);
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

bool Charge::TryResize(std::size_t bytes) {
  if (bytes <= bytes_ || !budget_) {
    Set(bytes);
    return true;
  }
  if (!budget_->TryAdd(bytes - bytes_)) return false;
  bytes_ = bytes;
  return true;
}

void Charge::Set(std::size_t bytes) {
  if (budget_) {
    if (bytes > bytes_) {
      budget_->Add(bytes - bytes_);
    } else {
      budget_->Remove(bytes_ - bytes);
    }
  }
  bytes_ = bytes;
}

}  // namespace socks5::udp
