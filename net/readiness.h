// Readiness waits without an epoll_ctl per wait.
//
// Asio 1.22's epoll reactor registers a socket once (EPOLL_CTL_ADD, edge-triggered), but every
// async_wait re-arms it with EPOLL_CTL_MOD, so that the wait also reports readiness that is
// already there (an edge the reactor saw while nothing waited). A caller that has just drained
// the socket itself (a read, write or accept returned EAGAIN) needs no re-arm: the kernel raises
// a new edge when the socket changes. The reactor already tracks, per socket and direction,
// whether it has seen an event ("try speculative"); these functions clear that flag when the
// caller drained the socket and wait without epoll_ctl while it stays clear. They reach into
// Asio 1.22's reactor state (pinned by a static_assert) and must run on the one thread that runs
// the socket's io_context (one per worker here).
#ifndef SOCKS5_NET_READINESS_H_
#define SOCKS5_NET_READINESS_H_

#include <memory>
#include <system_error>
#include <utility>

#include "asio.hpp"

namespace socks5::net {
namespace readiness_detail {

using Impl = asio::detail::reactive_socket_service_base::base_implementation_type;
Impl& ImplOf(asio::ip::tcp::socket& socket);
Impl& ImplOf(asio::ip::tcp::acceptor& acceptor);
Impl& ImplOf(asio::ip::udp::socket& socket);
// The reactor `impl` (open, registered) is registered with.
asio::detail::epoll_reactor& ReactorOf(Impl& impl);
int OpType(asio::socket_base::wait_type w);

// Per-operation cancellation (a cancellation slot on the handler, e.g. the awaitable `||`), as
// Asio's own async_wait does it: removes the wait from the reactor's queue, completing it with
// operation_aborted.
class WaitCancellation {
 public:
  WaitCancellation(Impl& impl, int op_type) : impl_(impl), op_type_(op_type) {}
  void operator()(asio::cancellation_type_t type) {
    if (!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                  asio::cancellation_type::total))) {
      return;
    }
    if (impl_.reactor_data_ == nullptr) return;  // closed: the close cancelled the wait already
    ReactorOf(impl_).cancel_ops_by_key(impl_.socket_, impl_.reactor_data_, op_type_, this);
  }

 private:
  Impl& impl_;
  int op_type_;
};

template <typename Object, typename Handler>
void StartWaitReady(Object& object, asio::socket_base::wait_type w, Handler handler) {
  Impl& impl = ImplOf(object);
  if (impl.reactor_data_ == nullptr) {  // closed: fail as Asio's own wait would
    asio::post(object.get_executor(),
               [h = std::move(handler)]() mutable { h(asio::error::bad_descriptor); });
    return;
  }
  using Op = asio::detail::reactive_wait_op<Handler, typename Object::executor_type>;
  typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
  auto slot = asio::get_associated_cancellation_slot(handler);
  p.p = new (p.v) Op(std::error_code(), handler, object.get_executor());
  if (slot.is_connected()) {
    p.p->cancellation_key_ = &slot.template emplace<WaitCancellation>(impl, OpType(w));
  }
  // Speculative: the reactor completes the wait at once when its flag says an event came.
  ReactorOf(impl).start_op(OpType(w), impl.socket_, impl.reactor_data_, p.p,
                           /*is_continuation=*/false, /*allow_speculative=*/true);
  p.v = p.p = nullptr;
}

}  // namespace readiness_detail

// Records that `object` (an open socket or acceptor) has nothing left for `w`: the caller's
// read/accept (wait_read) or write (wait_write) has just returned EAGAIN (for UDP also: a batch
// read took fewer datagrams than it asked for), or the socket is new and unconnected (nothing can
// have arrived). Any event the reactor sees later undoes it.
void MarkDrained(asio::ip::tcp::socket& socket, asio::socket_base::wait_type w);
void MarkDrained(asio::ip::tcp::acceptor& acceptor, asio::socket_base::wait_type w);
void MarkDrained(asio::ip::udp::socket& socket, asio::socket_base::wait_type w);

// Whether the reactor has seen no event for `w` on `socket` since MarkDrained (false for a closed
// socket). For wait_read the events that count are EPOLLIN, EPOLLERR and EPOLLHUP.
bool Drained(asio::ip::tcp::socket& socket, asio::socket_base::wait_type w);

// Waits until `object` is ready for `w` (wait_read or wait_write) and calls handler(error_code):
// when the reactor has seen no event since MarkDrained, without a system call (the registration
// stands; the next edge completes it; for wait_write the first such wait adds EPOLLOUT to the
// registration once); otherwise the handler runs at once (posted, never inside this call) and
// the caller tries its read or write, which drains the socket again. Closing `object` cancels the
// wait (operation_aborted).
template <typename Object, typename Token>
auto AsyncWaitReady(Object& object, asio::socket_base::wait_type w, Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [&object, w](auto handler) {
        readiness_detail::StartWaitReady(object, w, std::move(handler));
      },
      token);
}

}  // namespace socks5::net

#endif  // SOCKS5_NET_READINESS_H_
