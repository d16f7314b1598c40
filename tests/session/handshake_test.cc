// The handshake over a loopback socket pair: the test plays the client with blocking I/O while
// the worker-side loop runs AsyncHandshake on a thread.
#include "session/handshake.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/address.h"
#include "net/async.h"
#include "net/parse.h"
#include "session/verifier.h"

namespace socks5::session {
namespace {

using Bytes = std::vector<std::uint8_t>;

class OneUser : public Credentials {
 public:
  bool Check(absl::string_view user, absl::string_view password) const override {
    return user == "alice" && password == "secret";
  }
  bool Contains(absl::string_view user) const override { return user == "alice"; }
};

// alice:secret, slow: checked on the verifier's threads (it records which thread).
class SlowUser : public OneUser {
 public:
  bool Check(absl::string_view user, absl::string_view password) const override {
    checked_on_ = std::this_thread::get_id();
    return OneUser::Check(user, password);
  }
  bool slow() const override { return true; }
  mutable std::atomic<std::thread::id> checked_on_{};
};

class HandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dns::ResolverOptions options;
    options.servers = {"127.0.0.1"};  // never asked: the handshake resolves nothing
    resolver_ = std::move(*dns::Resolver::Create(io_, options));
    settings_.handshake_timeout = absl::Seconds(5);
  }
  void TearDown() override {
    if (verifier_) verifier_->Stop();
    session_.reset();
    context_.reset();
    resolver_.reset();
  }

  // The users sessions started from now on see (session/policy.h).
  void UseUsers(std::shared_ptr<const Credentials> users) {
    Policy policy;
    policy.users = std::move(users);
    store_->Replace(std::move(policy));
  }

  // Connects the test's client to a session on the loop and runs the handshake on a thread.
  void Start() {
    context_ = std::make_unique<Context>(settings_, io_, *resolver_, active_, 0, 1);
    context_->verifier = verifier_.get();
    context_->policies = store_;
    asio::ip::tcp::acceptor acceptor(io_, {asio::ip::make_address("127.0.0.1"), 0});
    client_.connect(acceptor.local_endpoint());
    timeval timeout{5, 0};  // a broken handshake fails the test instead of hanging it
    ::setsockopt(client_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    session_ = std::make_unique<Session>(*context_, acceptor.accept());
    asio::co_spawn(
        io_,
        [this]() -> asio::awaitable<void> {
          request_ = co_await AsyncHandshake(*session_);
          done_ = true;
        },
        [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);
        });
    thread_ = std::thread([this] { io_.run(); });
  }
  // Waits for the handshake coroutine to end.
  void Finish() {
    thread_.join();
    ASSERT_TRUE(done_);
  }

  void Send(const Bytes& bytes) { asio::write(client_, asio::buffer(bytes)); }
  Bytes Receive(std::size_t n) {
    Bytes out(n);
    std::error_code ec;
    asio::read(client_, asio::buffer(out), ec);
    EXPECT_FALSE(ec) << ec.message();
    return out;
  }
  // True when the server closed the connection (EOF) with nothing more to read.
  bool ClosedByServer() {
    std::uint8_t byte;
    std::error_code ec;
    std::size_t n = client_.read_some(asio::buffer(&byte, 1), ec);
    return n == 0 && (ec == asio::error::eof || ec == asio::error::connection_reset);
  }

  static Bytes ConnectRequest() { return {0x05, 0x01, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50}; }

  asio::io_context io_;
  std::unique_ptr<dns::Resolver> resolver_;
  Settings settings_;
  std::shared_ptr<PolicyStore> store_ = std::make_shared<PolicyStore>();
  std::atomic<std::size_t> active_{0};
  std::unique_ptr<Context> context_;
  std::unique_ptr<Session> session_;
  asio::io_context client_io_;
  asio::ip::tcp::socket client_{client_io_};
  std::thread thread_;
  std::optional<protocol::Request> request_;
  bool done_ = false;
  std::unique_ptr<Verifier> verifier_;  // null: checks run inline
};

