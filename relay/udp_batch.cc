#include "relay/udp_batch.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "net/address.h"
#include "protocol/udp_header.h"

namespace socks5::relay {

static_assert(DatagramBatch::kHeadroom >= protocol::kMaxUdpHeaderSize);

DatagramBatch& DatagramBatch::ForThisThread() {
  // One per worker thread, made on its first datagram; `new` leaves the slots untouched, so only
  // the pages datagrams are written to become resident.
  thread_local DatagramBatch batch;
  return batch;
}

DatagramBatch::DatagramBatch()
    : storage_(new std::uint8_t[kUdpBatchSlots * kSlotSize]) {}  // NOLINT: uninitialised on purpose

std::size_t DatagramBatch::Receive(int fd, std::size_t headroom, std::error_code& ec) {
  headroom_ = headroom;
  for (std::size_t i = 0; i < kUdpBatchSlots; ++i) {
    iov_[i] = iovec{data(i), kUdpMaxDatagram};
    headers_[i] = mmsghdr{};
    headers_[i].msg_hdr.msg_name = &from_[i];
    headers_[i].msg_hdr.msg_namelen = sizeof from_[i];
    headers_[i].msg_hdr.msg_iov = &iov_[i];
    headers_[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    int n = ::recvmmsg(fd, headers_.data(), kUdpBatchSlots, MSG_DONTWAIT, nullptr);
    if (n >= 0) {
      ec.clear();
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ec.clear();
      return 0;
    }
    ec = std::error_code(errno, std::system_category());
    return 0;
  }
}

asio::ip::udp::endpoint DatagramBatch::from(std::size_t i) const {
  asio::ip::udp::endpoint out;
  const socklen_t length = headers_[i].msg_hdr.msg_namelen;
  std::memcpy(out.data(), &from_[i], std::min<std::size_t>(length, out.capacity()));
  out.resize(std::min<std::size_t>(length, out.capacity()));
  return out;
}

bool DatagramBatch::Holds(std::size_t i, std::span<const std::uint8_t> bytes) {
  const std::uint8_t* begin = slot(i);
  const std::uint8_t* end = begin + kSlotSize;
  return std::less_equal<>()(begin, bytes.data()) &&
         std::less_equal<>()(bytes.data() + bytes.size(), end);
}

void SendQueue::Add(const udp::Endpoint& target, std::span<const std::uint8_t> bytes,
                    std::size_t payload_bytes) {
  const std::size_t i = count_++;
  const asio::ip::udp::endpoint to = net::ToAsio(target);
  std::memcpy(&to_[i], to.data(), to.size());
  iov_[i] = iovec{const_cast<std::uint8_t*>(bytes.data()), bytes.size()};
  headers_[i] = mmsghdr{};
  headers_[i].msg_hdr.msg_name = &to_[i];
  headers_[i].msg_hdr.msg_namelen = static_cast<socklen_t>(to.size());
  headers_[i].msg_hdr.msg_iov = &iov_[i];
  headers_[i].msg_hdr.msg_iovlen = 1;
  targets_[i] = target;
  payload_bytes_[i] = payload_bytes;
}

void SendQueue::Flush(
    int fd,
    absl::FunctionRef<void(const udp::Endpoint&, std::size_t, const std::error_code&)> done) {
  std::size_t i = 0;
  while (i < count_) {
    int n = ::sendmmsg(fd, headers_.data() + i, static_cast<unsigned>(count_ - i), MSG_NOSIGNAL);
    if (n > 0) {
      for (int k = 0; k < n; ++k, ++i) done(targets_[i], payload_bytes_[i], {});
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const std::error_code ec(n < 0 ? errno : EIO, std::system_category());
    if (ec == std::errc::resource_unavailable_try_again || ec == std::errc::operation_would_block) {
      for (; i < count_; ++i) done(targets_[i], payload_bytes_[i], ec);
      break;
    }
    done(targets_[i], payload_bytes_[i], ec);  // this one fails alone; the next is tried
    ++i;
  }
  count_ = 0;
}

}  // namespace socks5::relay
