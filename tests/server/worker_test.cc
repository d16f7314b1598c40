// A worker end to end on loopback: it listens, accepts, runs a session's handshake and CONNECT,
// relays, counts the session, and stops.
#include "server/worker.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/parse.h"

namespace socks5::server {
namespace {

using Bytes = std::vector<std::uint8_t>;

void SetReceiveTimeout(asio::ip::tcp::socket& socket) {
  timeval timeout{5, 0};  // a broken worker fails the test instead of hanging it
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

Bytes Receive(asio::ip::tcp::socket& socket, std::size_t n) {
  Bytes out(n);
  std::error_code ec;
  asio::read(socket, asio::buffer(out), ec);
  EXPECT_FALSE(ec) << ec.message();
  return out;
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.listen = {*net::ParseHostPort("127.0.0.1:0")};
    config_.dns_servers = {"127.0.0.1"};  // never asked: the test connects to an IP
    worker_ = std::make_unique<Worker>(config_, 0, sessions_);
    ASSERT_TRUE(worker_->Listen(config_.listen).ok());
    auto endpoints = worker_->LocalEndpoints();
    ASSERT_TRUE(endpoints.ok());
    ASSERT_EQ(endpoints->size(), 1u);
    proxy_ = endpoints->front();
    EXPECT_NE(proxy_.port(), 0);
  }

  Config config_;
  SessionCounter sessions_;
  std::unique_ptr<Worker> worker_;
  asio::ip::tcp::endpoint proxy_;
  asio::io_context io_;
};

TEST_F(WorkerTest, ConnectsAndRelaysThenStops) {
  asio::ip::tcp::acceptor target(io_, {asio::ip::make_address("127.0.0.1"), 0});
  worker_->Start();

  asio::ip::tcp::socket client(io_);
  client.connect(proxy_);
  SetReceiveTimeout(client);
  const std::uint16_t port = target.local_endpoint().port();
  Bytes hello = {0x05,
                 0x01,
                 0x00,
                 0x05,
                 0x01,
                 0x00,
                 0x01,
                 127,
                 0,
                 0,
                 1,
                 static_cast<std::uint8_t>(port >> 8),
                 static_cast<std::uint8_t>(port & 0xff),
                 'p',
                 'i',
                 'n',
                 'g'};
  asio::write(client, asio::buffer(hello));
  asio::ip::tcp::socket server = target.accept();
  SetReceiveTimeout(server);
  EXPECT_EQ(Receive(client, 2), (Bytes{0x05, 0x00}));
  Bytes reply = Receive(client, 10);
  EXPECT_EQ(reply[1], 0x00);                                   // succeeded
  EXPECT_EQ(Receive(server, 4), (Bytes{'p', 'i', 'n', 'g'}));  // early data went first
  asio::write(server, asio::buffer(std::string("pong")));
  EXPECT_EQ(Receive(client, 4), (Bytes{'p', 'o', 'n', 'g'}));
  EXPECT_EQ(sessions_.active.load(), 1u);

  client.close();
  server.close();
  for (int i = 0; i < 500 && sessions_.active.load() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(sessions_.active.load(), 0u);

  worker_->StopAccepting();
  worker_->Stop();
  worker_->Join();
}

TEST_F(WorkerTest, MaxSessionsClosesTheNextConnection) {
  config_.max_sessions = 1;
  worker_->Start();
  asio::ip::tcp::socket first(io_);
  first.connect(proxy_);
  asio::write(first, asio::buffer(Bytes{0x05, 0x01, 0x00}));
  SetReceiveTimeout(first);
  EXPECT_EQ(Receive(first, 2), (Bytes{0x05, 0x00}));  // the first session is open
  asio::ip::tcp::socket second(io_);
  second.connect(proxy_);
  SetReceiveTimeout(second);
  std::array<std::uint8_t, 1> byte;
  std::error_code ec;
  second.read_some(asio::buffer(byte), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  worker_->Stop();
  worker_->Join();
}

// True when the server closed `socket` (EOF or reset within the receive timeout).
bool ClosedByServer(asio::ip::tcp::socket& socket) {
  std::array<std::uint8_t, 1> byte;
  std::error_code ec;
  socket.read_some(asio::buffer(byte), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

// A negotiated session: the server has answered its greeting (so it is in its handshake).
void Greet(asio::ip::tcp::socket& socket, const asio::ip::tcp::endpoint& proxy) {
  socket.connect(proxy);
  SetReceiveTimeout(socket);
  asio::write(socket, asio::buffer(Bytes{0x05, 0x01, 0x00}));
  EXPECT_EQ(Receive(socket, 2), (Bytes{0x05, 0x00}));
}

TEST_F(WorkerTest, MaxHandshakesShedsTheOldestHandshake) {
  config_.max_sessions = 10;
  config_.max_handshakes = 2;
  worker_->Start();
  asio::ip::tcp::socket first(io_), second(io_), third(io_);
  Greet(first, proxy_);
  Greet(second, proxy_);
  Greet(third, proxy_);  // at the cap: the oldest handshake (first) is shed
  EXPECT_TRUE(ClosedByServer(first));
  // The survivors are still served: `third` completes a request (an invalid command: 07).
  asio::write(third, asio::buffer(Bytes{0x05, 0x09, 0x00, 0x01, 127, 0, 0, 1, 0, 80}));
  EXPECT_EQ(Receive(third, 2), (Bytes{0x05, 0x07}));
  worker_->Stop();
  worker_->Join();
}

TEST_F(WorkerTest, MaxSessionsPerClientClosesTheNextConnectionFromThatAddress) {
  config_.max_sessions_per_client = 2;
  worker_->Start();
  asio::ip::tcp::socket first(io_), second(io_), third(io_);
  Greet(first, proxy_);
  Greet(second, proxy_);
  third.connect(proxy_);
  SetReceiveTimeout(third);
  EXPECT_TRUE(ClosedByServer(third));
  first.close();                  // its slot is released when its session ends
  for (int i = 0; i < 50; ++i) {  // bounded: the session ends on the worker's thread
    asio::ip::tcp::socket again(io_);
    again.connect(proxy_);
    SetReceiveTimeout(again);
    asio::write(again, asio::buffer(Bytes{0x05, 0x01, 0x00}));
    std::array<std::uint8_t, 2> reply{};
    std::error_code ec;
    asio::read(again, asio::buffer(reply), ec);
    if (!ec) {
      EXPECT_EQ(reply, (std::array<std::uint8_t, 2>{0x05, 0x00}));
      break;
    }
    ASSERT_LT(i, 49) << "the per-client slot was never released";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  worker_->Stop();
  worker_->Join();
}

}  // namespace
}  // namespace socks5::server
