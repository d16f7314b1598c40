// The TCP relay over loopback sockets: the test plays both applications with blocking I/O while
// the relay runs on a loop thread.
#include "relay/tcp_relay.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
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
                              idle, rate_);
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
  RateLimiter* rate_ = nullptr;
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

// TCP_NODELAY on the upstream socket (by descriptor: the relay owns the socket).
bool NoDelay(int fd) {
  int on = 0;
  socklen_t length = sizeof on;
  EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &length), 0);
  return on != 0;
}

TEST_F(TcpRelayTest, UpstreamGetsNoDelayBeforeItsSecondWrite) {
  // Nagle cannot hold the first write back (nothing is unacknowledged yet): no setsockopt for it.
  const int fd = upstream_.native_handle();
  Start();
  Send(client_app_, "one");
  EXPECT_EQ(Receive(remote_app_, 3), "one");
  EXPECT_FALSE(NoDelay(fd));
  Send(client_app_, "two");
  EXPECT_EQ(Receive(remote_app_, 3), "two");
  EXPECT_TRUE(NoDelay(fd));
  client_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  remote_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  EXPECT_EQ(ReceiveAll(remote_app_), "");
  EXPECT_EQ(ReceiveAll(client_app_), "");
  Finish();
}

TEST_F(TcpRelayTest, EarlyDataIsTheFirstUpstreamWrite) {
  const int fd = upstream_.native_handle();
  Start({'e'});
  EXPECT_EQ(Receive(remote_app_, 1), "e");
  Send(client_app_, "x");
  EXPECT_EQ(Receive(remote_app_, 1), "x");
  EXPECT_TRUE(NoDelay(fd));
  client_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  remote_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  EXPECT_EQ(ReceiveAll(remote_app_), "");
  EXPECT_EQ(ReceiveAll(client_app_), "");
  Finish();
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

// A direction blocked writing to a slow reader is busy, not idle: every byte arrives although
// each of the relay's reads takes several idle timeouts to write out.
TEST_F(TcpRelayTest, SlowReaderIsNotIdle) {
  // Small kernel buffers toward the client, so the relay's writes block soon (not so small that
  // the receiver's window updates wait for the sender's persist timer).
  client_.set_option(asio::socket_base::send_buffer_size(8192));
  client_app_.set_option(asio::socket_base::receive_buffer_size(128 * 1024));
  constexpr std::size_t kSize = 2 << 20;
  std::string payload(kSize, '\0');
  for (std::size_t i = 0; i < kSize; ++i) payload[i] = static_cast<char>(i * 7 + i / 251);
  Start({}, milliseconds(300));
  std::thread writer([&] {
    std::error_code ec;
    asio::write(remote_app_, asio::buffer(payload), ec);
    remote_app_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  });
  // About 1 MiB/s: one relay read (up to 1 MiB spliced) takes about three idle timeouts.
  std::string got;
  std::array<char, 16384> chunk;
  std::error_code ec;
  while (!ec && got.size() <= kSize) {
    std::this_thread::sleep_for(milliseconds(15));
    std::size_t n = client_app_.read_some(asio::buffer(chunk), ec);
    got.append(chunk.data(), n);
  }
  writer.join();
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  EXPECT_EQ(got.size(), kSize);
  EXPECT_TRUE(got == payload);
  client_app_.close();
  Finish();
  EXPECT_EQ(counters_.bytes_down, kSize);
}

// The idle timeout with bytes still in flight (the client stopped reading) resets both sides:
// neither may take the truncated stream for a complete one.
TEST_F(TcpRelayTest, IdleTimeoutWithDataInFlightResetsBoth) {
  client_.set_option(asio::socket_base::send_buffer_size(8192));
  client_app_.set_option(asio::socket_base::receive_buffer_size(8192));
  Start({}, milliseconds(100));
  std::error_code write_ec;
  std::thread writer([&] {
    std::string payload(8 << 20, 'x');  // more than every buffer on the way holds
    asio::write(remote_app_, asio::buffer(payload), write_ec);
  });
  std::this_thread::sleep_for(milliseconds(500));  // the client reads nothing meanwhile
  std::array<char, 65536> chunk;
  std::error_code ec;
  std::size_t got = 0;
  while (!ec) got += client_app_.read_some(asio::buffer(chunk), ec);
  EXPECT_EQ(ec, asio::error::connection_reset) << ec.message() << " after " << got << " bytes";
  writer.join();
  EXPECT_TRUE(write_ec == asio::error::connection_reset || write_ec == asio::error::broken_pipe)
      << write_ec.message();
  Finish();
}

// Idle with nothing in flight stays a clean close: the FIN of IdleTimeoutClosesBoth, after data.
TEST_F(TcpRelayTest, IdleTimeoutAfterDeliveredDataIsAFin) {
  Start({}, milliseconds(100));
  Send(remote_app_, "all of it");
  EXPECT_EQ(Receive(client_app_, 9), "all of it");
  EXPECT_EQ(ReceiveAll(client_app_), "");
  std::array<char, 1> byte;
  std::error_code ec;
  client_app_.read_some(asio::buffer(byte), ec);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  Finish();
}

// Writes to `s` until it fails (the relay reset it at the end of the test).
void SendUntilError(asio::ip::tcp::socket& s) {
  std::vector<char> chunk(64 * 1024, 'r');
  for (;;) {
    std::error_code ec;
    asio::write(s, asio::buffer(chunk), ec);
    if (ec) return;
  }
}

// Bytes read from `s` within `duration` (its SO_RCVTIMEO of 5 s bounds each read).
std::uint64_t ReceiveFor(asio::ip::tcp::socket& s, std::chrono::steady_clock::duration duration) {
  const auto end = std::chrono::steady_clock::now() + duration;
  std::vector<char> chunk(256 * 1024);
  std::uint64_t total = 0;
  while (std::chrono::steady_clock::now() < end) {
    std::error_code ec;
    total += s.read_some(asio::buffer(chunk), ec);
    if (ec) break;
  }
  return total;
}

// The figure: a 10 s bulk transfer under a 1 MB/s cap moves 10 MB within 10%, and the
// bulk data still goes through splice() pipes.
TEST_F(TcpRelayTest, RateLimitHoldsOverATenSecondTransferWithSplice) {
  RateLimiter limiter(1'000'000);
  rate_ = &limiter;
  Start();
  std::thread sender([this] { SendUntilError(client_app_); });
  const std::uint64_t received = ReceiveFor(remote_app_, std::chrono::seconds(10));
  // End the relay: the remote resets, the relay resets the client, the sender's write fails.
  remote_app_.set_option(asio::socket_base::linger(true, 0));
  remote_app_.close();
  sender.join();
  Finish();
  EXPECT_GE(received, 9'000'000u);
  EXPECT_LE(received, 11'000'000u);
  EXPECT_GE(pools_.pipes.made(), 1u) << "the limited bulk transfer did not use splice()";
}

TEST_F(TcpRelayTest, RateLimitedDirectionsAreIndependentAndSmallMessagesStillFlow) {
  RateLimiter limiter(200'000);  // capacity 20,000 per direction
  rate_ = &limiter;
  Start();
  // The upload spends its bucket; the download's is untouched.
  std::string upload(20'000, 'u');
  Send(client_app_, upload);
  EXPECT_EQ(Receive(remote_app_, upload.size()), upload);
  Send(remote_app_, "pong");
  EXPECT_EQ(Receive(client_app_, 4), "pong");
  // The upload's bucket is (nearly) empty: the next bytes wait for tokens if need be, then arrive.
  Send(client_app_, "ping");
  EXPECT_EQ(Receive(remote_app_, 4), "ping");
  client_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  remote_app_.shutdown(asio::ip::tcp::socket::shutdown_send);
  EXPECT_EQ(ReceiveAll(remote_app_), "");
  EXPECT_EQ(ReceiveAll(client_app_), "");
  Finish();
  EXPECT_EQ(counters_.bytes_up, upload.size() + 4);
  EXPECT_EQ(counters_.bytes_down, 4u);
}

// A direction waiting for tokens (at 1 kB/s, a long wait) must not keep the relay alive once the
// other side resets: its timer is cancelled and the relay ends at once.
TEST_F(TcpRelayTest, ResetWhileWaitingForTokensEndsTheRelayPromptly) {
  RateLimiter limiter(1000);
  rate_ = &limiter;
  Start();
  std::string upload(20'000, 'u');  // 20 s worth
  Send(client_app_, upload);
  EXPECT_EQ(Receive(remote_app_, 1000).size(), 1000u);  // the first bucketful
  const auto before = std::chrono::steady_clock::now();
  remote_app_.set_option(asio::socket_base::linger(true, 0));
  remote_app_.close();
  Finish();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  EXPECT_LT(counters_.bytes_up, 3000u);
}

}  // namespace
}  // namespace socks5::relay
