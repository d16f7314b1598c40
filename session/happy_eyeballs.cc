#include "session/happy_eyeballs.h"

#include <cerrno>
#include <list>
#include <memory>
#include <optional>

#include "absl/functional/any_invocable.h"
#include "net/async.h"
#include "net/socket.h"

namespace socks5::session {
namespace {

int Rank(const std::error_code& e) {
  if (!e) return 0;
  switch (e.value()) {
    case ECONNREFUSED:
      return 6;
    case EHOSTUNREACH:
      return 5;
    case ENETUNREACH:
      return 4;
    case ETIMEDOUT:
      return 3;
    default:
      return 2;
  }
}

// The shared state of one AsyncConnectAny call. Lives while any callback may still run (each
// holds a shared_ptr: the callback-safety idiom of net/async.h).
class Race : public std::enable_shared_from_this<Race> {
 public:
  using Handler = absl::AnyInvocable<void(std::error_code, asio::ip::tcp::socket, std::size_t)>;

  Race(const asio::any_io_executor& executor, std::vector<asio::ip::tcp::endpoint> candidates,
       std::chrono::nanoseconds attempt_delay, ConnectLimits limits, Handler handler)
      : executor_(executor),
        candidates_(std::move(candidates)),
        attempt_delay_(attempt_delay),
        limits_(std::move(limits)),
        stagger_(executor),
        handler_(std::move(handler)) {}

  void Start() { LaunchNext(); }
  // The deadline passed (the awaiting coroutine was cancelled): stop every attempt.
  void Cancel() { Finish(asio::error::operation_aborted, std::nullopt); }

 private:
  void LaunchNext() {
    if (done_) return;
    if (next_ >= candidates_.size()) {
      if (in_flight_ == 0) Finish(error_ ? error_ : asio::error::host_unreachable, std::nullopt);
      return;
    }
    // At the cap the next attempt starts when one in flight fails (OnConnected).
    if (limits_.max_in_flight > 0 && in_flight_ >= limits_.max_in_flight) return;
    std::optional<DescriptorCharge> charge = DescriptorCharge::Try(limits_.descriptors, 1);
    if (!charge) {
      error_ = MoreTellingError(error_, std::make_error_code(std::errc::too_many_files_open));
      if (in_flight_ == 0) Finish(error_, std::nullopt);
      return;
    }
    const std::size_t index = next_++;
    if (limits_.attempts != nullptr) limits_.attempts->Add();
    const asio::ip::tcp::endpoint& endpoint = candidates_[index];
    auto it = attempts_.emplace(attempts_.end(), executor_);
    auto charge_it = charges_.emplace(charges_.end(), std::move(*charge));
    // Non-blocking from socket(2) on (net/socket.h): no ioctl before the connect.
    std::error_code ec = net::OpenNonBlocking(*it, endpoint.protocol());
    const std::optional<asio::ip::address>& source =
        limits_.sources.empty() ? limits_.egress.For(endpoint.address()) : limits_.sources[index];
    if (!ec && source) {
      ec = BindForConnect(*it, *source);
    }
    if (ec) {
      attempts_.erase(it);
      charges_.erase(charge_it);
      error_ = MoreTellingError(error_, ec);
      LaunchNext();
      return;
    }
    ++in_flight_;
    auto self = shared_from_this();
    // The socket lives in attempts_ until this handler has run (the Race is kept alive by it).
    net::AsyncConnectNonBlocking(*it, endpoint,
                                 [self, it, charge_it, index](std::error_code connect_ec) {
                                   self->OnConnected(it, charge_it, index, connect_ec);
                                 });
    // The next attempt starts after the delay unless this one answers first; the last
    // candidate arms no timer (a timer the earliest to expire costs a timerfd_settime).
    if (next_ >= candidates_.size()) return;
    stagger_.expires_after(attempt_delay_);
    stagger_.async_wait([self](std::error_code wait_ec) {
      if (!wait_ec) self->LaunchNext();
    });
  }

  void OnConnected(std::list<asio::ip::tcp::socket>::iterator it,
                   std::list<DescriptorCharge>::iterator charge_it, std::size_t index,
                   std::error_code ec) {
    --in_flight_;
    if (done_) {
      charges_.erase(charge_it);  // closed by Finish
      return;
    }
    if (!ec) {
      asio::ip::tcp::socket winner = std::move(*it);
      attempts_.erase(it);
      charges_.erase(charge_it);  // the caller charged the connected socket beforehand
      Finish({}, Connected{std::move(winner), index});
      return;
    }
    error_ = MoreTellingError(error_, ec);
    std::error_code ignored;
    it->close(ignored);
    charges_.erase(charge_it);
    stagger_.cancel();  // a failure starts the next attempt at once
    LaunchNext();
  }

