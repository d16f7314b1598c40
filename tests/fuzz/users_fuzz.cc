// libFuzzer target: the --users_file parser (server/users.h: Users::Parse, ClassifySecret) and
// the RFC 1929 check (Users::Check, ConstantTimeEquals). The input is the file's contents. A small
// model reads the same format line by line (a leading UTF-8 BOM skipped, blanks around a name
// refused, a secret starting with '$' a crypt(3) hash that ClassifySecret must accept, of an
// accepted method and crypt(3)'s alphabet); Parse must accept exactly when the model does. In a
// plaintext-only file every user:password the model read must pass Check and Contains, and a
// password or user differing in any way must fail them; in a file with hashes, every user is
// Contained, the hashed count matches, and when every hash is cheap (so no input can make the
// fuzzer wait on a costly hash) Check refuses a password that is no hash's.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "server/users.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r') return false;
  }
  return true;
}

struct ModelFile {
  std::map<std::string, std::string> users;
  std::size_t hashed = 0;
  bool all_cheap = true;  // every hash verifies in milliseconds
};

// The invariants of a secret ClassifySecret accepts as a hash.
bool ValidHash(const std::string& secret, bool& cheap) {
  std::string cost;
  auto kind = socks5::server::ClassifySecret(secret, &cost);
  if (!kind.ok()) return false;
  Check(*kind != socks5::server::SecretKind::kPlain);
  Check(absl::StartsWith(secret, cost));
  Check(absl::StartsWith(secret, "$y$") || absl::StartsWith(secret, "$2a$") ||
        absl::StartsWith(secret, "$2b$") || absl::StartsWith(secret, "$2y$") ||
        absl::StartsWith(secret, "$6$"));
  for (char c : secret) {
    const bool alphabet = c == '.' || c == '/' || c == '$' || c == '=' || (c >= '0' && c <= '9') ||
                          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    Check(alphabet);
  }
  // bcrypt up to cost 06, sha512crypt up to its default 5000 rounds, yescrypt at its lowest
  // cost only (its parameters are not decoded here).
  bool cheap_rounds = false;
  if (absl::StartsWith(cost, "$6$rounds=") && cost.size() <= 15) {
    cheap_rounds = std::atoi(cost.c_str() + 10) <= 5000;
  }
  cheap =
      cheap && (cost == "$6$" || cheap_rounds || cost == "$y$j75$" || cost == "$2a$04$" ||
                cost == "$2b$04$" || cost == "$2y$04$" || cost == "$2b$05$" || cost == "$2b$06$");
  return true;
}

// The format of server/users.h; false when the file is invalid.
bool Model(std::string_view contents, ModelFile& file) {
  auto& users = file.users;
  std::size_t start = 0;
  if (contents.substr(0, 3) == "\xEF\xBB\xBF") start = 3;  // a UTF-8 BOM is skipped
  while (start <= contents.size()) {
    std::size_t end = contents.find('\n', start);
    if (end == std::string_view::npos) end = contents.size();
    std::string_view line = contents.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Blank(line) || line.front() == '#') continue;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string user(line.substr(0, colon));
    std::string password(line.substr(colon + 1));
    if (user.empty() || user.size() > 255 || password.empty() || password.size() > 255)
      return false;
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    if (blank(user.front()) || blank(user.back())) return false;  // blanks around a name
    if (password[0] == '$') {
      if (!ValidHash(password, file.all_cheap)) return false;
      ++file.hashed;
    }
    if (!users.emplace(user, password).second) return false;
  }
  return !users.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace s = socks5::server;
  std::string_view contents(reinterpret_cast<const char*>(data), size);
  auto parsed = s::Users::Parse(absl::string_view(contents.data(), contents.size()));
  ModelFile file;
  bool valid = Model(contents, file);
  Check(parsed.ok() == valid);
  if (!parsed.ok()) {
    Check(!parsed.status().message().empty());
    return 0;
  }
  const auto& model = file.users;
  Check(parsed->size() == model.size());
  Check(parsed->hashed() == file.hashed);
  Check(parsed->slow() == (file.hashed > 0));
  if (file.hashed > 0) {
    for (const auto& [user, password] : model) {
      Check(parsed->Contains(user));
      // No hash of a password ends in this text: crypt(3) output never holds a space.
      if (file.all_cheap) Check(!parsed->Check(user, "not a password of any hash"));
    }
    if (file.all_cheap) Check(!parsed->Check(std::string(300, 'u'), "x"));
    return 0;
  }
  for (const auto& [user, password] : model) {
    Check(parsed->Contains(user));
    Check(parsed->Check(user, password));
    Check(s::ConstantTimeEquals(password, password));
    std::string longer = password + "x";
    if (longer.size() <= 255) Check(!parsed->Check(user, longer));
    std::string flipped = password;
    flipped.back() ^= 1;
    Check(!s::ConstantTimeEquals(password, flipped));
    Check(!parsed->Check(user, flipped));
    Check(!parsed->Check(user, password.substr(0, password.size() - 1)));
    std::string other_user = user + "\x01";
    if (model.count(other_user) == 0) {
      Check(!parsed->Check(other_user, password));
      Check(!parsed->Contains(other_user));
    }
  }
  return 0;
}
