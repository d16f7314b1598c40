#include "session/policy.h"

#include <utility>

namespace socks5::session {

PolicyStore::PolicyStore() : current_(std::make_shared<const Policy>()) {}

std::shared_ptr<const Policy> PolicyStore::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::uint64_t PolicyStore::Replace(Policy next) {
  std::shared_ptr<const Policy> old;  // released after the lock: the last owner frees it
  std::uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = current_->generation + 1;
    next.generation = generation;
    old = std::exchange(current_, std::make_shared<const Policy>(std::move(next)));
    // Inside the lock, after current_: whoever sees this generation then finds it in Current().
    generation_.store(generation, std::memory_order_release);
  }
  return generation;
}

PolicyFollower::PolicyFollower(std::shared_ptr<const PolicyStore> store,
                               std::shared_ptr<const Policy> start)
    : store_(std::move(store)), policy_(std::move(start)) {}

bool PolicyFollower::Refresh() {
  if (store_->generation() == policy_->generation) return false;
  policy_ = store_->Current();
  return true;
}

}  // namespace socks5::session
