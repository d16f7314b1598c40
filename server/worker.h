// A worker: one thread, one io_context, its own SO_REUSEPORT acceptors and its own resolver.
// Everything a session touches lives on the worker that accepted it, so the data path takes
// no locks.
#ifndef SOCKS5_SERVER_WORKER_H_
#define SOCKS5_SERVER_WORKER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "asio.hpp"
#include "dns/resolver.h"
#include "server/config.h"

namespace socks5::server {

// Relay buffers, lent only while data is in flight, so an idle session holds none.
class BufferPool {
 public:
  static constexpr std::size_t kBufferSize = 32 * 1024;
  class Lease {
   public:
    Lease(BufferPool* pool, std::unique_ptr<std::uint8_t[]> data)
        : pool_(pool), data_(std::move(data)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (data_) pool_->Return(std::move(data_));
    }
    std::uint8_t* data() { return data_.get(); }
    static constexpr std::size_t size() { return kBufferSize; }

   private:
    BufferPool* pool_;
    std::unique_ptr<std::uint8_t[]> data_;
  };

  Lease Acquire();

 private:
  void Return(std::unique_ptr<std::uint8_t[]> data);
  static constexpr std::size_t kMaxFree = 64;
  std::vector<std::unique_ptr<std::uint8_t[]>> free_;
};

// Pipes for the relay's splice(), lent like the buffers only while bytes are in flight, so an
// idle session holds none. A pipe comes back empty. Acquire() gives an invalid pipe when none can
// be made (descriptors ran out): the relay then copies through a pooled buffer instead.
class PipePool {
 public:
  static constexpr int kPipeSize = 1024 * 1024;   // bytes one splice() moves at most
  static constexpr int kMinPipeSize = 64 * 1024;  // a smaller pipe is not used
  struct Pipe {
    int read_end = -1;
    int write_end = -1;
    bool valid() const { return read_end >= 0; }
  };

  PipePool() = default;
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  Pipe Acquire();
  void Return(Pipe pipe);  // an empty pipe only
  static void Close(Pipe pipe);

 private:
  static constexpr std::size_t kMaxFree = 16;  // 32 descriptors per worker at most, idle
  std::vector<Pipe> free_;
};

// Counts sessions across all workers for --max_sessions and graceful shutdown.
struct SessionCounter {
  std::atomic<std::size_t> active{0};
};

class Worker {
 public:
  Worker(const Config& config, int index, SessionCounter& sessions);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens and binds this worker's acceptors. `endpoints` carry real ports (worker 0 binds the
  // configured ones first and the rest reuse the ports it got).
  absl::Status Listen(const std::vector<asio::ip::tcp::endpoint>& endpoints);
  std::vector<asio::ip::tcp::endpoint> LocalEndpoints() const;
  void Start();          // starts the thread
  void StopAccepting();  // thread-safe: closes the acceptors
  void Stop();           // thread-safe: stops the loop; sessions are dropped
  void Join();

  asio::io_context& io() { return *io_; }
  const Config& config() const { return config_; }
  dns::Resolver& resolver() { return *resolver_; }
  BufferPool& buffers() { return buffers_; }
  PipePool& pipes() { return pipes_; }
  SessionCounter& sessions() { return sessions_; }
  int index() const { return index_; }

 private:
  asio::awaitable<void> RunAcceptor(asio::ip::tcp::acceptor& acceptor);

  const Config& config_;
  const int index_;
  SessionCounter& sessions_;
  BufferPool buffers_;
  PipePool pipes_;
  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<dns::Resolver> resolver_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::thread thread_;
};

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_WORKER_H_
