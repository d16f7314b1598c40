// The credentials of --users_file and the RFC 1929 check against them.
//
// File format: one `user:secret` per line. The user is everything before the first ':', the
// secret everything after it (it may contain ':'); both 1-255 bytes. Blank lines and lines
// starting with '#' are ignored; a trailing '\r' is removed. A user may appear once. A UTF-8
// byte-order mark at the start is skipped; a space or tab before or after a name is an error.
//
// The secret is a crypt(3) hash when it starts with '$', a plaintext password otherwise. A hash
// must be one libcrypt (libxcrypt) verifies and does not call legacy (crypt_checksalt is
// CRYPT_SALT_OK) in a format checked here: yescrypt `$y$`, bcrypt `$2b$`/`$2y$`/`$2a$`,
// sha512crypt `$6$`. Anything else starting with '$' is an error: a plaintext password cannot
// start with '$' (hash it with `socks5d --hash_password`), so no line is ever ambiguous.
// Every error reads `SOURCE:LINE: what is wrong` and never contains a password or hash.
//
// Check's cost depends on the file, never on the name asked: in a file with a hash, every check
// costs exactly one crypt(3) verification (an unknown user's, or a plaintext user's, against the
// file's most common kind of hash, its result discarded); in a plaintext-only file, one
// constant-time comparison.
#ifndef SOCKS5_SERVER_USERS_H_
#define SOCKS5_SERVER_USERS_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "session/credentials.h"

namespace socks5::server {

// What a users-file secret is.
enum class SecretKind { kPlain, kYescrypt, kBcrypt, kSha512crypt };

// The kind of `secret` (a line's text after the first ':'), or why a secret starting with '$'
// is not a hash socks5d accepts. Pure: crypt_checksalt and a format check, no hashing.
// `cost` (may be null) receives what sets the hash's cost: "$y$j9T$", "$2b$10$",
// "$6$rounds=5000$" or "$6$" (the same cost means the same verification time).
absl::StatusOr<SecretKind> ClassifySecret(absl::string_view secret, std::string* cost = nullptr);
const char* SecretKindName(SecretKind kind);  // "plaintext", "yescrypt", "bcrypt", "sha512crypt"

class Users : public session::Credentials {
 public:
  // `source` names the file in errors (`source:line: ...`).
  static absl::StatusOr<Users> Parse(absl::string_view contents,
                                     absl::string_view source = "users file");
  // Reads and parses `path`; logs a warning when its mode lets the group or others read it.
  static absl::StatusOr<Users> Load(const std::string& path);

  // True when the user exists with this password. Slow when the file has a hash (see the top
  // of this file): call it off the event loops (session/verifier.h does).
  bool Check(absl::string_view user, absl::string_view password) const override;
  bool Contains(absl::string_view user) const override { return entries_.contains(user); }
  bool slow() const override { return !dummy_.empty(); }
  std::size_t size() const { return entries_.size(); }
  std::size_t hashed() const { return hashed_; }  // how many users have a hash

 private:
  struct Entry {
    std::string secret;
    bool hashed = false;
  };
  absl::flat_hash_map<std::string, Entry> entries_;
  std::size_t hashed_ = 0;
  // The hash an unknown or plaintext user's password is also verified against (its result
  // discarded): the first hash of the file's most common cost. Empty: no hash in the file.
  std::string dummy_;
};

// "group-readable", "world-readable", "group- and world-readable", or "" for a file mode
// (st_mode) that lets neither read.
std::string ReadableByOthers(unsigned mode);

// Compares a and b (each at most 255 bytes) in time independent of their contents.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// True when crypt(3) hashing `password` with `hash` as its setting gives `hash`. False also when
// the password holds a NUL byte (crypt(3) would read only the bytes before it) or libcrypt
// cannot compute the hash. Takes the hash's time.
bool VerifyHash(absl::string_view password, const std::string& hash);

// A yescrypt hash of `password` for a users file (`socks5d --hash_password`), with a salt from
// the operating system's random source (crypt_gensalt_rn("$y$", 0, nullptr, ...)). An error
// when the password is empty, longer than 255 bytes (RFC 1929), or holds a NUL byte.
absl::StatusOr<std::string> HashPassword(absl::string_view password);

}  // namespace socks5::server

#endif  // SOCKS5_SERVER_USERS_H_
