#include "server/systemd.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace socks5::server::systemd {
namespace {

// Without systemd's environment everything is inert: no passed sockets, no notifications, and
// the notifier puts no work on the loop.
TEST(SystemdTest, WithoutSystemdNothingHappens) {
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("NOTIFY_SOCKET");
  Config config;
  auto passed = TakePassedListeners(config);
  ASSERT_TRUE(passed.ok()) << passed.status();
  EXPECT_TRUE(passed->empty());
  NotifyReady();
  NotifyReloading();
  NotifyStopping();
  asio::io_context io;
  Notifier notifier;
  int calls = 0;
  notifier.Start(io, {}, [&calls] {
    ++calls;
    return std::string("0 sessions, 0 descriptors");
  });
  EXPECT_EQ(io.run(), 0u);  // nothing was spawned
  EXPECT_EQ(calls, 0);
  notifier.Stop();
}

// LISTEN_FDS meant for another process (LISTEN_PID) is not ours to take.
TEST(SystemdTest, ListenFdsOfAnotherPidAreIgnored) {
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", "1", 1);
  auto passed = TakePassedListeners(Config{});
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ASSERT_TRUE(passed.ok()) << passed.status();
  EXPECT_TRUE(passed->empty());
}

}  // namespace
}  // namespace socks5::server::systemd
