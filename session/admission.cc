#include "session/admission.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "net/log.h"

namespace socks5::session {

ClientKey KeyFor(const asio::ip::address& address) {
  if (address.is_v6()) {
    asio::ip::address_v6 v6 = address.to_v6();
    return v6.to_bytes();  // an IPv4-mapped address already has the ::ffff: form
  }
  return asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()).to_bytes();
}

ClientKey PrefixKeyFor(const asio::ip::address& address) {
  ClientKey key = KeyFor(address);
  if (address.is_v6() && !address.to_v6().is_v4_mapped()) {
    std::fill(key.begin() + 8, key.end(), 0);
  }
  return key;
}

// --- ClientTable ------------------------------------------------------------------------------

bool ClientTable::TryAcquire(const ClientKey& key, ClientKind kind, std::size_t cap) {
  std::lock_guard<std::mutex> lock(mu_);
  // A refusal means the address holds `cap` > 0 already, so no empty entry is ever left.
  std::size_t& n = counts_[key][static_cast<int>(kind)];
  if (cap != 0 && n >= cap) return false;
  ++n;
  return true;
}

void ClientTable::Release(const ClientKey& key, ClientKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  std::size_t& n = it->second[static_cast<int>(kind)];
  if (n > 0) --n;
  if (it->second[0] == 0 && it->second[1] == 0) counts_.erase(it);
}

std::size_t ClientTable::Count(const ClientKey& key, ClientKind kind) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second[static_cast<int>(kind)];
}

std::size_t ClientTable::addresses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_.size();
}

std::optional<ClientSlot> ClientSlot::TryAcquire(ClientTable& table,
                                                 const asio::ip::address& client, ClientKind kind,
                                                 std::size_t cap) {
  ClientKey key = KeyFor(client);
  if (!table.TryAcquire(key, kind, cap)) return std::nullopt;
  return ClientSlot(table, key, kind);
}

ClientSlot::ClientSlot(ClientSlot&& other) noexcept
    : table_(std::exchange(other.table_, nullptr)), key_(other.key_), kind_(other.kind_) {}

ClientSlot& ClientSlot::operator=(ClientSlot&& other) noexcept {
  if (this != &other) {
    if (table_ != nullptr) table_->Release(key_, kind_);
    table_ = std::exchange(other.table_, nullptr);
    key_ = other.key_;
    kind_ = other.kind_;
  }
  return *this;
}

ClientSlot::~ClientSlot() {
  if (table_ != nullptr) table_->Release(key_, kind_);
}

// --- UserTable --------------------------------------------------------------------------------

bool UserTable::TryAcquire(std::string_view user, std::size_t cap) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(absl::string_view(user.data(), user.size()));
  // A refusal means the user holds `cap` > 0 already, so no empty entry is ever left.
  if (it == counts_.end()) it = counts_.emplace(std::string(user), 0).first;
  if (cap != 0 && it->second >= cap) return false;
  ++it->second;
  return true;
}

void UserTable::Release(std::string_view user) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(absl::string_view(user.data(), user.size()));
  if (it == counts_.end()) return;
  if (it->second > 0) --it->second;
  if (it->second == 0) counts_.erase(it);
}

std::size_t UserTable::Count(std::string_view user) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(absl::string_view(user.data(), user.size()));
  return it == counts_.end() ? 0 : it->second;
}

std::size_t UserTable::users() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_.size();
}

std::optional<UserSlot> UserSlot::TryAcquire(UserTable& table, std::string_view user,
                                             std::size_t cap) {
  if (!table.TryAcquire(user, cap)) return std::nullopt;
  return UserSlot(table, user);
}

UserSlot::UserSlot(UserSlot&& other) noexcept
    : table_(std::exchange(other.table_, nullptr)), user_(std::move(other.user_)) {}

UserSlot& UserSlot::operator=(UserSlot&& other) noexcept {
  if (this != &other) {
    if (table_ != nullptr) table_->Release(user_);
    table_ = std::exchange(other.table_, nullptr);
    user_ = std::move(other.user_);
  }
  return *this;
}

UserSlot::~UserSlot() {
  if (table_ != nullptr) table_->Release(user_);
}

// --- DescriptorBudget -------------------------------------------------------------------------

bool DescriptorBudget::TryCharge(int n) {
  std::int64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (used + n > limit_) return false;
  } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
  return true;
}

std::optional<DescriptorCharge> DescriptorCharge::Try(DescriptorBudget* budget, int n) {
  if (budget == nullptr) return DescriptorCharge();
  if (!budget->TryCharge(n)) return std::nullopt;
  return DescriptorCharge(budget, n);
}

