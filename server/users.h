// The credentials of --users_file and the RFC 1929 check against them.
//
// File format: one `user:password` per line. The user is everything before the first ':', the
// password everything after it (it may contain ':'); both 1-255 bytes. Blank lines and lines
// starting with '#' are ignored; a trailing '\r' is removed. A user may appear once. A UTF-8
// byte-order mark at the start is skipped; a space or tab before or after a name is an error.
// Every error reads `SOURCE:LINE: what is wrong` and never contains a password.
#ifndef SOCKS5_SERVER_USERS_H_
#define SOCKS5_SERVER_USERS_H_

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "session/credentials.h"

namespace socks5::server {

class Users : public session::Credentials {
 public:
  // `source` names the file in errors (`source:line: ...`).
  static absl::StatusOr<Users> Parse(absl::string_view contents,
                                     absl::string_view source = "users file");
  // Reads and parses `path`; logs a warning when its mode lets the group or others read it.
  static absl::StatusOr<Users> Load(const std::string& path);

  // True when the user exists with this password. The comparison takes the same time whether
  // the user exists or not and wherever the password differs.
  bool Check(absl::string_view user, absl::string_view password) const override;
  bool Contains(absl::string_view user) const override { return passwords_.contains(user); }
  std::size_t size() const { return passwords_.size(); }

 private:
  absl::flat_hash_map<std::string, std::string> passwords_;
};

// "group-readable", "world-readable", "group- and world-readable", or "" for a file mode
// (st_mode) that lets neither read.
std::string ReadableByOthers(unsigned mode);

// Compares a and b (each at most 255 bytes) in time independent of their contents.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_USERS_H_
