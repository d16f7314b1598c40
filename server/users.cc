#include "server/users.h"

#include <crypt.h>
#include <strings.h>
#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/log.h"

namespace socks5::server {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// crypt(3)'s base-64 alphabet: salts and hash values of every accepted method.
bool IsCryptText(absl::string_view text) {
  for (char c : text) {
    if (c != '.' && c != '/' && !absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsDecimal(absl::string_view text, std::size_t max_digits) {
  if (text.empty() || text.size() > max_digits || (text.size() > 1 && text[0] == '0')) {
    return false;
  }
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::Status Malformed(absl::string_view method, absl::string_view form) {
  return absl::InvalidArgumentError(
      absl::StrCat("a malformed ", method, " hash (expected ", form, ")"));
}

// The phrase and the scratch space crypt_rn uses, wiped when done.
struct CryptCall {
  explicit CryptCall(absl::string_view password) : phrase(password) {}
  ~CryptCall() {
    explicit_bzero(phrase.data(), phrase.size());
    explicit_bzero(data.get(), sizeof(crypt_data));
  }
  CryptCall(const CryptCall&) = delete;
  CryptCall& operator=(const CryptCall&) = delete;
  // crypt_rn's result for `setting`, or null when libcrypt cannot compute it.
  const char* Run(const char* setting) {
    return crypt_rn(phrase.c_str(), setting, data.get(), static_cast<int>(sizeof(crypt_data)));
  }
  std::string phrase;
  std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();  // zeroed, as crypt_rn needs
};

}  // namespace

const char* SecretKindName(SecretKind kind) {
  switch (kind) {
    case SecretKind::kPlain:
      return "plaintext";
    case SecretKind::kYescrypt:
      return "yescrypt";
    case SecretKind::kBcrypt:
      return "bcrypt";
    case SecretKind::kSha512crypt:
      return "sha512crypt";
  }
  return "?";
}

absl::StatusOr<SecretKind> ClassifySecret(absl::string_view secret, std::string* cost) {
  if (!absl::StartsWith(secret, "$")) return SecretKind::kPlain;
  constexpr absl::string_view kHint =
      " (a plaintext password cannot start with '$': hash it with `socks5d --hash_password`)";
  if (secret.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("a NUL byte in a crypt(3) hash", kHint));
  }
  const std::string text(secret);
  const int check = crypt_checksalt(text.c_str());
  if (check == CRYPT_SALT_METHOD_LEGACY) {
    return absl::InvalidArgumentError(
        "a legacy crypt(3) hash (md5crypt, sha256crypt, DES, ...: too cheap to resist guessing); "
        "rehash the password with `socks5d --hash_password`");
  }
  if (check != CRYPT_SALT_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("starts with '$' but is not a crypt(3) hash libcrypt can verify", kHint));
  }
  // parts[0] is the empty text before the leading '$'.
  std::vector<absl::string_view> parts = absl::StrSplit(secret, '$');
  const absl::string_view method = parts[1];
  std::string cost_text;
  SecretKind kind;
  if (method == "y") {
    // $y$PARAMS$SALT$HASH, HASH 43 characters (32 bytes).
    if (parts.size() != 5 || parts[2].empty() || !IsCryptText(parts[2]) || parts[3].empty() ||
        !IsCryptText(parts[3]) || parts[4].size() != 43 || !IsCryptText(parts[4])) {
      return Malformed("yescrypt", "$y$PARAMS$SALT$ and 43 characters");
    }
    kind = SecretKind::kYescrypt;
    cost_text = absl::StrCat("$y$", parts[2], "$");
  } else if (method == "2a" || method == "2b" || method == "2y") {
    // $2b$CC$ then 22 characters of salt and 31 of hash; CC the cost, 04-31.
    const bool cost_ok = parts.size() == 4 && parts[2].size() == 2 &&
                         absl::ascii_isdigit(static_cast<unsigned char>(parts[2][0])) &&
                         absl::ascii_isdigit(static_cast<unsigned char>(parts[2][1])) &&
                         parts[2] >= "04" && parts[2] <= "31";
    if (!cost_ok || parts[3].size() != 53 || !IsCryptText(parts[3])) {
      return Malformed("bcrypt", "$2b$ and a cost 04-31, '$' and 53 characters");
    }
    kind = SecretKind::kBcrypt;
    cost_text = absl::StrCat("$", method, "$", parts[2], "$");
  } else if (method == "6") {
    // $6$[rounds=N$]SALT$HASH, SALT 1-16 characters, HASH 86.
    const bool rounds = parts.size() == 5;
    const bool rounds_ok =
        !rounds || (absl::StartsWith(parts[2], "rounds=") && IsDecimal(parts[2].substr(7), 9));
    const absl::string_view salt = parts[parts.size() - 2];
    if ((parts.size() != 4 && !rounds) || !rounds_ok || salt.empty() || salt.size() > 16 ||
        !IsCryptText(salt) || parts.back().size() != 86 || !IsCryptText(parts.back())) {
      return Malformed("sha512crypt", "$6$[rounds=N$]SALT$ and 86 characters");
    }
    kind = SecretKind::kSha512crypt;
    cost_text = rounds ? absl::StrCat("$6$", parts[2], "$") : "$6$";
  } else {
    return absl::InvalidArgumentError(
        "a crypt(3) method socks5d does not accept (use yescrypt $y$, bcrypt $2b$ or "
        "sha512crypt $6$; `socks5d --hash_password` writes yescrypt)");
  }
  if (cost != nullptr) *cost = std::move(cost_text);
  return kind;
}

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
  struct Cost {
    std::size_t count;
    std::string first_hash;
  };
  absl::flat_hash_map<std::string, Cost> costs;  // hashes by cost ("$y$j9T$", "$2b$10$", ...)
  std::vector<std::string> order;                // costs in the order they first appear
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
    std::string cost;
    auto kind = ClassifySecret(password, &cost);
    if (!kind.ok()) return error(kind.status().message());
    const bool hashed = *kind != SecretKind::kPlain;
    if (!users.entries_.emplace(user, Entry{std::string(password), hashed}).second) {
      return error(absl::StrCat("user '", net::LogSafe(user), "' appears twice"));
    }
    if (hashed) {
      ++users.hashed_;
      auto [it, inserted] = costs.try_emplace(cost, Cost{0, std::string(password)});
      if (inserted) order.push_back(cost);
      ++it->second.count;
    }
  }
  // The dummy: the first hash of the most common cost (the earliest such cost on a tie).
  const Cost* chosen = nullptr;
  for (const std::string& cost : order) {
    const Cost& c = costs.at(cost);
    if (chosen == nullptr || c.count > chosen->count) chosen = &c;
  }
  if (chosen != nullptr) users.dummy_ = chosen->first_hash;
  if (users.entries_.empty()) {
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

bool VerifyHash(absl::string_view password, const std::string& hash) {
  CryptCall call(password);
  const char* out = call.Run(hash.c_str());
  if (out == nullptr) {
    // Parse checked the format; parameters libcrypt cannot use (an absurd yescrypt cost, say)
    // show only here.
    static net::RateLimitedWarning warning("users_file_hash", "failed", "verifications");
    warning.Warn(
        "crypt(3) cannot verify a hash of --users_file (invalid parameters?): every "
        "login against it fails");
    return false;
  }
  const bool match = ConstantTimeEquals(out, hash);
  return match && password.find('\0') == absl::string_view::npos;
}

absl::StatusOr<std::string> HashPassword(absl::string_view password) {
  if (password.empty()) return absl::InvalidArgumentError("the password is empty");
  if (password.size() > 255) {
    return absl::InvalidArgumentError("the password is longer than 255 bytes (RFC 1929)");
  }
  if (password.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("the password holds a NUL byte");
  }
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> setting{};
  // No random bytes passed: libxcrypt takes them from the operating system (getrandom).
  if (crypt_gensalt_rn("$y$", 0, nullptr, 0, setting.data(), static_cast<int>(setting.size())) ==
      nullptr) {
    return absl::InternalError("crypt_gensalt_rn(\"$y$\") failed");
  }
  CryptCall call(password);
  const char* out = call.Run(setting.data());
  if (out == nullptr) return absl::InternalError("crypt_rn failed for a yescrypt setting");
  return std::string(out);
}

bool Users::Check(absl::string_view user, absl::string_view password) const {
  auto it = entries_.find(user);
  const bool found = it != entries_.end();
  if (dummy_.empty()) {
    // Plaintext only: an unknown user is compared against a fixed string, at the same cost.
    static const std::string kNoSuchUser(32, '\0');
    const bool match = ConstantTimeEquals(password, found ? it->second.secret : kNoSuchUser);
    return match && found;
  }
  if (found && it->second.hashed) return VerifyHash(password, it->second.secret);
  // An unknown or plaintext user costs what a hashed one does: one verification against the
  // dummy, whose answer is never used (it may even be true: the dummy is a real user's hash).
  volatile bool ignored = VerifyHash(password, dummy_);
  (void)ignored;
  return found && ConstantTimeEquals(password, it->second.secret);
}

}  // namespace socks5::server
