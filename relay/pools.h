// The relay's memory: buffers and splice() pipes, lent only while bytes are in flight, so an idle
// session holds none. One set per worker (no locking: a worker's sessions run on its thread).
#ifndef SOCKS5_RELAY_POOLS_H_
#define SOCKS5_RELAY_POOLS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace socks5::relay {

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
  std::size_t made() const { return made_; }  // pipes created so far (tests)

 private:
  static constexpr std::size_t kMaxFree = 16;  // 32 descriptors per worker at most, idle
  std::vector<Pipe> free_;
  std::size_t made_ = 0;
};

struct Pools {
  BufferPool buffers;
  PipePool pipes;
};

}  // namespace socks5::relay

#endif  // SOCKS5_RELAY_POOLS_H_
