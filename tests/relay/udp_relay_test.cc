// The Asio half in-process: real loopback sockets, one io_context run by the test, and a fake
// resolve function the test completes by hand (so lookups in flight and late completions are
// exercised deterministically).
#include "relay/udp_relay.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net/socket.h"
#include "protocol/udp_header.h"

namespace socks5::relay {
namespace {

using std::chrono::milliseconds;
using udp::Drop;

const asio::ip::address kLoopback = asio::ip::make_address("127.0.0.1");

std::vector<std::uint8_t> Datagram(const protocol::Address& dst, const std::string& data) {
  std::vector<std::uint8_t> out(protocol::kMaxUdpHeaderSize);
  out.resize(protocol::EncodeUdpHeader(protocol::UdpHeader{0, dst}, out));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

class RelayTest : public ::testing::Test {
 protected:
  struct Lookup {
    std::string name;
    ResolveHandler handler;
  };

  void SetUp() override {
    asio::ip::tcp::acceptor acceptor(io_, asio::ip::tcp::endpoint(kLoopback, 0));
    control_client_.connect(acceptor.local_endpoint());
    control_server_ = acceptor.accept();
    client_.open(asio::ip::udp::v4());
    client_.bind(asio::ip::udp::endpoint(kLoopback, 0));
    target_.open(asio::ip::udp::v4());
    target_.bind(asio::ip::udp::endpoint(kLoopback, 0));
    target_.non_blocking(true);
  }

  void Start(RelayOptions options = {}) {
    asio::ip::udp::socket socket(io_);
    ASSERT_FALSE(net::OpenUdpSocket(socket, kLoopback, nullptr));
    relay_endpoint_ = socket.local_endpoint();
    relay_ = UdpRelay::Create(std::move(socket), kLoopback, protocol::Address{}, options,
                              [this](const std::string& name, ResolveHandler handler) {
                                lookups_.push_back(Lookup{name, std::move(handler)});
                              });
    asio::co_spawn(io_, relay_->AsyncRun(control_server_), [this](std::exception_ptr e) {
      EXPECT_FALSE(e);
      finished_ = true;
    });
  }

  // Runs the loop until `done` holds or `timeout` passes; returns whether it held. `done` is
  // called once per turn (it may consume what it checks).
  bool RunUntil(const std::function<bool()>& done, milliseconds timeout = milliseconds(3000)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= end) return false;
      RunFor(milliseconds(5));
    }
  }
  // Runs the loop for a while; the loop stops whenever it runs out of work, so restart it.
  void RunFor(milliseconds duration) {
    io_.restart();
    io_.run_for(duration);
  }

  void SendFromClient(const protocol::Address& dst, const std::string& data) {
    client_.send_to(asio::buffer(Datagram(dst, data)), relay_endpoint_);
  }

  // Sends a marker to the target by IP and waits for it: the relay handles a client's datagrams
  // in order, so everything sent before the marker has been handled.
  void ProcessedUpTo() {
    SendFromClient(protocol::Address{protocol::Ipv4{127, 0, 0, 1}, target_.local_endpoint().port()},
                   "marker");
    std::vector<std::string> got;
    ASSERT_TRUE(RunUntil([&] {
      for (auto& s : TargetReceived()) got.push_back(s);
      return !got.empty();
    }));
    ASSERT_EQ(got, std::vector<std::string>{"marker"});
  }

  // Datagrams waiting at the target, in order.
  std::vector<std::string> TargetReceived() {
    std::vector<std::string> out;
    std::array<char, 2048> buffer;
    for (;;) {
      std::error_code ec;
      asio::ip::udp::endpoint from;
      std::size_t n = target_.receive_from(asio::buffer(buffer), from, 0, ec);
      if (ec) return out;
      out.emplace_back(buffer.data(), n);
    }
  }

  protocol::Address TargetByName(const std::string& name) {
    return protocol::Address{name, target_.local_endpoint().port()};
  }

