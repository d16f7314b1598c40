#include "relay/tcp_relay.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <random>

#include "net/async.h"
#include "net/readiness.h"

namespace socks5::relay {
namespace {

using Clock = std::chrono::steady_clock;
using net::kUseTuple;

// Most bytes one direction moves in one turn before it lets the worker's other sessions run.
constexpr std::size_t kTurnBytes = 4 << 20;
constexpr std::size_t kBufferSize = BufferPool::Lease::size();
constexpr std::size_t kPipeBytes = PipePool::kPipeSize;
constexpr std::size_t kUnlimited = static_cast<std::size_t>(-1);  // an unlimited read's allowance

// The two directions of one relay, driven by completion handlers rather than coroutines: an idle
// relay is then two pending readiness waits and this object, a few hundred bytes (a coroutine
// per direction plus the awaitable operators cost several KiB per session).
//
// Each direction is always in exactly one of: running (Pump), waiting for readability, waiting
// for writability, posted (its turn ended), or finished. It drains its source until the kernel
// says EAGAIN before it waits, and then waits without a system call (net/readiness.h: the
// edge-triggered registration stands, the next edge wakes it). A short read does not prove the
// source drained: a FIN that came with the data is only seen by the next read, and its edge is
// already spent.
//
// Callback safety (net/async.h): the handlers capture `this`; the Relay lives on AsyncRelay's
// frame, which does not return before both directions have finished, i.e. before every handler
// the Relay started has run.
class Relay {
 public:
  Relay(asio::ip::tcp::socket& client, asio::ip::tcp::socket& upstream, Counters& counters,
        Pools& pools, asio::steady_timer& wake, RateLimiter* rate, bool upstream_written)
      : client_(client),
        upstream_(upstream),
        pipes_(pools.pipes),
        buffers_(pools.buffers),
        wake_(wake),
        rate_(rate),
        upstream_written_(upstream_written),
        up_{&client, &upstream, &counters.bytes_up, RateDirection::kUp},
        down_{&upstream, &client, &counters.bytes_down, RateDirection::kDown} {}
  ~Relay() {
    Release(up_);
    Release(down_);
  }
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  void Start() {
    // Wait first, read when told. A socket the reactor has seen no event on since it was drained
    // (an upstream opened for this session, nothing received yet) waits without a system call;
    // otherwise the wait completes at once and the first read looks (the client's bytes right
    // behind its request, a server's banner, or EAGAIN).
    for (Direction* d : {&up_, &down_}) {
      if (!d->from->is_open() || !d->to->is_open()) {
        Finish(*d);
      } else {
        WaitReadable(*d);
      }
    }
  }
  bool finished() const { return up_.finished && down_.finished; }
  Clock::time_point last_activity() const { return last_activity_; }
  bool closed() const { return closed_; }

  // Progress the directions cannot see: the peer consuming bytes already in our kernel send
  // queue. Linux reports a socket writable again only once a good part of its (autotuned, up to
  // a few MiB) send buffer is free, so a peer reading slowly can keep a blocked direction from
  // waking for longer than the idle timeout. Called by the idle clock only after it has been
  // quiet for a while (two ioctls per half idle timeout, nothing on the data path): a send queue
  // shorter than at the previous call counts as activity.
  void SampleSendQueues() {
    bool progressed = false;
    for (int i = 0; i < 2; ++i) {
      int queued = -1;
      asio::ip::tcp::socket& s = i == 0 ? client_ : upstream_;
      if (s.is_open() && ::ioctl(s.native_handle(), SIOCOUTQ, &queued) != 0) queued = -1;
      if (queued >= 0 && queue_sample_[i] >= 0 && queued < queue_sample_[i]) progressed = true;
      queue_sample_[i] = queued;
    }
    if (progressed) last_activity_ = Clock::now();
  }

  // The idle timeout: closes both sockets; the directions finish as their waits are cancelled.
  // With bytes still in flight (read from one side, not yet written to the other: the direction
  // is blocked writing) both sides are reset (SO_LINGER 0), so neither mistakes the lost tail for
  // a clean end; otherwise both get a FIN.
  void Close() {
    closed_ = true;
    CancelRateTimers();
    const bool in_flight = up_.pending > 0 || down_.pending > 0;
    std::error_code ignored;
    for (asio::ip::tcp::socket* s : {&client_, &upstream_}) {
      if (in_flight) s->set_option(asio::socket_base::linger(true, 0), ignored);
      s->close(ignored);
    }
  }

