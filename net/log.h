// Process-wide leveled logging to stderr. Lines never interleave (whole lines per write(2)).
// Lines below warning (the access log, debug) are batched: written within 100 ms, or at 16 KiB,
// one write(2) for many (a system call per session saved, issue 17); a warning or an error
// writes the pending lines and then itself at once, and FlushLog() runs at exit. A crash or
// SIGKILL loses at most the last 100 ms of info lines. Never pass credentials to these functions.
#ifndef SOCKS5_NET_LOG_H_
#define SOCKS5_NET_LOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace socks5::net {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);  // debug|info|warning|error
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, absl::string_view text);
// A line written as it is (no prefix added), batched and ordered like LogLine's: the JSON access
// lines. `line` has no final newline.
void LogRaw(LogLevel level, absl::string_view line);
// "2026-11-25T14:12:04.746Z" (UTC, milliseconds): the time of every log line.
std::string LogTimestamp(absl::Time time);
// "2026-11-25T14:12:04.746Z I ": what LogLine puts before the text.
std::string LogPrefix(LogLevel level, absl::Time time);
// Writes the pending (batched) lines now. Called at exit (atexit) and by the server when it stops.
void FlushLog();

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
// --- Rate-limited warnings --------------------------------------------------------------------
// For warnings about repeated events a stranger can cause (a refused or shed connection): each
// call site owns one static RateLimitedWarning. In every `interval` the first `burst` lines are
// logged; the rest are only counted, and when the interval has ended one summary line says how
// many were not logged: "<site>: refused 2990 connections in the last 5s (not logged one by
// one)". Summaries are written by the next Warn() at the site or by FlushRateLimitedWarnings(),
// which the server calls about once a second, so a burst that stops is still summarised.
// Thread-safe (one mutex per site; never on the data path: only refusals call it).
class RateLimitedWarning {
 public:
  // `site`: what the summary starts with ("max_sessions"); `verb` and `noun` name the suppressed
  // events ("refused", "connections").
  RateLimitedWarning(absl::string_view site, absl::string_view verb, absl::string_view noun,
                     int burst = 5, absl::Duration interval = absl::Seconds(5));
  ~RateLimitedWarning();
  RateLimitedWarning(const RateLimitedWarning&) = delete;
  RateLimitedWarning& operator=(const RateLimitedWarning&) = delete;

  template <typename... Args>
  void Warn(const absl::FormatSpec<Args...>& format, const Args&... args) {
    if (Admit(absl::Now()) && LogEnabled(LogLevel::kWarning)) {
      LogLine(LogLevel::kWarning, absl::StrFormat(format, args...));
    }
  }

  // The decision, with the clock passed in (unit-tested): true when this event's line is to be
  // logged; false when it is counted for the summary. May log a due summary first.
  bool Admit(absl::Time now);
  // Logs the summary when the interval has ended with suppressed events.
  void Flush(absl::Time now);
  // The summary line Flush would write now, and resets the window; empty when none is due.
  std::string TakeSummary(absl::Time now);
  // Every event since start (logged or not): socks5d_limits_hit_total (server/metrics_scrape.h).
  std::int64_t total() const { return total_.load(std::memory_order_relaxed); }
  const std::string& site() const { return site_; }
  const std::string& verb() const { return verb_; }
  const std::string& noun() const { return noun_; }

 private:
  std::string TakeSummaryLocked(absl::Time now);

  const std::string site_;
  const std::string verb_;
  const std::string noun_;
  const int burst_;
  const absl::Duration interval_;
  std::mutex mu_;
  absl::Time window_start_ = absl::InfinitePast();
  int logged_ = 0;
  std::int64_t suppressed_ = 0;
  std::atomic<std::int64_t> total_{0};
};

// Calls `visit` for every site that has warned at least once (under the sites' lock).
void ForEachRateLimitedWarning(const std::function<void(const RateLimitedWarning&)>& visit);

// Writes every site's due summary (the server calls this periodically).
void FlushRateLimitedWarnings();

}  // namespace socks5::net

#endif  // SOCKS5_NET_LOG_H_