TEST_F(HandshakeTest, NoAuthRequestAndPipelinedEarlyData) {
  Start();
  Bytes all = {0x05, 0x01, 0x00};
  Bytes request = ConnectRequest();
  all.insert(all.end(), request.begin(), request.end());
  all.insert(all.end(), {'h', 'i'});
  Send(all);  // greeting, request and data in one segment
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x00}));
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(request_->command, protocol::Command::kConnect);
  EXPECT_EQ(request_->destination.ToString(), "127.0.0.1:80");
  EXPECT_EQ(session_->early_data(), (Bytes{'h', 'i'}));
  EXPECT_STREQ(session_->record().command, "CONNECT");
  EXPECT_EQ(session_->record().target, "127.0.0.1:80");
  EXPECT_EQ(active_.load(), 1u);
}

TEST_F(HandshakeTest, UsernamePasswordAccepted) {
  UseUsers(std::make_shared<OneUser>());
  Start();
  Send({0x05, 0x02, 0x00, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', 'e', 'c', 'r', 'e', 't'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x00}));
  Send(ConnectRequest());
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(session_->record().user, "alice");
  EXPECT_FALSE(session_->record().user_rejected);
  EXPECT_TRUE(session_->early_data().empty());
}

// Without a users file (issue 13, docs/conformance.md T4): 02 offered alone is selected and any
// credentials pass, the name recorded (escaped for the log) for the rules and the user cap.
TEST_F(HandshakeTest, UserPassOnlyWithoutUsersAcceptsAnyCredentials) {
  Start();
  Send({0x05, 0x01, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 4, 't', 'o', 'r', 0x01, 1, '0'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x00}));
  Send(ConnectRequest());
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(session_->record().user, "tor\\x01");
  ASSERT_TRUE(session_->user().has_value());
  EXPECT_EQ(*session_->user(), std::string("tor\x01"));
  EXPECT_FALSE(session_->record().user_rejected);
}

TEST_F(HandshakeTest, WithoutUsersNoAuthIsPreferredUnlessAcceptAnyCredentials) {
  Start();
  Send({0x05, 0x02, 0x02, 0x00});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x00}));
  Send(ConnectRequest());
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_FALSE(session_->user().has_value());
}

TEST_F(HandshakeTest, AcceptAnyCredentialsSelectsUserPassWhenOffered) {
  settings_.accept_any_credentials = true;
  Start();
  Send({0x05, 0x02, 0x00, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 1, 'u', 1, 'p'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x00}));
  Send(ConnectRequest());
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(session_->record().user, "u");
}

TEST_F(HandshakeTest, MalformedCredentialsWithoutUsersAreRefused) {
  Start();
  Send({0x05, 0x01, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 0, 1, 'p'});  // ULEN 0 (docs/conformance.md B4)
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x01}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_FALSE(session_->user().has_value());
}

class NoOne : public Credentials {
 public:
  bool Check(absl::string_view, absl::string_view) const override { return false; }
  bool Contains(absl::string_view) const override { return false; }
};

