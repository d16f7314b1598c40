#include "server/users.h"

#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace socks5::server {

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Both sides are padded to 256 bytes so the loop length never depends on the secret; the
  // length difference is folded into the result.
  constexpr std::size_t kWidth = 256;
  std::array<std::uint8_t, kWidth> pa{};
  std::array<std::uint8_t, kWidth> pb{};
  std::size_t la = a.size() < kWidth ? a.size() : kWidth;
  std::size_t lb = b.size() < kWidth ? b.size() : kWidth;
  for (std::size_t i = 0; i < la; ++i) pa[i] = static_cast<std::uint8_t>(a[i]);
  for (std::size_t i = 0; i < lb; ++i) pb[i] = static_cast<std::uint8_t>(b[i]);
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < kWidth; ++i) diff = diff | (pa[i] ^ pb[i]);
  std::size_t length_diff = a.size() ^ b.size();
  return (diff | (length_diff != 0)) == 0;
}

absl::StatusOr<Users> Users::Parse(absl::string_view contents) {
  Users users;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty() || absl::StartsWith(line, "#")) continue;
    std::size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": expected user:password"));
    }
    absl::string_view user = line.substr(0, colon);
    absl::string_view password = line.substr(colon + 1);
    if (user.empty() || user.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": the user name must be 1-255 bytes"));
    }
    if (password.empty() || password.size() > 255) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": the password must be 1-255 bytes"));
    }
    if (!users.passwords_.emplace(user, password).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": user '", user, "' appears twice"));
    }
  }
  if (users.passwords_.empty()) {
    return absl::InvalidArgumentError("no users in the file (expected lines of user:password)");
  }
  return users;
}

absl::StatusOr<Users> Users::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--users_file: cannot read '", path, "'"));
  std::stringstream contents;
  contents << in.rdbuf();
  auto users = Parse(contents.str());
  if (!users.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--users_file '", path, "': ", users.status().message()));
  }
  return users;
}

bool Users::Check(absl::string_view user, absl::string_view password) const {
  // An unknown user is compared against a fixed string so both answers cost the same.
  static const std::string kNoSuchUser(32, '\0');
  auto it = passwords_.find(user);
  const std::string& expected = it == passwords_.end() ? kNoSuchUser : it->second;
  bool match = ConstantTimeEquals(password, expected);
  return match && it != passwords_.end();
}

}  // namespace socks5::server