  void Finish(std::error_code ec, std::optional<Connected> connected) {
    if (done_) return;
    done_ = true;
    stagger_.cancel();
    std::error_code ignored;
    for (auto& attempt : attempts_) attempt.close(ignored);
    Handler handler = std::move(handler_);
    if (connected) {
      handler(ec, std::move(connected->socket), connected->candidate);
    } else {
      handler(ec, asio::ip::tcp::socket(executor_), 0);
    }
  }

  asio::any_io_executor executor_;
  std::vector<asio::ip::tcp::endpoint> candidates_;
  std::chrono::nanoseconds attempt_delay_;
  ConnectLimits limits_;
  std::size_t next_ = 0;
  int in_flight_ = 0;
  bool done_ = false;
  std::error_code error_;
  std::list<asio::ip::tcp::socket> attempts_;  // stable iterators for callbacks
  std::list<DescriptorCharge> charges_;        // one per attempt whose handler has not run
  asio::steady_timer stagger_;
  Handler handler_;
};

// The race without a deadline; cancellable (its cancellation slot stops every attempt).
asio::awaitable<ConnectResult> AsyncRace(std::vector<asio::ip::tcp::endpoint> candidates,
                                         std::chrono::nanoseconds attempt_delay,
                                         ConnectLimits limits) {
  auto executor = co_await asio::this_coro::executor;
  auto [error, socket, index] =
      co_await asio::async_initiate<decltype(net::kUseTuple),
                                    void(std::error_code, asio::ip::tcp::socket, std::size_t)>(
          [&](auto handler) {
            auto slot = asio::get_associated_cancellation_slot(handler);
            auto race = std::make_shared<Race>(
                executor, std::move(candidates), attempt_delay, std::move(limits),
                [h = std::move(handler)](std::error_code e, asio::ip::tcp::socket s,
                                         std::size_t i) mutable {
                  // Complete through post so the coroutine never resumes inside a Race callback.
                  auto ex = asio::get_associated_executor(h);
                  asio::post(ex, [h = std::move(h), e, s = std::move(s), i]() mutable {
                    std::move(h)(e, std::move(s), i);
                  });
                });
            if (slot.is_connected()) {
              slot.assign([race](asio::cancellation_type) { race->Cancel(); });
            }
            race->Start();
          },
          net::kUseTuple);
  if (error) co_return error;
  co_return Connected{std::move(socket), index};
}

}  // namespace

std::vector<asio::ip::tcp::endpoint> ReachableCandidates(
    const Egress& egress, std::vector<asio::ip::tcp::endpoint> candidates) {
  if (egress.empty() || (egress.v4 && egress.v6)) return candidates;
  std::erase_if(candidates, [&egress](const asio::ip::tcp::endpoint& endpoint) {
    return !egress.Reaches(endpoint.address());
  });
  return candidates;
}

std::error_code MoreTellingError(const std::error_code& a, const std::error_code& b) {
  return Rank(b) > Rank(a) ? b : a;
}

std::vector<asio::ip::address> InterleaveFamilies(const std::vector<asio::ip::address>& addresses) {
  if (addresses.empty()) return {};
  bool first_v6 = addresses.front().is_v6();
  std::vector<asio::ip::address> first;
  std::vector<asio::ip::address> second;
  for (const auto& a : addresses) (a.is_v6() == first_v6 ? first : second).push_back(a);
  std::vector<asio::ip::address> out;
  out.reserve(addresses.size());
  for (std::size_t i = 0; i < first.size() || i < second.size(); ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size()) out.push_back(second[i]);
  }
  return out;
}

asio::awaitable<ConnectResult> AsyncConnectAny(std::vector<asio::ip::tcp::endpoint> candidates,
                                               std::chrono::nanoseconds timeout,
                                               std::chrono::nanoseconds attempt_delay,
                                               ConnectLimits limits) {
  if (limits.sources.empty()) {
    candidates = ReachableCandidates(limits.egress, std::move(candidates));
  } else if (limits.sources.size() != candidates.size()) {
    co_return std::make_error_code(std::errc::invalid_argument);
  }
  if (candidates.empty()) co_return asio::error::host_unreachable;
  std::optional<ConnectResult> result = co_await net::AsyncWithDeadline(
      AsyncRace(std::move(candidates), attempt_delay, std::move(limits)), timeout);
  if (!result) co_return asio::error::timed_out;
  co_return std::move(*result);
}

}  // namespace socks5::session