 private:
  struct Direction {
    Direction(asio::ip::tcp::socket* f, asio::ip::tcp::socket* t, std::uint64_t* c, RateDirection r)
        : from(f), to(t), counter(c), rate_direction(r) {}
    asio::ip::tcp::socket* from;
    asio::ip::tcp::socket* to;
    std::uint64_t* counter;
    RateDirection rate_direction;
    // Rate-limited only: waits for tokens; made on the first wait (a pointer: an unlimited
    // relay, the common one, does not carry two timers in every idle session).
    std::unique_ptr<asio::steady_timer> rate_timer;
    bool finished = false;
    bool at_eof = false;  // finished by reading its source's EOF (its output then got a FIN)
    // Held only while bytes are in flight: a buffer, or a pipe for splice() once the direction
    // has shown itself bulk (a read filled a whole buffer). Small messages are cheaper to copy
    // (measured: ~10% less CPU per short session than splicing them).
    PipePool::Pipe pipe;
    std::optional<BufferPool::Lease> buffer;
    bool bulk = false;
    bool pipe_failed = false;  // no pipe could be had: copy for the rest of this burst
    std::size_t pending = 0;   // read from `from`, not yet written to `to`
    std::size_t offset = 0;    // buffer path: where the pending bytes start
  };

  static bool WouldBlock() { return errno == EAGAIN || errno == EWOULDBLOCK; }

  // Activity is progress either way, a read or a write: a direction blocked writing to a slow
  // reader is busy, not idle. The clock is read once per Pump that moved bytes (it only matters
  // when Pump returns: the idle check runs on the same thread), never per byte or per call.
  void Pump(Direction& d) {
    if (closed_ || !d.from->is_open() || !d.to->is_open()) return Finish(d);
    std::size_t moved = 0;    // written this turn
    bool progressed = false;  // a read or a write moved bytes this turn
    for (;;) {
      while (d.pending > 0) {
        if (&d == &up_ && !upstream_no_delay_) BeforeUpstreamWrite();
        ssize_t n = Write(d);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (WouldBlock()) {
            if (progressed) Touch();
            net::MarkDrained(*d.to, asio::socket_base::wait_write);
            return WaitWritable(d);
          }
          return Fail(d);  // e.g. the peer reset: reset the other side too
        }
        d.pending -= static_cast<std::size_t>(n);
        d.offset += static_cast<std::size_t>(n);
        *d.counter += static_cast<std::uint64_t>(n);
        moved += static_cast<std::size_t>(n);
        progressed = true;
      }
      if (moved >= kTurnBytes) {
        Touch();
        asio::post(d.from->get_executor(), [this, &d] { Pump(d); });
        return;
      }
      std::size_t allowance = kUnlimited;
      if (rate_ != nullptr) {
        allowance = rate_->Grant(d.rate_direction, d.bulk ? kPipeBytes : kBufferSize, Clock::now());
        if (allowance == 0) {
          if (progressed) Touch();
          Release(d);  // nothing in flight: give the pipe or buffer back while waiting
          return WaitTokens(d);
        }
      }
      ssize_t n = Read(d, allowance);
      if (rate_ != nullptr) {
        rate_->Refund(d.rate_direction,
                      n > 0 ? allowance - static_cast<std::size_t>(n) : allowance);
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (WouldBlock()) {
          if (progressed) Touch();
          Release(d);  // idle again: give the pipe or buffer back
          net::MarkDrained(*d.from, asio::socket_base::wait_read);
          return WaitReadable(d);
        }
        return Fail(d);
      }
      if (n == 0) {
        // EOF (half-close): pass the FIN on while the other direction keeps flowing. When the
        // other direction has ended at its EOF too, both sockets are closed next (AsyncRelay),
        // and closing a socket whose input was read to its end sends that FIN: no shutdown.
        Touch();
        const Direction& other = &d == &up_ ? down_ : up_;
        if (!other.at_eof) {
          std::error_code ignored;
          d.to->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        }
        d.at_eof = true;
        return Finish(d);
      }
      d.pending = static_cast<std::size_t>(n);
      d.offset = 0;
      progressed = true;
    }
  }

