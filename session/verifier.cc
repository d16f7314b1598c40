#include "session/verifier.h"

#include <strings.h>

#include <atomic>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/time/clock.h"
#include "net/async.h"

namespace socks5::session {
namespace {

void Wipe(std::string& secret) { explicit_bzero(secret.data(), secret.size()); }

// What a check on the verifier's threads shares with the coroutine waiting for it.
template <typename Handler>
struct PendingCheck {
  PendingCheck(Handler h, const asio::any_io_executor& executor)
      : handler(std::move(h)),
        loop(asio::prefer(executor, asio::execution::outstanding_work.tracked)) {}

  // On the handler's executor only: resumes the waiting coroutine, once.
  void Complete(Verdict verdict) {
    if (!handler) return;  // already completed (cancelled first)
    done.store(true, std::memory_order_relaxed);
    auto slot = asio::get_associated_cancellation_slot(*handler);
    if (slot.is_connected()) slot.clear();
    Handler h = std::move(*handler);
    handler.reset();
    std::move(h)(verdict);
  }

  std::optional<Handler> handler;
  // Set once the coroutine has its answer: a check still queued then is skipped (no one waits).
  std::atomic<bool> done{false};
  // The coroutine's executor, counting as work so its loop keeps running while the check is out.
  const asio::any_io_executor loop;
};

struct InitiateCheck {
  template <typename Handler>
  void operator()(Handler&& handler, Verifier* verifier, std::shared_ptr<const Credentials> users,
                  std::string user, std::string password, std::string cache_key) const {
    using State = PendingCheck<std::decay_t<Handler>>;
    auto executor = asio::get_associated_executor(handler);
    auto state = std::make_shared<State>(std::forward<Handler>(handler), executor);
    auto slot = asio::get_associated_cancellation_slot(*state->handler);
    if (slot.is_connected()) {
      // Posted, not completed inline: clearing a slot from inside its own handler is not allowed.
      slot.assign([weak = std::weak_ptr<State>(state)](asio::cancellation_type type) {
        if (type == asio::cancellation_type::none) return;
        if (auto s = weak.lock()) {
          asio::post(s->loop, [s] { s->Complete(Verdict::kCancelled); });
        }
      });
    }
    Verifier::Job job = [state, users = std::move(users), user = std::move(user),
                         password = std::move(password), cache_key = std::move(cache_key),
                         cache = &verifier->cache()](bool run) mutable {
      Verdict verdict = Verdict::kBusy;
      if (run && !state->done.load(std::memory_order_relaxed)) {
        verdict = users->Check(user, password) ? Verdict::kAccepted : Verdict::kRejected;
        if (verdict == Verdict::kAccepted) cache->Insert(cache_key, absl::Now());
      }
      Wipe(password);
      const asio::any_io_executor loop = state->loop;
      asio::post(loop, [state = std::move(state), verdict] { state->Complete(verdict); });
    };
    if (!verifier->TrySubmit(job)) {
      asio::post(state->loop, [state] { state->Complete(Verdict::kBusy); });
    }
  }
};

template <typename Token>
auto AsyncCheckOnVerifier(Verifier& verifier, std::shared_ptr<const Credentials> users,
                          std::string user, std::string password, std::string cache_key,
                          Token&& token) {
  return asio::async_initiate<Token, void(Verdict)>(InitiateCheck{}, token, &verifier,
                                                    std::move(users), std::move(user),
                                                    std::move(password), std::move(cache_key));
}

}  // namespace

Verifier::Verifier(VerifierOptions options)
    : options_(options), cache_(options.cache_size, options.cache_ttl) {
  const int threads = options_.threads < 1 ? 1 : options_.threads;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

Verifier::~Verifier() { Stop(); }

bool Verifier::TrySubmit(Job& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || queue_.size() + running_ >= options_.max_pending) {
      job = nullptr;  // destroyed unrun, as the contract says
      return false;
    }
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

std::size_t Verifier::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + running_;
}

void Verifier::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    job(true);
    job = nullptr;
    lock.lock();
    --running_;
  }
}

void Verifier::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  std::deque<Job> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
  }
  for (Job& job : left) job(false);
}

asio::awaitable<Verdict> AsyncVerify(Verifier* verifier, std::shared_ptr<const Credentials> users,
                                     std::string user, std::string password) {
  if (verifier == nullptr || !users->slow()) {
    const bool ok = users->Check(user, password);
    Wipe(password);
    co_return ok ? Verdict::kAccepted : Verdict::kRejected;
  }
  std::string key = verifier->cache().KeyFor(users->id(), user, password);
  if (verifier->cache().Contains(key, absl::Now())) {
    Wipe(password);
    co_return Verdict::kAccepted;
  }
  auto result = co_await AsyncCheckOnVerifier(*verifier, std::move(users), std::move(user),
                                              std::move(password), std::move(key), net::kUseTuple);
  co_return std::get<0>(result);
}

}  // namespace socks5::session
