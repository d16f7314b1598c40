// The TCP relay over loopback sockets: the test plays both applications with blocking I/O while
// the relay runs on a loop thread.
#include "relay/tcp_relay.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace socks5::relay {
namespace {

using std::chrono::milliseconds;

class TcpRelayTest : public ::testing::Test {
 protected:
  // client_app_ <-> client_ and upstream_ <-> remote_app_, then the relay joins the middle.
  void SetUp() override {
    Pair(client_app_, client_);
    Pair(remote_app_, upstream_);
  }

  void Start(std::vector<std::uint8_t> early_data = {}, milliseconds idle = milliseconds(5000)) {
    asio::co_spawn(
        io_,
        [this, early = std::move(early_data), idle]() mutable -> asio::awaitable<void> {
          co_await AsyncRelay(client_, std::move(upstream_), std::move(early), counters_, pools_,
                              idle);
          done_ = true;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    thread_ = std::thread([this] { io_.run(); });
  }
  void Finish() {
    thread_.join();
    ASSERT_TRUE(done_);
  }

  void Pair(asio::ip::tcp::socket& app, asio::ip::tcp::socket& relay_side) {
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    app.connect(acceptor.local_endpoint());
    timeval timeout{5, 0};  // a stuck relay fails the test instead of hanging it
    ::setsockopt(app.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    relay_side = acceptor.accept();
  }

  static void Send(asio::ip::tcp::socket& s, const std::string& text) {
    asio::write(s, asio::buffer(text));
  }
  static std::string Receive(asio::ip::tcp::socket& s, std::size_t n) {
    std::string out(n, '\0');
    std::error_code ec;
    std::size_t got = asio::read(s, asio::buffer(out), ec);
    out.resize(got);
    return out;
  }
  // Reads until EOF; what came before it.
  static std::string ReceiveAll(asio::ip::tcp::socket& s) {
    std::string out;
    std::array<char, 65536> chunk;
    for (;;) {
      std::error_code ec;
      std::size_t n = s.read_some(asio::buffer(chunk), ec);
      out.append(chunk.data(), n);
      if (ec) return out;
    }
  }

  asio::io_context io_;
  asio::ip::tcp::socket client_{io_};
  asio::ip::tcp::socket upstream_{io_};
  asio::io_context app_io_;
  asio::ip::tcp::socket client_app_{app_io_};
  asio::ip::tcp::socket remote_app_{app_io_};
  Counters counters_;
  Pools pools_;
  std::thread thread_;
  bool done_ = false;
};

TEST_F(TcpRelayTest, EarlyDataGoesFirstAndBytesAreCounted) {
  Start({'e', 'a', 'r', 'l', 'y'});
  Send(client_app_, "hello");
  EXPECT_EQ(Receive(remote_app_, 10), "earlyhello");
  Send(remote_app_, "pong");
  EXPECT_EQ(Receive(client_app_, 4), "pong");
  client_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  remote_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  EXPECT_EQ(ReceiveAll(remote_app_), "");
  EXPECT_EQ(ReceiveAll(client_app_), "");
  Finish();
  EXPECT_EQ(counters_.bytes_up, 10u);
  EXPECT_EQ(counters_.bytes_down, 4u);
}

TEST_F(TcpRelayTest, HalfCloseKeepsTheOtherDirectionFlowing) {
  Start();
  Send(client_app_, "request");
  client_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  // The remote sees the request, then the FIN...
  EXPECT_EQ(ReceiveAll(remote_app_), "request");
  // ...and can still answer at length after it.
  std::string answer(300 * 1024, 'x');
  Send(remote_app_, answer);
  remote_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  EXPECT_EQ(ReceiveAll(client_app_).size(), answer.size());
  Finish();
  EXPECT_EQ(counters_.bytes_up, 7u);
  EXPECT_EQ(counters_.bytes_down, answer.size());
  EXPECT_FALSE(client_.is_open());
}

TEST_F(TcpRelayTest, BulkTransferThroughPipesArrivesWhole) {
  Start();
  std::string bulk(4 << 20, '\0');
  for (std::size_t i = 0; i < bulk.size(); ++i) bulk[i] = static_cast<char>(i * 7);
  std::thread sender([&] {
    Send(client_app_, bulk);
    client_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  });
  std::string got = ReceiveAll(remote_app_);
  sender.join();
  EXPECT_TRUE(got == bulk) << "received " << got.size() << " of " << bulk.size() << " bytes";
  remote_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  EXPECT_EQ(ReceiveAll(client_app_), "");
  Finish();
  EXPECT_EQ(counters_.bytes_up, bulk.size());
}

TEST_F(TcpRelayTest, ResetOnOneSideResetsTheOther) {
  Start();
  Send(client_app_, "x");
  EXPECT_EQ(Receive(remote_app_, 1), "x");
  remote_app_.set_option(asio::socket_base::linger(true, 0));
  remote_app_.close();  // RST toward the relay
  std::array<char, 16> buffer;
  std::error_code ec;
  client_app_.read_some(asio::buffer(buffer), ec);
  EXPECT_EQ(ec, asio::error::connection_reset) << ec.message();
  Finish();
}

TEST_F(TcpRelayTest, IdleTimeoutClosesBoth) {
  auto start = std::chrono::steady_clock::now();
  Start({}, milliseconds(100));
  EXPECT_EQ(ReceiveAll(client_app_), "");
  EXPECT_EQ(ReceiveAll(remote_app_), "");
  Finish();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace socks5::relay
