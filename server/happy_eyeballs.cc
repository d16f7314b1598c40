#include "server/happy_eyeballs.h"

#include <cerrno>
#include <list>
#include <memory>
#include <optional>

#include "asio/experimental/as_tuple.hpp"

namespace socks5::server {
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

// The shared state of one AsyncConnectAny call. Lives while any callback may still run.
class Race : public std::enable_shared_from_this<Race> {
 public:
  using Handler = std::function<void(std::error_code, asio::ip::tcp::socket)>;

  Race(asio::any_io_executor executor, std::vector<asio::ip::tcp::endpoint> candidates,
       std::chrono::nanoseconds attempt_delay, Handler handler)
      : executor_(executor),
        candidates_(std::move(candidates)),
        attempt_delay_(attempt_delay),
        stagger_(executor),
        deadline_(executor),
        handler_(std::move(handler)) {}

  void Start(std::chrono::nanoseconds timeout) {
    auto self = shared_from_this();
    deadline_.expires_after(timeout);
    deadline_.async_wait([self](std::error_code ec) {
      if (!ec) self->Finish(asio::error::timed_out, std::nullopt);
    });
    LaunchNext();
  }

 private:
  void LaunchNext() {
    if (done_) return;
    if (next_ >= candidates_.size()) {
      if (in_flight_ == 0) Finish(error_ ? error_ : asio::error::host_unreachable, std::nullopt);
      return;
    }
    const asio::ip::tcp::endpoint& endpoint = candidates_[next_++];
    auto it = attempts_.emplace(attempts_.end(), executor_);
    std::error_code ec;
    it->open(endpoint.protocol(), ec);
    if (ec) {
      attempts_.erase(it);
      error_ = MoreTellingError(error_, ec);
      LaunchNext();
      return;
    }
    ++in_flight_;
    auto self = shared_from_this();
    it->async_connect(
        endpoint, [self, it](std::error_code connect_ec) { self->OnConnected(it, connect_ec); });
    // The next attempt starts after the delay unless this one answers first.
    stagger_.expires_after(attempt_delay_);
    stagger_.async_wait([self](std::error_code wait_ec) {
      if (!wait_ec) self->LaunchNext();
    });
  }

  void OnConnected(std::list<asio::ip::tcp::socket>::iterator it, std::error_code ec) {
    --in_flight_;
    if (done_) return;
    if (!ec) {
      asio::ip::tcp::socket winner = std::move(*it);
      attempts_.erase(it);
      Finish({}, std::move(winner));
      return;
    }
    error_ = MoreTellingError(error_, ec);
    std::error_code ignored;
    it->close(ignored);
    stagger_.cancel();  // a failure starts the next attempt at once
    LaunchNext();
  }

  void Finish(std::error_code ec, std::optional<asio::ip::tcp::socket> socket) {
    if (done_) return;
    done_ = true;
    stagger_.cancel();
    deadline_.cancel();
    std::error_code ignored;
    for (auto& attempt : attempts_) attempt.close(ignored);
    Handler handler = std::move(handler_);
    if (socket) {
      handler(ec, std::move(*socket));
    } else {
      handler(ec, asio::ip::tcp::socket(executor_));
    }
  }

  asio::any_io_executor executor_;
  std::vector<asio::ip::tcp::endpoint> candidates_;
  std::chrono::nanoseconds attempt_delay_;
  std::size_t next_ = 0;
  int in_flight_ = 0;
  bool done_ = false;
  std::error_code error_;
  std::list<asio::ip::tcp::socket> attempts_;  // stable iterators for callbacks
  asio::steady_timer stagger_;
  asio::steady_timer deadline_;
  Handler handler_;
};

}  // namespace

std::error_code MoreTellingError(const std::error_code& a, const std::error_code& b) {
  return Rank(b) > Rank(a) ? b : a;
}

asio::awaitable<ConnectResult> AsyncConnectAny(std::vector<asio::ip::tcp::endpoint> candidates,
                                               std::chrono::nanoseconds timeout,
                                               std::chrono::nanoseconds attempt_delay) {
  auto executor = co_await asio::this_coro::executor;
  if (candidates.empty()) {
    co_return ConnectResult{asio::error::host_unreachable, asio::ip::tcp::socket(executor)};
  }
  constexpr auto kToken = asio::experimental::as_tuple(asio::use_awaitable);
  auto result =
      co_await asio::async_initiate<decltype(kToken), void(std::error_code, asio::ip::tcp::socket)>(
          [&](auto handler) {
            // Race needs a copyable std::function; keep the move-only handler behind a shared_ptr.
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            auto race = std::make_shared<Race>(
                executor, std::move(candidates), attempt_delay,
                [shared](std::error_code e, asio::ip::tcp::socket s) {
                  // Complete through post so the coroutine never resumes inside a Race callback.
                  auto h = std::move(*shared);
                  auto ex = asio::get_associated_executor(h);
                  asio::post(ex, [h = std::move(h), e, s = std::move(s)]() mutable {
                    std::move(h)(e, std::move(s));
                  });
                });
            race->Start(timeout);
          },
          kToken);
  co_return ConnectResult{std::get<0>(result), std::move(std::get<1>(result))};
}

}  // namespace socks5::server
