// Batches of datagrams for the UDP relay: up to kUdpBatchSlots received with one recvmmsg and
// sent with one sendmmsg per socket (issue 17: one system call per datagram was the relay's cost).
// The receive storage belongs to the worker thread, not to an association: a drain borrows it
// while datagrams move and gives it back before it returns (a drain never waits), so an idle
// association holds no batch memory at all. Only the pages a datagram touches become resident.
// Single-threaded per worker, like the relay itself.
#ifndef SOCKS5_RELAY_UDP_BATCH_H_
#define SOCKS5_RELAY_UDP_BATCH_H_

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <system_error>

#include "absl/functional/function_ref.h"
#include "asio.hpp"
#include "udp/endpoint.h"

namespace socks5::relay {

// Datagrams per recvmmsg/sendmmsg: the benchmark's window (32 in flight) fits one call.
inline constexpr std::size_t kUdpBatchSlots = 32;
// Any UDP datagram fits a slot (65,535 minus the IP and UDP headers), behind `headroom`.
inline constexpr std::size_t kUdpMaxDatagram = 65536;

class DatagramBatch {
 public:
  // The calling thread's batch. `headroom` (at most kHeadroom) is left free in front of every
  // datagram, for a header written in place.
  static constexpr std::size_t kHeadroom = 272;  // >= protocol::kMaxUdpHeaderSize, 16-aligned
  static DatagramBatch& ForThisThread();

  // Receives what is waiting on the non-blocking `fd`, up to kUdpBatchSlots datagrams, each at
  // data(i) (slot i + `headroom`). Returns the count, 0 when nothing was waiting, or an error
  // (a queued ICMP error, say: the next call is unaffected). The previous contents are gone.
  std::size_t Receive(int fd, std::size_t headroom, std::error_code& ec);

  std::uint8_t* data(std::size_t i) { return slot(i) + headroom_; }
  std::size_t size(std::size_t i) const { return headers_[i].msg_len; }
  asio::ip::udp::endpoint from(std::size_t i) const;
  // Whether `bytes` lie inside datagram i's slot (a payload still pointing there).
  bool Holds(std::size_t i, std::span<const std::uint8_t> bytes);

 private:
  DatagramBatch();
  std::uint8_t* slot(std::size_t i) { return storage_.get() + i * kSlotSize; }

  static constexpr std::size_t kSlotSize = kHeadroom + kUdpMaxDatagram;
  std::unique_ptr<std::uint8_t[]> storage_;  // kUdpBatchSlots slots, allocated untouched
  std::size_t headroom_ = 0;
  std::array<mmsghdr, kUdpBatchSlots> headers_{};
  std::array<iovec, kUdpBatchSlots> iov_{};
  std::array<sockaddr_storage, kUdpBatchSlots> from_{};
};

// Datagrams queued for one socket in the order they were queued, sent with sendmmsg. The bytes
// are not copied: they must stay where they are (a DatagramBatch slot) until Flush.
class SendQueue {
 public:
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == kUdpBatchSlots; }
  // Queues `bytes` for `to`; `target` and `payload_bytes` are handed back by Flush. Not full().
  void Add(const udp::Endpoint& target, std::span<const std::uint8_t> bytes,
           std::size_t payload_bytes);
  // Sends everything queued on the non-blocking `fd` with as few sendmmsg calls as the errors
  // allow, then empties the queue. `done` is called for every datagram, in order, with its target,
  // payload size and error (none: sent). A datagram the kernel refuses (EMSGSIZE, an unreachable
  // network) fails alone; would_block fails the rest of the queue (dropped, as a full socket
  // buffer drops datagrams).
  void Flush(int fd, absl::FunctionRef<void(const udp::Endpoint& target, std::size_t payload_bytes,
                                            const std::error_code& ec)>
                         done);

 private:
  std::size_t count_ = 0;
  std::array<mmsghdr, kUdpBatchSlots> headers_{};
  std::array<iovec, kUdpBatchSlots> iov_{};
  std::array<sockaddr_storage, kUdpBatchSlots> to_{};
  std::array<udp::Endpoint, kUdpBatchSlots> targets_{};
  std::array<std::size_t, kUdpBatchSlots> payload_bytes_{};
};

}  // namespace socks5::relay

#endif  // SOCKS5_RELAY_UDP_BATCH_H_
