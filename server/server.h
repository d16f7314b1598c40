// The whole server: workers, listeners and signal-driven graceful shutdown. Start() reports
// every failure as a Status (nothing throws).
#ifndef SOCKS5_SERVER_SERVER_H_
#define SOCKS5_SERVER_SERVER_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "asio.hpp"
#include "server/config.h"
#include "server/worker.h"
#include "session/verifier.h"

namespace socks5::server {

class Server {
 public:
  explicit Server(Config config);
  ~Server();

  // Binds every listener on every worker and logs `listening on HOST:PORT` for each.
  absl::Status Start();
  // Blocks until SIGTERM or SIGINT, then stops accepting, lets sessions drain for
  // --shutdown_grace (a second signal cuts it short) and stops.
  void RunUntilSignalled();

 private:
  // The signal, the drain and the second signal, as one coroutine on signal_io_.
  asio::awaitable<void> AsyncShutDown();
  // Logs and ignores SIGHUP and SIGUSR1 until ignored_signals_ is cancelled.
  asio::awaitable<void> AsyncIgnoreSignals();
  // Writes the rate-limited warnings' summaries (net/log.h) about once a second until stopped.
  asio::awaitable<void> AsyncFlushWarnings();

  Config config_;
  SessionCounter sessions_;
  udp::MemoryBudget udp_memory_;  // --udp_memory_budget; outlives the workers (declared before)
  // Created with the server, before any listener is announced: a SIGTERM that arrives right
  // after `listening on` must start a graceful stop, not kill the process by default action.
  asio::io_context signal_io_{1};
  asio::signal_set signals_{signal_io_, SIGINT, SIGTERM};
  // SIGHUP (an operator's "reload", which does not exist yet) and SIGUSR1: logged, never fatal.
  // main() ignores them before this set exists; ~Server ignores them again after it.
  asio::signal_set ignored_signals_{signal_io_, SIGHUP, SIGUSR1};
  // Admission (session/admission.h): shared by every worker; outlives them (declared before).
  std::unique_ptr<session::Admission> admission_;
  // RFC 1929 checks off the loops (session/verifier.h), when there is a users file. Stopped
  // before the workers are destroyed (it posts completions to their loops).
  std::unique_ptr<session::Verifier> verifier_;
  asio::steady_timer flush_timer_{signal_io_};
  bool stop_flushing_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_SERVER_H_
