#include "relay/udp_relay.h"

#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "asio/experimental/awaitable_operators.hpp"
#include "dns/resolver.h"
#include "net/address.h"
#include "net/async.h"
#include "net/readiness.h"
#include "protocol/udp_header.h"

namespace socks5::relay {
namespace {

using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using net::kUseTuple;
using net::ToAsio;
using net::ToProtocol;
using udp::Association;
using udp::Drop;
using udp::Endpoint;
using udp::IpAddress;
using udp::SteadyTime;

// Downstream payloads are received behind room for the SOCKS header so it can be written in
// front without a copy.
constexpr std::size_t kHeadroom = DatagramBatch::kHeadroom;
// Datagrams taken from one socket before yielding to the loop's other work.
constexpr std::size_t kBatch = 64;

// The datagrams to remotes queued during one received batch, one queue per outbound socket;
// per worker thread (a drain sends them before it returns), so no association carries them.
struct UpQueues {
  SendQueue v4;
  SendQueue v6;
};
UpQueues& UpQueuesForThisThread() {
  thread_local UpQueues queues;
  return queues;
}
SendQueue& DownQueueForThisThread() {
  thread_local SendQueue queue;
  return queue;
}

// The remote loops report errors as values and throw nothing of their own; an exception here
// (bad_alloc) is rethrown to fail loudly rather than leave a silently dead relay.
void RethrowUnexpected(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

}  // namespace

std::shared_ptr<UdpRelay> UdpRelay::Create(asio::ip::udp::socket client_socket,
                                           const asio::ip::address& control_peer,
                                           const protocol::Address& requested, RelayOptions options,
                                           ResolveFunction resolve) {
  return std::shared_ptr<UdpRelay>(new UdpRelay(std::move(client_socket), control_peer, requested,
                                                std::move(options), std::move(resolve)));
}

UdpRelay::UdpRelay(asio::ip::udp::socket client_socket, const asio::ip::address& control_peer,
                   const protocol::Address& requested, RelayOptions options,
                   ResolveFunction resolve)
    : client_socket_(std::move(client_socket)),
      outbound_v4_(client_socket_.get_executor()),
      outbound_v6_(client_socket_.get_executor()),
      reassembly_timer_(client_socket_.get_executor()),
      control_peer_(net::ToUdpIp(control_peer)),
      options_(std::move(options)),
      resolve_(std::move(resolve)),
      association_(control_peer_, requested, options_.association),
      last_activity_(Clock::now()) {}

UdpRelay::~UdpRelay() { Close(); }

asio::awaitable<void> UdpRelay::AsyncRun(asio::ip::tcp::socket& control) {
  co_await (WatchControl(control) || WatchIdle() || RunClientSide());
  Close();
}

asio::awaitable<void> UdpRelay::WatchControl(asio::ip::tcp::socket& control) {
  // RFC 1928 s.7: the association ends when the TCP connection it arrived on ends. The client
  // has nothing more to say on it; whatever it sends is discarded.
  std::array<std::uint8_t, 512> sink;
  for (;;) {
    auto result = co_await control.async_read_some(asio::buffer(sink), kUseTuple);
    if (std::get<0>(result)) co_return;
  }
}

asio::awaitable<void> UdpRelay::WatchIdle() {
  asio::steady_timer timer(client_socket_.get_executor());
  for (;;) {
    timer.expires_at(last_activity_ + options_.idle_timeout);
    auto waited = co_await timer.async_wait(kUseTuple);
    if (std::get<0>(waited)) co_return;  // cancelled: the association ended otherwise
    if (Clock::now() - last_activity_ >= options_.idle_timeout) co_return;
  }
}

asio::awaitable<void> UdpRelay::RunClientSide() {
  for (;;) {
    auto waited =
        co_await net::AsyncWaitReady(client_socket_, asio::socket_base::wait_read, kUseTuple);
    if (std::get<0>(waited) || closed_) co_return;
    DrainClient();
  }
}

asio::awaitable<void> UdpRelay::RunRemoteSide(std::shared_ptr<UdpRelay> self, bool v4) {
  asio::ip::udp::socket& socket = v4 ? self->outbound_v4_ : self->outbound_v6_;
  for (;;) {
    auto waited = co_await net::AsyncWaitReady(socket, asio::socket_base::wait_read, kUseTuple);
    if (std::get<0>(waited) || self->closed_) co_return;
    self->DrainRemote(socket);
  }
}

// One recvmmsg takes what is waiting (up to kUdpBatchSlots), one sendmmsg per outbound socket
// sends what it yields, in arrival order: a flow is never reordered, and a lone datagram costs the
// same two calls as before (no waiting for a batch to fill). A batch shorter than asked means the
// socket was empty (UDP has no end of stream to find), so no read is spent on EAGAIN, and the
// next wait needs no epoll_ctl (net/readiness.h). A drain that stops at its turn's limit leaves
// the socket unmarked: the next wait completes at once.
void UdpRelay::DrainClient() {
  DatagramBatch& batch = DatagramBatch::ForThisThread();
  std::size_t taken = 0;
  while (taken < kBatch && !closed_) {
    std::error_code ec;
    const std::size_t n = batch.Receive(client_socket_.native_handle(), 0, ec);
    if (ec) {  // e.g. a queued ICMP error: the next datagram is unaffected
      ++taken;
      continue;
    }
    for (std::size_t i = 0; i < n && !closed_; ++i) HandleFromClient(batch, i);
    FlushUp();  // before the next Receive overwrites the payloads
    taken += n;
    if (n < kUdpBatchSlots) return net::MarkDrained(client_socket_, asio::socket_base::wait_read);
  }
}

void UdpRelay::HandleFromClient(DatagramBatch& batch, std::size_t i) {
  const Endpoint source = net::ToUdpEndpoint(batch.from(i));
  if (source.ip == control_peer_) last_activity_ = Clock::now();
  const std::span<const std::uint8_t> datagram(batch.data(i), batch.size(i));
  const Association::Step step = association_.FromClient(source, datagram, Clock::now());
  switch (step.kind) {
    case Association::Step::Kind::kNone:
      break;
    case Association::Step::Kind::kSend:
      if (batch.Holds(i, step.payload)) {
        QueueUp(step.target, step.payload);
      } else {
        // Reassembled: the payload lives in the association until its next datagram. Sent now,
        // after what was queued before it.
        FlushUp();
        SendUp(step.target, step.payload);
      }
      break;
    case Association::Step::Kind::kResolve:
      FlushUp();  // a lookup answered at once sends its datagrams now, after the earlier ones
      StartLookup(step.name);
      break;
  }
  ArmReassemblyTimer();
}

void UdpRelay::QueueUp(const Endpoint& target, std::span<const std::uint8_t> payload) {
  if (!MaySendUp(target, payload.size())) return;
  if (!Outbound(target.ip.is_v4())) {
    association_.CountDrop(Drop::kSendError);
    return;
  }
  UpQueues& queues = UpQueuesForThisThread();
  SendQueue& queue = target.ip.is_v4() ? queues.v4 : queues.v6;
  if (queue.full()) FlushUp();
  queue.Add(target, payload, payload.size());
}

void UdpRelay::FlushUp() {
  UpQueues& queues = UpQueuesForThisThread();
  for (bool v4 : {true, false}) {
    SendQueue& queue = v4 ? queues.v4 : queues.v6;
    if (queue.empty()) continue;
    asio::ip::udp::socket& socket = v4 ? outbound_v4_ : outbound_v6_;
    // Closed meanwhile (the association ended): -1 fails every send, each counted.
    queue.Flush(socket.is_open() ? socket.native_handle() : -1,
                [this](const Endpoint& target, std::size_t bytes, const std::error_code& ec) {
                  if (!ec) {
                    association_.Sent(target, bytes);
                  } else {
                    association_.CountDrop(ec == std::errc::message_size ? Drop::kTooBig
                                                                         : Drop::kSendError);
                  }
                });
  }
}

void UdpRelay::DrainRemote(asio::ip::udp::socket& socket) {
  DatagramBatch& batch = DatagramBatch::ForThisThread();
  SendQueue& down = DownQueueForThisThread();
  std::size_t taken = 0;
  while (taken < kBatch && !closed_) {
    std::error_code ec;
    const std::size_t n = batch.Receive(socket.native_handle(), kHeadroom, ec);
    if (ec) {
      ++taken;
      continue;
    }
    std::optional<Endpoint> client;
    for (std::size_t i = 0; i < n && !closed_; ++i) {
      const Endpoint source = net::ToUdpEndpoint(batch.from(i));
      client = association_.FromRemote(source);
      if (!client) continue;
      const std::size_t size = batch.size(i);
      last_activity_ = Clock::now();
      if (options_.rate && !options_.rate->Admit(RateDirection::kDown, size, last_activity_)) {
        ++drop_rate_;
        continue;
      }
      // RFC 1928 s.7: the reply carries a header naming the remote, FRAG 00 (docs/conformance.md
      // F5), written in the headroom in front of the payload.
      std::array<std::uint8_t, protocol::kMaxUdpHeaderSize> header;
      std::size_t h = protocol::EncodeUdpHeader(protocol::UdpHeader{0, ToProtocol(source)}, header);
      std::uint8_t* payload = batch.data(i);
      std::memcpy(payload - h, header.data(), h);
      down.Add(*client, std::span<const std::uint8_t>(payload - h, h + size), size);
    }
    if (!down.empty()) {
      down.Flush(client_socket_.is_open() ? client_socket_.native_handle() : -1,
                 [this](const Endpoint&, std::size_t bytes, const std::error_code& send_ec) {
                   if (send_ec == std::errc::message_size) {
                     association_.CountDrop(Drop::kTooBig);  // payload plus header too big
                   } else if (send_ec) {
                     association_.CountDrop(Drop::kSendError);
                   } else {
                     association_.Delivered(bytes);
                   }
                 });
    }
    taken += n;
    if (n < kUdpBatchSlots) return net::MarkDrained(socket, asio::socket_base::wait_read);
  }
}

bool UdpRelay::MaySendUp(const Endpoint& target, std::size_t bytes) {
  if (!Reaches(target.ip.is_v4())) {
    ++drop_no_egress_;
    return false;
  }
  if (options_.rate && !options_.rate->Admit(RateDirection::kUp, bytes, Clock::now())) {
    ++drop_rate_;
    return false;
  }
  return true;
}

void UdpRelay::SendUp(const Endpoint& target, std::span<const std::uint8_t> payload) {
  if (!MaySendUp(target, payload.size())) return;
  asio::ip::udp::socket* socket = Outbound(target.ip.is_v4());
  if (!socket) {
    association_.CountDrop(Drop::kSendError);
    return;
  }
  std::error_code ec;
  socket->send_to(asio::buffer(payload.data(), payload.size()), ToAsio(target), 0, ec);
  if (ec) {
    association_.CountDrop(ec == asio::error::message_size ? Drop::kTooBig : Drop::kSendError);
    return;
  }
  association_.Sent(target, payload.size());
}

asio::ip::udp::socket* UdpRelay::Outbound(bool v4) {
  asio::ip::udp::socket& socket = v4 ? outbound_v4_ : outbound_v6_;
  if (socket.is_open()) return &socket;
  if (closed_) return nullptr;
  // Bound to the family's egress address when there is one; else wildcard-bound: the kernel
  // picks the source address by route toward each target, which is the proxy's outside address.
  // Either way replies come back to this socket.
  const std::optional<asio::ip::address>& egress = v4 ? options_.outbound_v4 : options_.outbound_v6;
  const asio::ip::address local = egress ? *egress
                                         : (v4 ? asio::ip::address(asio::ip::address_v4::any())
                                               : asio::ip::address(asio::ip::address_v6::any()));
  std::error_code ec;
  socket.open(v4 ? asio::ip::udp::v4() : asio::ip::udp::v6(), ec);
  if (!ec && !v4) socket.set_option(asio::ip::v6_only(true), ec);
  if (!ec) socket.bind(asio::ip::udp::endpoint(local, 0), ec);
  if (!ec) socket.non_blocking(true, ec);
  if (ec) {
    std::error_code ignored;
    socket.close(ignored);
    return nullptr;
  }
  asio::co_spawn(socket.get_executor(), RunRemoteSide(shared_from_this(), v4), RethrowUnexpected);
  return &socket;
}

void UdpRelay::StartLookup(const std::string& name) {
  std::weak_ptr<UdpRelay> weak = weak_from_this();
  resolve_(name,
           [weak, name](std::error_code error, const std::vector<asio::ip::address>& addresses) {
             // The lookup may finish after the association ended.
             std::shared_ptr<UdpRelay> self = weak.lock();
             if (self && !self->closed_) self->OnResolved(name, error, addresses);
           });
}

void UdpRelay::OnResolved(const std::string& name, std::error_code error,
                          const std::vector<asio::ip::address>& addresses) {
  std::vector<IpAddress> ips;
  if (!error) {
    for (const auto& address : addresses) {
      IpAddress ip = net::ToUdpIp(address);
      // A one-family egress: only that family's addresses are candidates (none: unresolved).
      if (Reaches(ip.is_v4())) ips.push_back(ip);
    }
  }
  // Refused at once by the worker's or the association's lookup cap: a drop, not "not found".
  const bool busy = error == dns::Errc::kBusy || error == dns::Errc::kOverBudget;
  for (const Association::Outbound& out : association_.Resolved(name, ips, Clock::now(), busy)) {
    SendUp(out.target, out.payload);
  }
}

bool UdpRelay::Reaches(bool v4) const {
  if (!OneFamily()) return true;
  return v4 ? options_.outbound_v4.has_value() : options_.outbound_v6.has_value();
}

std::string UdpRelay::LogFields() const {
  protocol::LogRecord record;
  AppendLogFields(record);
  return record.Text();
}

void UdpRelay::AppendLogFields(protocol::LogRecord& out) const {
  if (options_.rate) out.Add("drop_rate", std::uint64_t{drop_rate_});
  if (OneFamily()) out.Add("drop_no_egress", std::uint64_t{drop_no_egress_});
}

void UdpRelay::ArmReassemblyTimer() {
  std::optional<SteadyTime> expiry = association_.ReassemblyExpiry();
  if (!expiry || expiry == reassembly_armed_ || closed_) return;
  reassembly_armed_ = expiry;
  reassembly_timer_.expires_at(*expiry);
  std::weak_ptr<UdpRelay> weak = weak_from_this();
  reassembly_timer_.async_wait([weak](std::error_code ec) {
    if (ec) return;  // re-armed or closed
    std::shared_ptr<UdpRelay> self = weak.lock();
    if (!self || self->closed_) return;
    self->reassembly_armed_.reset();
    self->association_.OnReassemblyTimer(Clock::now());
    self->ArmReassemblyTimer();
  });
}

void UdpRelay::Close() {
  closed_ = true;
  std::error_code ignored;
  reassembly_timer_.cancel();
  client_socket_.close(ignored);
  outbound_v4_.close(ignored);
  outbound_v6_.close(ignored);
}

}  // namespace socks5::relay
