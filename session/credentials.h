// The RFC 1929 username/password check a session asks; server::Users implements it. A check
// may cost a crypt(3) hash (tens to hundreds of milliseconds): session/verifier.h runs those on
// its threads, off the event loops, and caches recent successes per Credentials id().
#ifndef SOCKS5_SESSION_CREDENTIALS_H_
#define SOCKS5_SESSION_CREDENTIALS_H_

#include <atomic>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace socks5::session {

class Credentials {
 public:
  Credentials() : id_(NextId()) {}
  // A copy or a moved-to object is a new set of credentials as far as the cache knows.
  Credentials(const Credentials&) : id_(NextId()) {}
  Credentials& operator=(const Credentials&) {
    id_ = NextId();
    return *this;
  }
  virtual ~Credentials() = default;

  // True when `user` exists with `password`. Thread-safe; its cost must not depend on whether
  // the user exists. Slow when slow() says so.
  virtual bool Check(absl::string_view user, absl::string_view password) const = 0;
  // Whether `user` is a user at all; asked only after Check, to decide how the name is logged
  // (an unknown name may be a password typed into the wrong field).
  virtual bool Contains(absl::string_view user) const = 0;
  // True when Check costs a crypt(3) verification: it must then run off the event loops. The
  // same for every user (a plaintext or unknown user of a file with hashes costs one too).
  virtual bool slow() const { return false; }
  // Unique per object in this process: the verifier's cache keys on it, so a reloaded users file
  // (a new object) never sees a success cached for the old one.
  std::uint64_t id() const { return id_; }

 private:
  static std::uint64_t NextId() {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t id_;
};

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_CREDENTIALS_H_