TEST_F(HandshakeTest, ReloadDuringTheHandshakeKeepsTheUsersItStartedWith) {
  UseUsers(std::make_shared<OneUser>());
  Start();
  Send({0x05, 0x01, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  UseUsers(std::make_shared<NoOne>());  // a reload that removes alice, mid-handshake
  Send({0x01, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', 'e', 'c', 'r', 'e', 't'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x00}));
  Send(ConnectRequest());
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(session_->record().user, "alice");
  EXPECT_EQ(session_->policy()->generation, 1u);
  EXPECT_EQ(context_->policies->generation(), 2u);
}

TEST_F(HandshakeTest, WrongPasswordIsAnsweredThenClosed) {
  UseUsers(std::make_shared<OneUser>());
  Start();
  Send({0x05, 0x01, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 5, 'a', 'l', 'i', 'c', 'e', 5, 'w', 'r', 'o', 'n', 'g'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x01}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_TRUE(session_->record().user_rejected);
  EXPECT_EQ(session_->record().user, "alice");  // a known name is logged as it is
}

TEST_F(HandshakeTest, UnknownUserIsLoggedByLengthOnly) {
  // A password typed into the user field must not reach the log.
  UseUsers(std::make_shared<OneUser>());
  Start();
  Send({0x05, 0x01, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 6, 's', '3', 'c', 'r', '\n', 't', 1, 'x'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x01}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_TRUE(session_->record().user_rejected);
  EXPECT_EQ(session_->record().user, "(unknown, 6 bytes)");
}

TEST_F(HandshakeTest, SlowCredentialsAreCheckedOffTheLoop) {
  auto users = std::make_shared<SlowUser>();
  UseUsers(users);
  verifier_ = std::make_unique<Verifier>(VerifierOptions{.threads = 1, .max_pending = 4});
  Start();
  const std::thread::id loop = thread_.get_id();
  Send({0x05, 0x01, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', 'e', 'c', 'r', 'e', 't'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x00}));
  Send(ConnectRequest());
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(session_->record().user, "alice");
  EXPECT_NE(users->checked_on_.load(), std::thread::id());
  EXPECT_NE(users->checked_on_.load(), loop);
}

TEST_F(HandshakeTest, FullVerifierFailsTheLoginAtOnce) {
  UseUsers(std::make_shared<SlowUser>());
  verifier_ = std::make_unique<Verifier>(VerifierOptions{.threads = 1, .max_pending = 1});
  verifier_->Stop();  // refuses everything, as a full queue does
  Start();
  Send({0x05, 0x01, 0x02});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x02}));
  Send({0x01, 5, 'a', 'l', 'i', 'c', 'e', 6, 's', 'e', 'c', 'r', 'e', 't'});
  EXPECT_EQ(Receive(2), (Bytes{0x01, 0x01}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_TRUE(session_->record().user_rejected);
}

TEST_F(HandshakeTest, NoAcceptableMethod) {
  UseUsers(std::make_shared<OneUser>());
  Start();
  Send({0x05, 0x01, 0x00});  // only no-auth offered, but authentication is required
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0xFF}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
}

TEST_F(HandshakeTest, NotSocks5IsClosedWithoutAnswer) {
  Start();
  Send({0x06, 0x01, 0x00});
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
}

// First byte 04: SOCKS4 (session/socks4.h). The request goes to the handlers, the session
// answers in SOCKS4, and what followed the request is kept as early data.
TEST_F(HandshakeTest, Socks4RequestIsReturned) {
  Start();
  Send({0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 'u', 0x00, 'x'});
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(request_->command, protocol::Command::kConnect);
  EXPECT_EQ(request_->destination, (protocol::Address{protocol::Ipv4{127, 0, 0, 1}, 80}));
  EXPECT_TRUE(session_->socks4());
  EXPECT_STREQ(session_->record().proto, "socks4");
  EXPECT_EQ(session_->early_data(), (Bytes{'x'}));
  ASSERT_NE(session_->record().command_fields, nullptr);
  EXPECT_EQ(session_->record().command_fields->socks4_userid, "u");
  EXPECT_EQ(session_->user(), std::nullopt);  // a USERID is never a user
}

TEST_F(HandshakeTest, Socks4aRequestIsReturnedWithItsName) {
  Start();
  Send({0x04, 0x02, 0x00, 0x15, 0, 0, 0, 9, 0x00, 'f', 't', 'p', 0x00});
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(request_->command, protocol::Command::kBind);
  EXPECT_EQ(request_->destination, (protocol::Address{std::string("ftp"), 21}));
  EXPECT_STREQ(session_->record().proto, "socks4a");
}

TEST_F(HandshakeTest, Socks4WithUsersFileIsAnswered5B) {
  UseUsers(std::make_shared<OneUser>());
  Start();
  Send({0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 'a', 'l', 'i', 'c', 'e', 0x00});
  EXPECT_EQ(Receive(8), (Bytes{0x00, 0x5b, 0, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_EQ(session_->record().reply, static_cast<protocol::Reply>(0x5b));
}

TEST_F(HandshakeTest, Socks4DisabledIsAnswered5B) {
  settings_.socks4 = false;
  Start();
  Send({0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0x00});
  EXPECT_EQ(Receive(8), (Bytes{0x00, 0x5b, 0, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
}

TEST_F(HandshakeTest, Socks4UnknownCommandIsAnswered5B) {
  Start();
  Send({0x04, 0x03});
  EXPECT_EQ(Receive(8), (Bytes{0x00, 0x5b, 0, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
}

TEST_F(HandshakeTest, UnsupportedCommandIsAnswered07) {
  Start();
  Send({0x05, 0x01, 0x00, 0x05, 0x09, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50});
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x00}));
  Bytes reply = Receive(10);
  EXPECT_EQ(reply[0], 0x05);
  EXPECT_EQ(reply[1], 0x07);
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_EQ(session_->record().reply, protocol::Reply::kCommandNotSupported);
}

TEST_F(HandshakeTest, DeadlineClosesASilentClient) {
  settings_.handshake_timeout = absl::Milliseconds(100);
  Start();
  auto start = std::chrono::steady_clock::now();
  Send({0x05, 0x01});  // half a greeting, then silence
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_FALSE(session_->client().is_open());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// --- PROXY protocol (--proxy_protocol_from, session/proxy.h) ---------------------------------

Bytes Text(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST_F(HandshakeTest, ProxyHeaderNamesTheClientAndKeepsTheBytesBehindIt) {
  settings_.proxy_protocol_from = {*net::ParseCidr("127.0.0.1/32")};
  Start();
  Bytes all = Text("PROXY TCP4 192.0.2.7 192.0.2.1 5000 1080\r\n");
  all.insert(all.end(), {0x05, 0x01, 0x00});
  Bytes request = ConnectRequest();
  all.insert(all.end(), request.begin(), request.end());
  all.insert(all.end(), {'h', 'i'});
  Send(all);  // header, greeting, request and data in one segment
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x00}));
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(session_->early_data(), (Bytes{'h', 'i'}));
  EXPECT_EQ(net::EndpointText(session_->client_endpoint()), "192.0.2.7:5000");
  ASSERT_NE(session_->record().command_fields, nullptr);
  ASSERT_TRUE(session_->record().command_fields->via.has_value());
  EXPECT_EQ(session_->record().command_fields->via->address().to_string(), "127.0.0.1");
}

TEST_F(HandshakeTest, ProxyV2HeaderSplitAcrossWrites) {
  settings_.proxy_protocol_from = {*net::ParseCidr("127.0.0.0/8")};
  Start();
  const Bytes header = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                        0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 198,  51,   100,  9,
                        192,  0,    2,    1,    0x1f, 0x90, 0x04, 0x38};
  for (std::uint8_t byte : header) {
    Send({byte});
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Bytes rest = {0x05, 0x01, 0x00};
  Bytes request = ConnectRequest();
  rest.insert(rest.end(), request.begin(), request.end());
  Send(rest);
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x00}));
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_TRUE(session_->early_data().empty());
  EXPECT_EQ(net::EndpointText(session_->client_endpoint()), "198.51.100.9:8080");
}

TEST_F(HandshakeTest, ProxyLocalLeavesTheBalancerAsTheClient) {
  settings_.proxy_protocol_from = {*net::ParseCidr("127.0.0.1")};
  Start();
  const asio::ip::tcp::endpoint balancer = session_->client_endpoint();
  Bytes all = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
               0x54, 0x0a, 0x20, 0x00, 0x00, 0x00, 0x05, 0x01, 0x00};
  Bytes request = ConnectRequest();
  all.insert(all.end(), request.begin(), request.end());
  Send(all);
  EXPECT_EQ(Receive(2), (Bytes{0x05, 0x00}));
  Finish();
  ASSERT_TRUE(request_.has_value());
  EXPECT_EQ(session_->client_endpoint(), balancer);
}

TEST_F(HandshakeTest, TrustedPeerWithoutProxyHeaderIsClosedUnanswered) {
  settings_.proxy_protocol_from = {*net::ParseCidr("127.0.0.1")};
  Start();
  Send({0x05, 0x01, 0x00});
  EXPECT_TRUE(ClosedByServer());  // no method selection: not a byte
  Finish();
  EXPECT_FALSE(request_.has_value());
}

TEST_F(HandshakeTest, TrustedPeerSilentUntilTheDeadline) {
  settings_.proxy_protocol_from = {*net::ParseCidr("127.0.0.1")};
  settings_.handshake_timeout = absl::Milliseconds(100);
  Start();
  Send(Text("PROXY TCP4 192.0.2.7"));  // half a header, then silence
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_FALSE(session_->client().is_open());
}

TEST_F(HandshakeTest, ProxyHeaderFromAnUntrustedPeerIsNotSocks) {
  settings_.proxy_protocol_from = {*net::ParseCidr("127.0.0.2")};
  Start();
  const asio::ip::tcp::endpoint peer = session_->client_endpoint();
  Send(Text("PROXY TCP4 192.0.2.7 192.0.2.1 5000 1080\r\n"));
  EXPECT_TRUE(ClosedByServer());
  Finish();
  EXPECT_FALSE(request_.has_value());
  EXPECT_EQ(session_->client_endpoint(), peer);  // no forged client
  ASSERT_NE(session_->record().proto, nullptr);
  EXPECT_STREQ(session_->record().proto, "proxy_protocol");
}

}  // namespace
}  // namespace socks5::session
