// RFC 1929 verification off the event loops (issue 12). A crypt(3) hash takes tens to hundreds
// of milliseconds of CPU by design; run on a worker's loop it would stall every session there.
// The Verifier is process-wide (owned by the server): --auth_threads threads take checks from
// one queue holding at most --auth_max_pending checks (queued or running); a check over that
// fails at once (Verdict::kBusy, never an unbounded queue). Its AuthCache answers a recent
// success without a hash.
//
// AsyncVerify posts the check to the threads and the verdict back to the awaiting coroutine's
// executor. Callback safety (net/async.h): what the threads and the posted completion share is
// one shared_ptr-held state; the completion handler inside it is touched only on its own
// executor, and a completion that finds it already gone (the handshake deadline cancelled the
// wait first) does nothing. The cancellation slot holds only a weak_ptr. Stop() must run before
// any worker's io_context is destroyed: it finishes the running checks and completes the queued
// ones as kBusy, so every completion is posted while its loop still exists.
#ifndef SOCKS5_SESSION_VERIFIER_H_
#define SOCKS5_SESSION_VERIFIER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "session/auth_cache.h"
#include "session/credentials.h"

namespace socks5::session {

struct VerifierOptions {
  int threads = 2;                              // --auth_threads
  std::size_t max_pending = 128;                // --auth_max_pending
  std::size_t cache_size = 1024;                // --auth_cache_size (0: no cache)
  absl::Duration cache_ttl = absl::Minutes(5);  // --auth_cache_ttl
};

enum class Verdict {
  kAccepted,
  kRejected,
  kBusy,       // --auth_max_pending checks were already queued or running
  kCancelled,  // the awaiting coroutine was cancelled (the handshake deadline) first
};

class Verifier {
 public:
  explicit Verifier(VerifierOptions options);
  ~Verifier();  // Stop()
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // A job runs once: job(true) on a verifier thread, or job(false) when it never will (Stop).
  using Job = absl::AnyInvocable<void(bool run)>;
  // Queues `job` unless max_pending jobs are queued or running (then false, and `job` is
  // destroyed unrun) or the verifier has stopped.
  bool TrySubmit(Job& job);
  // Joins the threads after their running jobs; calls the queued ones with false. Idempotent.
  void Stop();

  AuthCache& cache() { return cache_; }
  const VerifierOptions& options() const { return options_; }
  std::size_t pending() const;  // queued + running

 private:
  void Run();

  const VerifierOptions options_;
  AuthCache cache_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Checks `user`/`password` against `users`: a cached success answers at once; slow credentials
// (Credentials::slow) are checked on the verifier's threads while the coroutine waits, and their
// success is cached; fast ones, or any when `verifier` is null (tests), are checked inline.
asio::awaitable<Verdict> AsyncVerify(Verifier* verifier, std::shared_ptr<const Credentials> users,
                                     std::string user, std::string password);

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_VERIFIER_H_