  asio::io_context io_;
  asio::ip::tcp::socket control_client_{io_};
  asio::ip::tcp::socket control_server_{io_};
  asio::ip::udp::socket client_{io_};
  asio::ip::udp::socket target_{io_};
  asio::ip::udp::endpoint relay_endpoint_;
  std::shared_ptr<UdpRelay> relay_;
  std::vector<Lookup> lookups_;
  bool finished_ = false;
};

TEST_F(RelayTest, DatagramsToANameWaitForOneLookupThenGoInOrder) {
  Start();
  for (const char* data : {"one", "two", "three"}) SendFromClient(TargetByName("game.test"), data);
  ProcessedUpTo();
  ASSERT_EQ(lookups_.size(), 1u);
  EXPECT_EQ(lookups_[0].name, "game.test");
  EXPECT_TRUE(TargetReceived().empty());

  lookups_[0].handler({}, {kLoopback});
  std::vector<std::string> got;
  ASSERT_TRUE(RunUntil([&] {
    for (auto& s : TargetReceived()) got.push_back(s);
    return got.size() >= 3;
  }));
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three"}));
  SendFromClient(TargetByName("GAME.test"), "four");  // cached: no second lookup
  ASSERT_TRUE(RunUntil([&] {
    for (auto& s : TargetReceived()) got.push_back(s);
    return got.size() >= 4;
  }));
  EXPECT_EQ(lookups_.size(), 1u);
  EXPECT_EQ(relay_->association().counters().dgrams_up, 5u);  // with the marker
}

TEST_F(RelayTest, FailedLookupDropsTheQueuedDatagrams) {
  Start();
  SendFromClient(TargetByName("nx.test"), "a");
  SendFromClient(TargetByName("nx.test"), "b");
  ProcessedUpTo();
  ASSERT_EQ(lookups_.size(), 1u);
  lookups_[0].handler(std::make_error_code(std::errc::host_unreachable), {});
  EXPECT_EQ(relay_->association().counters().drop(Drop::kUnresolved), 2u);
  EXPECT_TRUE(TargetReceived().empty());
}

TEST_F(RelayTest, ControlEofEndsTheRelayAndFreesItsPort) {
  Start();
  SendFromClient(protocol::Address{protocol::Ipv4{127, 0, 0, 1}, target_.local_endpoint().port()},
                 "hello");
  ASSERT_TRUE(RunUntil([&] { return relay_->association().counters().dgrams_up == 1; }));
  control_client_.close();
  ASSERT_TRUE(RunUntil([&] { return finished_; }));
  asio::ip::udp::socket rebind(io_, asio::ip::udp::v4());
  std::error_code ec;
  rebind.bind(relay_endpoint_, ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST_F(RelayTest, LookupCompletingAfterTheRelayIsGoneIsHarmless) {
  Start();
  SendFromClient(TargetByName("slow.test"), "late");
  ASSERT_TRUE(RunUntil([&] { return !lookups_.empty(); }));
  control_client_.close();
  ASSERT_TRUE(RunUntil([&] { return finished_; }));
  std::weak_ptr<UdpRelay> weak = relay_;
  relay_.reset();
  EXPECT_TRUE(RunUntil([&] { return weak.expired(); }));
  lookups_[0].handler({}, {kLoopback});  // must not touch the destroyed relay
  EXPECT_TRUE(TargetReceived().empty());
}

TEST_F(RelayTest, BurstLargerThanOneBatchIsAllRelayedWithoutNewTraffic) {
  // 200 datagrams queue on the relay socket before the relay first runs. The relay reads a
  // bounded batch per turn; the rest must still go out with no further traffic to wake it.
  Start();
  const protocol::Address target{protocol::Ipv4{127, 0, 0, 1}, target_.local_endpoint().port()};
  constexpr int kBurst = 200;
  for (int i = 0; i < kBurst; ++i) SendFromClient(target, std::to_string(i));
  std::vector<std::string> got;
  ASSERT_TRUE(RunUntil([&] {
    for (auto& s : TargetReceived()) got.push_back(s);
    return got.size() >= kBurst;
  })) << "relayed "
      << got.size() << " of " << kBurst;
  for (int i = 0; i < kBurst; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

TEST_F(RelayTest, IdleTimeoutEndsTheRelay) {
  RelayOptions options;
  options.idle_timeout = milliseconds(100);
  auto started = std::chrono::steady_clock::now();
  Start(options);
  ASSERT_TRUE(RunUntil([&] { return finished_; }));
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(100));
}

TEST_F(RelayTest, DatagramsOverTheRateAreDroppedAndCounted) {
  RelayOptions options;
  options.rate = std::make_shared<RateLimiter>(1000);  // a 1000-byte bucket per direction
  Start(options);
  const protocol::Address target{protocol::Ipv4{127, 0, 0, 1}, target_.local_endpoint().port()};
  const std::string payload(700, 'd');
  for (int i = 0; i < 5; ++i) SendFromClient(target, payload);
  // 1000 -> 300 -> -400 (a datagram passes while the bucket is not empty); the rest are dropped.
  ASSERT_TRUE(RunUntil(
      [&] { return relay_->drop_rate() + relay_->association().counters().dgrams_up >= 5; }));
  EXPECT_EQ(relay_->association().counters().dgrams_up, 2u);
  EXPECT_EQ(relay_->drop_rate(), 3u);
  EXPECT_EQ(TargetReceived().size(), 2u);
  EXPECT_NE(relay_->LogFields().find(" drop_rate=3"), std::string::npos) << relay_->LogFields();
}

TEST_F(RelayTest, UnlimitedRelayLogsNoRateOrEgressFields) {
  Start();
  EXPECT_EQ(relay_->LogFields(), "");
}

TEST_F(RelayTest, OutboundSocketIsBoundToTheEgressAddress) {
  RelayOptions options;
  options.outbound_v4 = asio::ip::make_address("127.0.0.2");  // loopback: every 127/8 is local
  Start(options);
  SendFromClient(protocol::Address{protocol::Ipv4{127, 0, 0, 1}, target_.local_endpoint().port()},
                 "from egress");
  std::array<char, 64> buffer;
  asio::ip::udp::endpoint from;
  std::size_t n = 0;
  ASSERT_TRUE(RunUntil([&] {
    std::error_code ec;
    n = target_.receive_from(asio::buffer(buffer), from, 0, ec);
    return !ec;
  }));
  EXPECT_EQ(std::string(buffer.data(), n), "from egress");
  EXPECT_EQ(from.address(), asio::ip::make_address("127.0.0.2"));
}

TEST_F(RelayTest, OneFamilyEgressDropsTheOtherFamilyAndFiltersNames) {
  RelayOptions options;
  options.outbound_v4 = kLoopback;
  Start(options);
  SendFromClient(protocol::Address{protocol::Ipv6{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
                                   target_.local_endpoint().port()},
                 "v6");
  ProcessedUpTo();
  EXPECT_EQ(relay_->drop_no_egress(), 1u);
  // A name resolving to both families uses its IPv4 address, whatever the order.
  SendFromClient(TargetByName("dual.test"), "dual");
  ASSERT_TRUE(RunUntil([&] { return !lookups_.empty(); }));
  lookups_[0].handler({}, {asio::ip::make_address("::1"), kLoopback});
  std::vector<std::string> got;
  ASSERT_TRUE(RunUntil([&] {
    for (auto& s : TargetReceived()) got.push_back(s);
    return !got.empty();
  }));
  EXPECT_EQ(got, std::vector<std::string>{"dual"});
  // One resolving to IPv6 only is unresolved for this association.
  SendFromClient(TargetByName("v6only.test"), "lost");
  ASSERT_TRUE(RunUntil([&] { return lookups_.size() >= 2; }));
  lookups_[1].handler({}, {asio::ip::make_address("::1")});
  EXPECT_EQ(relay_->association().counters().drop(Drop::kUnresolved), 1u);
  EXPECT_NE(relay_->LogFields().find(" drop_no_egress=1"), std::string::npos);
}

// The batched path (relay/udp_batch.h) both ways: a burst of replies larger than a batch reaches
// the client in order, each with its SOCKS header, and a near-maximal datagram in the middle of
// a batch is relayed whole either way.
TEST_F(RelayTest, BatchedRepliesKeepTheirOrderAndTheirSize) {
  Start();
  const protocol::Address target{protocol::Ipv4{127, 0, 0, 1}, target_.local_endpoint().port()};
  SendFromClient(target, "hello");  // opens the association's way back from the target
  asio::ip::udp::endpoint relay_out;
  std::array<char, 2048> first;
  ASSERT_TRUE(RunUntil([&] {
    std::error_code ec;
    target_.receive_from(asio::buffer(first), relay_out, 0, ec);
    return !ec;
  }));
  constexpr int kReplies = 60;  // within a default receive buffer, the big one included
  const std::string big(60000, 'b');
  for (int i = 0; i < kReplies; ++i) {
    target_.send_to(asio::buffer(i == 30 ? big : std::to_string(i)), relay_out);
  }
  client_.non_blocking(true);
  std::vector<std::string> got;
  std::vector<std::uint8_t> buffer(70000);
  ASSERT_TRUE(RunUntil([&] {
    for (;;) {
      std::error_code ec;
      asio::ip::udp::endpoint from;
      std::size_t n = client_.receive_from(asio::buffer(buffer), from, 0, ec);
      if (ec) break;
      auto parsed = protocol::ParseUdpDatagram(std::span<const std::uint8_t>(buffer.data(), n));
      EXPECT_TRUE(parsed.has_value());
      if (parsed) got.emplace_back(parsed->payload.begin(), parsed->payload.end());
    }
    return got.size() >= kReplies;
  })) << "relayed "
      << got.size() << " of " << kReplies;
  for (int i = 0; i < kReplies; ++i) EXPECT_EQ(got[i], i == 30 ? big : std::to_string(i)) << i;
  EXPECT_EQ(relay_->association().counters().dgrams_down, static_cast<std::uint64_t>(kReplies));

  SendFromClient(target, big);  // and up: whole
  std::vector<std::uint8_t> up(70000);
  ASSERT_TRUE(RunUntil([&] {
    std::error_code ec;
    asio::ip::udp::endpoint from;
    std::size_t n = target_.receive_from(asio::buffer(up), from, 0, ec);
    if (ec) return false;
    EXPECT_EQ(std::string(up.begin(), up.begin() + static_cast<std::ptrdiff_t>(n)), big);
    return true;
  }));
}

}  // namespace
}  // namespace socks5::relay
