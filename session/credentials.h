// The RFC 1929 username/password check a session asks; server::Users implements it.
#ifndef SOCKS5_SESSION_CREDENTIALS_H_
#define SOCKS5_SESSION_CREDENTIALS_H_

#include "absl/strings/string_view.h"

namespace socks5::session {

class Credentials {
 public:
  virtual ~Credentials() = default;
  virtual bool Check(absl::string_view user, absl::string_view password) const = 0;
  // Whether `user` is a user at all; asked only after Check, to decide how the name is logged
  // (an unknown name may be a password typed into the wrong field).
  virtual bool Contains(absl::string_view user) const = 0;
};

}  // namespace socks5::session

#endif  // SOCKS5_SESSION_CREDENTIALS_H_
