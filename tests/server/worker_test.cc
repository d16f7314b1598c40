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

}  // namespace
}  // namespace socks5::server