DescriptorCharge::DescriptorCharge(DescriptorCharge&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), n_(other.n_) {}

DescriptorCharge& DescriptorCharge::operator=(DescriptorCharge&& other) noexcept {
  if (this != &other) {
    Reset();
    budget_ = std::exchange(other.budget_, nullptr);
    n_ = other.n_;
  }
  return *this;
}

void DescriptorCharge::Reset() {
  if (budget_ != nullptr) budget_->Release(n_);
  budget_ = nullptr;
}

std::optional<DescriptorCharge> ChargeForCommand(DescriptorBudget* budget, int n,
                                                 const char* command) {
  std::optional<DescriptorCharge> charge = DescriptorCharge::Try(budget, n);
  if (!charge) {
    static net::RateLimitedWarning warning("descriptor budget", "refused", "requests");
    warning.Warn("descriptor budget (%d of RLIMIT_NOFILE) reached; %s answered 01", budget->limit(),
                 command);
  }
  return charge;
}

// --- DecideAccept -----------------------------------------------------------------------------

AcceptVerdict DecideAccept(const AcceptState& state) {
  if (state.active_sessions >= state.max_sessions) return AcceptVerdict::kRefuseMaxSessions;
  if (state.max_handshakes != 0 && state.handshakes >= state.max_handshakes && state.can_shed) {
    return AcceptVerdict::kAcceptShedOldest;
  }
  return AcceptVerdict::kAccept;
}

// --- HandshakeRegistry ------------------------------------------------------------------------

HandshakeRegistry::Entry::Entry(HandshakeRegistry& registry, asio::ip::tcp::socket& socket)
    : registry_(registry), socket_(socket) {
  it_ = registry_.entries_.insert(registry_.entries_.end(), this);
  if (registry_.global_ != nullptr) registry_.global_->fetch_add(1, std::memory_order_relaxed);
}

HandshakeRegistry::Entry::~Entry() {
  if (!listed_) return;
  registry_.entries_.erase(it_);
  if (registry_.global_ != nullptr) registry_.global_->fetch_sub(1, std::memory_order_relaxed);
}

bool HandshakeRegistry::ShedOldest() {
  if (entries_.empty()) return false;
  Entry* oldest = entries_.front();
  entries_.pop_front();
  if (global_ != nullptr) global_->fetch_sub(1, std::memory_order_relaxed);
  oldest->listed_ = false;
  oldest->shed_ = true;
  // The session is alive (its entry is): closing its socket makes its pending operation complete
  // with an error, and the session ends by itself.
  std::error_code ignored;
  oldest->socket_.close(ignored);
  return true;
}

// --- AuthThrottle -----------------------------------------------------------------------------

void AuthThrottle::Decay(State& state, absl::Time now) const {
  if (now > state.updated && options_.decay > absl::ZeroDuration()) {
    state.score = std::max(0.0, state.score - (now - state.updated) / options_.decay);
  }
  state.updated = std::max(state.updated, now);
}

absl::Duration AuthThrottle::Admit(const ClientKey& key, absl::Time now) {
  if (options_.free_failures <= 0) return absl::ZeroDuration();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(key);
  if (it == states_.end()) return absl::ZeroDuration();
  State& state = it->second;
  Decay(state, now);
  const double over = state.score - options_.free_failures;
  if (over < 0) return absl::ZeroDuration();
  // base * 2^over, capped (the exponent is capped first so the product cannot overflow).
  const absl::Duration step =
      std::min(options_.max_delay, options_.base_delay * std::exp2(std::min(over, 30.0)));
  const absl::Time slot = std::max(now, state.next_slot);
  state.next_slot = slot + step;
  return std::min(state.next_slot - now, options_.max_delay);
}

void AuthThrottle::MakeRoomLocked(absl::Time now) {
  if (states_.size() < options_.max_tracked) return;
  // Forget addresses whose failures have decayed; when every one is still hot, an arbitrary one.
  for (auto it = states_.begin(); it != states_.end();) {
    State& state = it->second;
    Decay(state, now);
    auto here = it++;
    if (state.score <= 0 && state.next_slot <= now) states_.erase(here);
  }
  if (states_.size() >= options_.max_tracked) states_.erase(states_.begin());
}

void AuthThrottle::RecordFailure(const ClientKey& key, absl::Time now) {
  if (options_.free_failures <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(key);
  if (it == states_.end()) {
    MakeRoomLocked(now);
    it = states_.emplace(key, State{.score = 0, .updated = now}).first;
  }
  Decay(it->second, now);
  it->second.score += 1;
}

std::size_t AuthThrottle::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return states_.size();
}

}  // namespace socks5::session
