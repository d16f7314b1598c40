// UDP ASSOCIATE (RFC 1928 s.4, s.7): opens the relay socket on the control connection's local
// address, answers with the address clients send to, and runs the relay (udp/relay.h) until the
// control connection closes or the association idles out.
#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/handlers.h"
#include "server/log.h"
#include "server/net.h"
#include "server/worker.h"
#include "udp/relay.h"

namespace socks5::server {
namespace {

// The worker thread's picker for --udp_port_range, so that successive associations spread over
// the range; workers start at different offsets.
udp::PortPicker* PickerFor(Worker& worker) {
  const Config& config = worker.config();
  if (!config.udp_port_range) return nullptr;
  thread_local std::optional<udp::PortPicker> picker;
  if (!picker || picker->range() != *config.udp_port_range) {
    const std::size_t workers = static_cast<std::size_t>(std::max(config.workers, 1));
    picker.emplace(*config.udp_port_range, static_cast<std::size_t>(worker.index()) *
                                               config.udp_port_range->size() / workers);
  }
  return &*picker;
}

asio::ip::address ToAsio(const udp::IpAddress& ip) {
  if (const auto* v4 = ip.v4()) return asio::ip::address_v4(*v4);
  return asio::ip::address_v6(*ip.v6());
}

udp::RelayOptions RelayOptionsFor(const Config& config) {
  udp::RelayOptions options;
  options.association.reply_policy = config.udp_reply_policy;
  options.association.reassembly.timeout = absl::ToChronoNanoseconds(config.udp_reassembly_timeout);
  if (!config.deny_destinations.empty()) {
    // The config outlives every session of the server.
    options.association.denied = [&config](const udp::IpAddress& ip) {
      return config.IsDenied(ToAsio(ip));
    };
  }
  options.idle_timeout = absl::ToChronoNanoseconds(config.udp_idle_timeout);
  return options;
}

// Copies the relay's counters into the access-log record when the handler ends, including when
// its coroutine is destroyed mid-association (the worker stopping at shutdown).
class RecordOnExit {
 public:
  RecordOnExit(Session& session, const udp::UdpRelay& relay, const asio::ip::udp::endpoint& bound)
      : session_(session), relay_(relay), bound_(bound) {}
  RecordOnExit(const RecordOnExit&) = delete;
  RecordOnExit& operator=(const RecordOnExit&) = delete;
  ~RecordOnExit() {
    const udp::Association& association = relay_.association();
    session_.bytes_up = association.counters().bytes_up;
    session_.bytes_down = association.counters().bytes_down;
    session_.extra = absl::StrCat(" relay=", FromAsio(bound_.address(), bound_.port()).ToString(),
                                  association.LogFields());
  }

 private:
  Session& session_;
  const udp::UdpRelay& relay_;
  asio::ip::udp::endpoint bound_;
};

}  // namespace

asio::awaitable<void> RunUdpAssociate(Session& session, protocol::Request request) {
  Worker& worker = session.worker;
  const Config& config = worker.config();

  // The relay listens where the client already reaches us: the control connection's local address.
  std::error_code ec;
  asio::ip::tcp::endpoint local = session.client.local_endpoint(ec);
  if (ec) co_return co_await AsyncFailAndClose(session, protocol::Reply::kGeneralFailure);
  asio::ip::udp::socket socket(worker.io());
  ec = udp::OpenRelaySocket(socket, Unmapped(local.address()), PickerFor(worker));
  asio::ip::udp::endpoint bound;
  if (!ec) bound = socket.local_endpoint(ec);
  if (ec) {
    LogWarning("UDP ASSOCIATE: cannot open a relay socket on %s%s: %s",
               Unmapped(local.address()).to_string(),
               config.udp_port_range ? absl::StrCat(" in ", config.udp_port_range->ToString()) : "",
               ec.message());
    co_return co_await AsyncFailAndClose(session, ReplyForError(ec));
  }

  dns::Resolver& resolver = worker.resolver();
  std::shared_ptr<udp::UdpRelay> relay = udp::UdpRelay::Create(
      std::move(socket), session.client_endpoint.address(), request.destination,
      RelayOptionsFor(config), [&resolver](const std::string& name, udp::ResolveHandler handler) {
        // The worker's resolver outlives its sessions, and it caches and coalesces.
        resolver.Resolve(name, std::move(handler));
      });

  const asio::ip::address advertised = config.advertise_address.value_or(bound.address());
  const protocol::Address relay_address = FromAsio(advertised, bound.port());
  if (!co_await AsyncSendReply(session, protocol::Reply::kSucceeded, relay_address)) co_return;

  RecordOnExit record(session, *relay, bound);
  co_await relay->AsyncRun(session.client);
  session.client.close(ec);
}

}  // namespace socks5::server