  void Touch() {
    last_activity_ = Clock::now();
    queue_sample_[0] = queue_sample_[1] = -1;  // compare only samples of one quiet spell
  }

  // Reads at most `allowance` bytes into the direction's pipe or buffer, taking one from its pool
  // if it holds neither. Nothing is pending when this is called. A read that fills what it was
  // allowed marks the direction bulk (more is waiting): it splices from then on.
  ssize_t Read(Direction& d, std::size_t allowance) {
    if (d.bulk && !d.pipe.valid() && !d.pipe_failed) {
      d.buffer.reset();
      d.pipe = pipes_.Acquire();
      d.pipe_failed = !d.pipe.valid();
    }
    int fd = d.from->native_handle();
    if (d.pipe.valid()) {
      return ::splice(fd, nullptr, d.pipe.write_end, nullptr,
                      std::min<std::size_t>(PipePool::kPipeSize, allowance),
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    }
    if (!d.buffer) d.buffer.emplace(buffers_.Acquire());
    const std::size_t length = std::min(kBufferSize, allowance);
    ssize_t n = ::recv(fd, d.buffer->data(), length, 0);
    if (n == static_cast<ssize_t>(length)) d.bulk = true;
    return n;
  }

  // TCP_NODELAY toward the upstream, set before its second write: Nagle holds a small segment
  // back only while an earlier one is unacknowledged, so the first write (a short session's only
  // one) needs no setsockopt. (The client's socket has it from the worker's listener.)
  void BeforeUpstreamWrite() {
    if (!upstream_written_) {
      upstream_written_ = true;
      return;
    }
    std::error_code ignored;
    upstream_.set_option(asio::ip::tcp::no_delay(true), ignored);
    upstream_no_delay_ = true;
  }

  ssize_t Write(Direction& d) {
    int fd = d.to->native_handle();
    if (d.pipe.valid()) {
      return ::splice(d.pipe.read_end, nullptr, fd, nullptr, d.pending,
                      SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    }
    return ::send(fd, d.buffer->data() + d.offset, d.pending, MSG_NOSIGNAL);
  }

  void WaitReadable(Direction& d) {
    net::AsyncWaitReady(*d.from, asio::socket_base::wait_read,
                        [this, &d](std::error_code ec) { OnReady(d, ec); });
  }
  void WaitWritable(Direction& d) {
    net::AsyncWaitReady(*d.to, asio::socket_base::wait_write,
                        [this, &d](std::error_code ec) { OnReady(d, ec); });
  }
  // Rate-limited: the bucket is empty; ask again when it has refilled by half.
  void WaitTokens(Direction& d) {
    if (!d.rate_timer) d.rate_timer = std::make_unique<asio::steady_timer>(d.from->get_executor());
    const Clock::duration wait = std::max<Clock::duration>(
        rate_->UntilRefilled(d.rate_direction, Clock::now()), std::chrono::milliseconds(1));
    // Plus a random part up to as long again: directions sharing the limiter then wake in a
    // random order, so none keeps finding the bucket just emptied by one that always wakes
    // first (measured: one of three sessions took the whole rate). The bucket holds twice the
    // refill waited for, so no token is lost to the wait.
    thread_local std::minstd_rand jitter(std::random_device{}());
    const auto extra = std::uniform_int_distribution<Clock::rep>(0, wait.count())(jitter);
    d.rate_timer->expires_after(wait + Clock::duration(extra));
    d.rate_timer->async_wait([this, &d](std::error_code ec) { OnReady(d, ec); });
  }
  void CancelRateTimers() {
    for (Direction* d : {&up_, &down_}) {
      if (d->rate_timer) d->rate_timer->cancel();
    }
  }

  void OnReady(Direction& d, std::error_code ec) {
    if (!ec) return Pump(d);
    if (ec != asio::error::operation_aborted) return Fail(d);
    Finish(d);  // we closed the socket (reset, idle timeout)
  }

  // A reset or error on one side: reset the other (SO_LINGER 0, then close) and stop both ways.
  void Fail(Direction& d) {
    if (!closed_) {
      closed_ = true;
      CancelRateTimers();
      std::error_code ignored;
      for (asio::ip::tcp::socket* s : {&client_, &upstream_}) {
        s->set_option(asio::socket_base::linger(true, 0), ignored);
        s->close(ignored);
      }
    }
    Finish(d);
  }

  void Finish(Direction& d) {
    Release(d);
    d.finished = true;
    if (finished()) wake_.cancel();
  }

  // Returns the pipe (empty) or closes it (bytes left in it), and the buffer.
  void Release(Direction& d) {
    if (d.pipe.valid()) {
      if (d.pending == 0) {
        pipes_.Return(d.pipe);
      } else {
        PipePool::Close(d.pipe);
      }
      d.pipe = {};
    }
    d.buffer.reset();
    d.pending = 0;
    d.pipe_failed = false;
  }

  asio::ip::tcp::socket& client_;
  asio::ip::tcp::socket& upstream_;
  PipePool& pipes_;
  BufferPool& buffers_;
  asio::steady_timer& wake_;  // the coroutine waits on it: idle deadline, or cancelled when done
  RateLimiter* rate_;         // null: unlimited
  Clock::time_point last_activity_ = Clock::now();
  int queue_sample_[2] = {-1, -1};  // SIOCOUTQ of client_ and upstream_ at the last sample
  bool closed_ = false;
  bool upstream_written_;           // a write toward the upstream was made (early data included)
  bool upstream_no_delay_ = false;  // TCP_NODELAY is set on it
  Direction up_;
  Direction down_;
};

// Writes the client's early data upstream; false when that failed.
asio::awaitable<bool> AsyncForwardEarlyData(asio::ip::tcp::socket& upstream,
                                            std::vector<std::uint8_t>& early_data,
                                            Counters& counters) {
  if (!early_data.empty()) {
    auto [ec, n] = co_await asio::async_write(upstream, asio::buffer(early_data), kUseTuple);
    if (ec) co_return false;
    counters.bytes_up += early_data.size();
  }
  // Free the handshake buffer's storage too: an idle session should hold nothing but sockets.
  std::vector<std::uint8_t>().swap(early_data);
  co_return true;
}

}  // namespace

asio::awaitable<void> AsyncRelay(asio::ip::tcp::socket& client, asio::ip::tcp::socket upstream,
                                 std::vector<std::uint8_t> early_data, Counters& counters,
                                 Pools& pools, std::chrono::steady_clock::duration idle,
                                 RateLimiter* rate) {
  std::error_code ec;
  const bool early = !early_data.empty();
  if (!co_await AsyncForwardEarlyData(upstream, early_data, counters)) co_return;
  // The relay's own reads and writes need non-blocking descriptors. Asio made them so for its
  // asynchronous operations already (the handshake, the connect): skip the ioctl then.
  for (asio::ip::tcp::socket* s : {&client, &upstream}) {
    if (!s->native_non_blocking()) s->native_non_blocking(true, ec);
  }

  asio::steady_timer wake(client.get_executor());
  Relay relay(client, upstream, counters, pools, wake, rate, /*upstream_written=*/early);
  relay.Start();
  // The idle clock wakes after half the timeout without activity to sample the send queues
  // (Relay::SampleSendQueues), and again at the full timeout to compare and decide.
  const auto half = idle / 2;
  while (!relay.finished()) {
    if (relay.closed()) {
      // Once closed, only the directions' cancelled waits are left to run: wait for them.
      wake.expires_at(Clock::time_point::max());
    } else {
      auto sample_at = relay.last_activity() + half;
      wake.expires_at(Clock::now() < sample_at ? sample_at : relay.last_activity() + idle);
    }
    // Cancelled (relay finished) or expired: the state says which.
    co_await net::AsyncWait(wake);
    if (relay.finished() || relay.closed()) continue;
    if (Clock::now() - relay.last_activity() >= half) relay.SampleSendQueues();
    if (Clock::now() - relay.last_activity() >= idle) relay.Close();
  }
  client.close(ec);
  upstream.close(ec);
}

}  // namespace socks5::relay
