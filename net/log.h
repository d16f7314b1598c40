// Process-wide leveled logging to stderr, one write(2) per line so lines from worker threads never
// interleave. Never pass credentials to these functions.
#ifndef SOCKS5_NET_LOG_H_
#define SOCKS5_NET_LOG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace socks5::net {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);  // debug|info|warning|error
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, absl::string_view text);

template <typename... Args>
void Log(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (LogEnabled(level)) LogLine(level, absl::StrFormat(format, args...));
}
template <typename... Args>
void LogDebug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kDebug, format, args...);
}
template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kInfo, format, args...);
}
template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kWarning, format, args...);
}
template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  Log(LogLevel::kError, format, args...);
}

// Client-supplied bytes (names, user names, anything from the wire) for a log line, at any level:
// escaped by protocol::EscapeForLog, so a '\n' or a control byte can never forge or garble a line.
// Every log call that prints such bytes passes them through here (or through
// protocol::Address::ToString, which escapes names the same way).
std::string LogSafe(absl::string_view bytes);

}  // namespace socks5::net

#endif  // SOCKS5_NET_LOG_H_
