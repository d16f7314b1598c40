// The Asio half of UDP ASSOCIATE (RFC 1928 s.7): a client-facing socket, one outbound socket per
// family (opened on first use, wildcard-bound so routing picks the outside address), the
// reassembly and idle timers, and domain lookups through a callback. Every decision is asked of
// udp::Association; this file only moves datagrams. Runs on one io_context thread. Callback safety
// (net/async.h): handlers hold a shared_ptr (or a weak_ptr) to the relay.
#ifndef SOCKS5_RELAY_UDP_RELAY_H_
#define SOCKS5_RELAY_UDP_RELAY_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "asio.hpp"
#include "protocol/address.h"
#include "relay/rate.h"
#include "relay/udp_batch.h"
#include "udp/association.h"

namespace socks5::relay {

struct RelayOptions {
  udp::AssociationOptions association;
  // The association ends after this long without a datagram either way.
  std::chrono::steady_clock::duration idle_timeout = std::chrono::minutes(5);
  // Source addresses of the outbound sockets (session/egress.h); unset: wildcard-bound, the
  // kernel picks by route. When only one is set, targets of the other family are not reached:
  // their datagrams are dropped (drop_no_egress) and names use only that family's addresses.
  std::optional<asio::ip::address> outbound_v4;
  std::optional<asio::ip::address> outbound_v6;
  // A bandwidth cap (relay/rate.h), shared with other sessions; datagrams over it are dropped
  // (drop_rate). Null: unlimited.
  std::shared_ptr<RateLimiter> rate;
};

// Resolves a name to addresses (A and AAAA); the handler runs later on the same io_context, with
// an error or at least one address. The relay never calls it twice at once for one name. An error
// dns::Errc::kBusy or kOverBudget (a lookup cap) drops the waiting datagrams (drop_dns_busy)
// without remembering the name as unresolvable.
using ResolveHandler = std::function<void(std::error_code, std::vector<asio::ip::address>)>;
using ResolveFunction = std::function<void(const std::string& name, ResolveHandler handler)>;

class UdpRelay : public std::enable_shared_from_this<UdpRelay> {
 public:
  // `client_socket` comes from net::OpenUdpSocket (non-blocking); `control_peer` is the control
  // connection's client IP; `requested` the UDP ASSOCIATE request's DST.
  static std::shared_ptr<UdpRelay> Create(asio::ip::udp::socket client_socket,
                                          const asio::ip::address& control_peer,
                                          const protocol::Address& requested, RelayOptions options,
                                          ResolveFunction resolve);
  ~UdpRelay();

  // Relays until `control` reads EOF or fails (its data is discarded), or the idle timeout
  // passes; then closes every UDP socket, so its ports are free when this returns. Call once.
  asio::awaitable<void> AsyncRun(asio::ip::tcp::socket& control);

  const udp::Association& association() const { return association_; }
  // The relay's own counters for the access log, after udp::Association's: drop_rate with a
  // rate limit, drop_no_egress with a one-family egress. LogFields(): their text (" drop_rate=N").
  void AppendLogFields(protocol::LogRecord& out) const;
  std::string LogFields() const;
  std::uint64_t drop_rate() const { return drop_rate_; }
  std::uint64_t drop_no_egress() const { return drop_no_egress_; }

 private:
  UdpRelay(asio::ip::udp::socket client_socket, const asio::ip::address& control_peer,
           const protocol::Address& requested, RelayOptions options, ResolveFunction resolve);

  asio::awaitable<void> RunClientSide();
  asio::awaitable<void> WatchControl(asio::ip::tcp::socket& control);
  asio::awaitable<void> WatchIdle();
  static asio::awaitable<void> RunRemoteSide(std::shared_ptr<UdpRelay> self, bool v4);

  void DrainClient();
  void DrainRemote(asio::ip::udp::socket& socket);
  // The batched path (relay/udp_batch.h): one datagram of a received batch from the client, its
  // payload queued for the outbound socket while it still lies in the batch; the queues sent.
  void HandleFromClient(DatagramBatch& batch, std::size_t i);
  void QueueUp(const udp::Endpoint& target, std::span<const std::uint8_t> payload);
  void FlushUp();
  void SendUp(const udp::Endpoint& target, std::span<const std::uint8_t> payload);
  // The checks every datagram to a remote passes (egress family, rate): false, counted, drops it.
  bool MaySendUp(const udp::Endpoint& target, std::size_t bytes);
  void StartLookup(const std::string& name);
  void OnResolved(const std::string& name, std::error_code error,
                  const std::vector<asio::ip::address>& addresses);
  // The outbound socket for a family, opened on first use; null if it cannot be opened.
  asio::ip::udp::socket* Outbound(bool v4);
  // Whether the egress reaches this family (session/egress.h's Egress::Reaches).
  bool Reaches(bool v4) const;
  bool OneFamily() const {
    return options_.outbound_v4.has_value() != options_.outbound_v6.has_value();
  }
  void ArmReassemblyTimer();
  void Close();

  asio::ip::udp::socket client_socket_;
  asio::ip::udp::socket outbound_v4_;
  asio::ip::udp::socket outbound_v6_;
  asio::steady_timer reassembly_timer_;
  std::optional<udp::SteadyTime> reassembly_armed_;
  udp::IpAddress control_peer_;
  RelayOptions options_;
  ResolveFunction resolve_;
  udp::Association association_;
  udp::SteadyTime last_activity_;
  bool closed_ = false;
  std::uint64_t drop_rate_ = 0;
  std::uint64_t drop_no_egress_ = 0;
};

}  // namespace socks5::relay

#endif  // SOCKS5_RELAY_UDP_RELAY_H_
