// The whole server: workers, listeners, signal-driven graceful shutdown and SIGHUP reload of the
// users and rules (session/policy.h). Start() reports every failure as a Status (nothing throws).
#ifndef SOCKS5_SERVER_SERVER_H_
#define SOCKS5_SERVER_SERVER_H_

#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "asio.hpp"
#include "server/config.h"
#include "server/config_watch.h"
#include "server/metrics_scrape.h"
#include "server/worker.h"
#include "session/policy.h"
#include "session/verifier.h"

namespace socks5::server {

class Server {
 public:
  explicit Server(Config config);
  ~Server();

  // Loads the users and rules (server/policy_files.h), binds every listener on every worker and
  // logs `listening on HOST:PORT` for each.
  absl::Status Start();
  // Blocks until SIGTERM or SIGINT, then stops accepting, lets sessions drain for
  // --shutdown_grace (a second signal cuts it short) and stops. SIGHUP meanwhile reloads.
  void RunUntilSignalled();

  // Re-reads and validates the users and rules files; publishes them only when all are valid
  // (new sessions and new UDP decisions use them; running sessions keep theirs). Logs one line:
  // `reloaded users=N rules=M` or `reload failed: ...`. Thread-safe: reloads never overlap, so the
  // files as read by the last one are what stays published. SIGHUP calls it on signal_io_.
  void Reload();
  const session::PolicyStore& policies() const { return *policies_; }

 private:
  // The signal, the drain and the second signal, as one coroutine on signal_io_.
  asio::awaitable<void> AsyncShutDown();
  // SIGHUP: Reload() (ignored once shutting down); SIGUSR1: logged and ignored. Until
  // other_signals_ is cancelled.
  asio::awaitable<void> AsyncOtherSignals();
  // ---- metrics ---- (server/metrics_scrape.cc)
  // --metrics_listen: listens before the workers do (a bad address stops start-up first).
  absl::Status StartMetrics();
  // After every listener is open: the scrape sees the workers, /readyz turns 200.
  void SetMetricsReady();
  // Writes the rate-limited warnings' summaries (net/log.h) about once a second until stopped.
  asio::awaitable<void> AsyncFlushWarnings();

  Config config_;
  SessionCounter sessions_;
  udp::MemoryBudget udp_memory_;  // --udp_memory_budget; outlives the workers (declared before)
  // Created with the server, before any listener is announced: a SIGTERM that arrives right
  // after `listening on` must start a graceful stop, not kill the process by default action.
  asio::io_context signal_io_{1};
  asio::signal_set signals_{signal_io_, SIGINT, SIGTERM};
  // SIGHUP (reload) and SIGUSR1 (logged), never fatal. main() ignores them before this set exists
  // (a SIGHUP from then on waits in the set: it is handled once the server runs, and re-reads
  // the files); ~Server ignores them again after it.
  asio::signal_set other_signals_{signal_io_, SIGHUP, SIGUSR1};
  // --watch_config: Reload() when the files change, on signal_io_ (declared after it: destroyed
  // first, once signal_io_ has run out of work). Null without the flag.
  std::unique_ptr<ConfigWatcher> config_watcher_;
  bool shutting_down_ = false;  // signal_io_'s thread only
  std::mutex reload_mu_;        // one Reload() at a time: read, validate and publish together
  // The users and rules every worker's sessions start from; Start() fills it, Reload() replaces.
  std::shared_ptr<session::PolicyStore> policies_ = std::make_shared<session::PolicyStore>();
  // Admission (session/admission.h): shared by every worker; outlives them (declared before).
  std::unique_ptr<session::Admission> admission_;
  // RFC 1929 checks off the loops (session/verifier.h), when there is a users file. Stopped
  // before the workers are destroyed (it posts completions to their loops).
  std::unique_ptr<session::Verifier> verifier_;
  asio::steady_timer flush_timer_{signal_io_};
  bool stop_flushing_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  // ---- metrics ----
  ProcessCounters counters_;                          // reloads, for the scrape
  std::unique_ptr<metrics::UserTable> metric_users_;  // --metrics_per_user
  std::unique_ptr<MetricsEndpoint> metrics_;          // --metrics_listen; stopped first
};

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_SERVER_H_
