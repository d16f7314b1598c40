#include "server/users.h"

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/log.h"

namespace socks5::server {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

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

absl::StatusOr<Users> Users::Parse(absl::string_view contents, absl::string_view source) {
  Users users;
  // Editors on Windows start UTF-8 files with a byte-order mark; it is no part of the first name.
  absl::ConsumePrefix(&contents, kUtf8Bom);
  int line_number = 0;
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", what));
  };
  for (absl::string_view line : absl::StrSplit(contents, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty() || absl::StartsWith(line, "#")) continue;
    std::size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return error("expected user:password");
    absl::string_view user = line.substr(0, colon);
    absl::string_view password = line.substr(colon + 1);
    if (user.empty() || user.size() > 255) return error("the user name must be 1-255 bytes");
    if (IsBlank(user.front()) || IsBlank(user.back())) {
      // Kept, they would make a name nobody types; dropped, they would hide a typo.
      return error("a space or tab before or after the user name (remove it)");
    }
    if (password.empty() || password.size() > 255) {
      return error("the password must be 1-255 bytes");
    }
    if (!users.passwords_.emplace(user, password).second) {
      return error(absl::StrCat("user '", net::LogSafe(user), "' appears twice"));
    }
  }
  if (users.passwords_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": no users in the file (expected lines of user:password)"));
  }
  return users;
}

std::string ReadableByOthers(unsigned mode) {
  const bool group = (mode & S_IRGRP) != 0;
  const bool world = (mode & S_IROTH) != 0;
  if (group && world) return "group- and world-readable";
  if (group) return "group-readable";
  if (world) return "world-readable";
  return "";
}

absl::StatusOr<Users> Users::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--users_file: cannot read '", path, "'"));
  std::stringstream contents;
  contents << in.rdbuf();
  auto users = Parse(contents.str(), path);
  if (!users.ok()) return users.status();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (std::string readable = ReadableByOthers(st.st_mode); !readable.empty()) {
      net::LogWarning(
          "--users_file=%s is %s (mode %04o): others can read its passwords; "
          "chmod 600 it",
          path, readable, st.st_mode & 07777);
    }
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
