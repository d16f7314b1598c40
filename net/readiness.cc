#include "net/readiness.h"

namespace socks5::net {
namespace readiness_detail {
namespace {

static_assert(ASIO_VERSION / 100 == 1022,
              "net/readiness.cc reaches into Asio 1.22's epoll reactor: review it");

using Reactor = asio::detail::epoll_reactor;
using DescriptorState = Reactor::descriptor_state;

// Pointers to private members, taken in the one place the language lets code outside a class
// name them: an explicit instantiation, where access is not checked ([temp.spec.general]/6).
// Each tag's Get is defined by the instantiation of Access below, in this file only.
template <typename Tag, typename Tag::type kMember>
struct Access {
  friend typename Tag::type Get(Tag) { return kMember; }
};

struct TrySpeculative {  // per operation type: whether the reactor saw an event since
  using type = bool (DescriptorState::*)[Reactor::max_ops];
  friend type Get(TrySpeculative);
};
struct ReactorMember {
  using type = Reactor* DescriptorState::*;
  friend type Get(ReactorMember);
};
using TcpImpl = asio::detail::io_object_impl<asio::detail::reactive_socket_service<asio::ip::tcp>,
                                             asio::any_io_executor>;
struct SocketImpl {  // `impl_`, protected, of the socket's base class
  using type = TcpImpl asio::basic_socket<asio::ip::tcp, asio::any_io_executor>::*;
  friend type Get(SocketImpl);
};
struct UdpSocketImpl {  // `impl_`, protected, of the socket's base class
  using type = asio::detail::io_object_impl<asio::detail::reactive_socket_service<asio::ip::udp>,
                                            asio::any_io_executor>
      asio::basic_socket<asio::ip::udp, asio::any_io_executor>::*;
  friend type Get(UdpSocketImpl);
};
struct AcceptorImpl {  // `impl_`, private
  using type = TcpImpl asio::ip::tcp::acceptor::*;
  friend type Get(AcceptorImpl);
};

template struct Access<TrySpeculative, &DescriptorState::try_speculative_>;
template struct Access<ReactorMember, &DescriptorState::reactor_>;
template struct Access<SocketImpl,
                       &asio::basic_socket<asio::ip::tcp, asio::any_io_executor>::impl_>;
template struct Access<AcceptorImpl, &asio::ip::tcp::acceptor::impl_>;
template struct Access<UdpSocketImpl,
                       &asio::basic_socket<asio::ip::udp, asio::any_io_executor>::impl_>;

void ClearSpeculative(Impl& impl, asio::socket_base::wait_type w) {
  if (impl.reactor_data_ == nullptr) return;
  (impl.reactor_data_->*Get(TrySpeculative{}))[OpType(w)] = false;
}

}  // namespace

Impl& ImplOf(asio::ip::tcp::socket& socket) {
  return (socket.*Get(SocketImpl{})).get_implementation();
}
Impl& ImplOf(asio::ip::tcp::acceptor& acceptor) {
  return (acceptor.*Get(AcceptorImpl{})).get_implementation();
}
Impl& ImplOf(asio::ip::udp::socket& socket) {
  return (socket.*Get(UdpSocketImpl{})).get_implementation();
}
Reactor& ReactorOf(Impl& impl) { return *(impl.reactor_data_->*Get(ReactorMember{})); }
int OpType(asio::socket_base::wait_type w) {
  return w == asio::socket_base::wait_write ? Reactor::write_op : Reactor::read_op;
}

}  // namespace readiness_detail

void MarkDrained(asio::ip::tcp::socket& socket, asio::socket_base::wait_type w) {
  readiness_detail::ClearSpeculative(readiness_detail::ImplOf(socket), w);
}
void MarkDrained(asio::ip::tcp::acceptor& acceptor, asio::socket_base::wait_type w) {
  readiness_detail::ClearSpeculative(readiness_detail::ImplOf(acceptor), w);
}

void MarkDrained(asio::ip::udp::socket& socket, asio::socket_base::wait_type w) {
  readiness_detail::ClearSpeculative(readiness_detail::ImplOf(socket), w);
}

bool Drained(asio::ip::tcp::socket& socket, asio::socket_base::wait_type w) {
  readiness_detail::Impl& impl = readiness_detail::ImplOf(socket);
  if (impl.reactor_data_ == nullptr) return false;
  return !(
      impl.reactor_data_->*Get(readiness_detail::TrySpeculative{}))[readiness_detail::OpType(w)];
}

}  // namespace socks5::net
