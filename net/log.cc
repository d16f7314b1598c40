#include "net/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "protocol/address.h"

namespace socks5::net {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

char LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 'D';
    case LogLevel::kInfo:
      return 'I';
    case LogLevel::kWarning:
      return 'W';
    case LogLevel::kError:
      return 'E';
  }
  return '?';
}

// Every live RateLimitedWarning, for FlushRateLimitedWarnings.
std::mutex g_sites_mu;
std::vector<RateLimitedWarning*>& Sites() {
  static auto* sites = new std::vector<RateLimitedWarning*>();
  return *sites;
}

// Lines below warning (the access log, debug) are written in batches: one write(2) per
// kFlushInterval or kFlushBytes, not one per line (a system call per session saved). A warning
// or an error flushes what is pending and is written at once; FlushLog() runs at exit.
constexpr auto kFlushInterval = std::chrono::milliseconds(100);
constexpr std::size_t kFlushBytes = 16 * 1024;

struct Pending {
  std::mutex mu;
  std::condition_variable wake;  // the flusher waits on it while nothing is pending
  std::string lines;
  bool flusher_started = false;
};

Pending& ThePending() {
  static auto* pending = new Pending();  // never destroyed: the flusher and atexit use it
  return *pending;
}

void WriteAll(absl::string_view text) {
  // A short write to a pipe does not happen in practice, but finish it if it does.
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void FlushLocked(Pending& pending) {
  if (pending.lines.empty()) return;
  WriteAll(pending.lines);
  pending.lines.clear();
  if (pending.lines.capacity() > 4 * kFlushBytes) pending.lines.shrink_to_fit();
}

// Writes what is pending at most kFlushInterval after its first line; sleeps while none is.
[[noreturn]] void RunFlusher() {
  Pending& pending = ThePending();
  std::unique_lock<std::mutex> lock(pending.mu);
  for (;;) {
    pending.wake.wait(lock, [&pending] { return !pending.lines.empty(); });
    const auto due = std::chrono::steady_clock::now() + kFlushInterval;
    while (!pending.lines.empty() &&
           pending.wake.wait_until(lock, due) != std::cv_status::timeout) {
    }
    FlushLocked(pending);
  }
}

void FlushAtExit() { FlushLog(); }

}  // namespace

void FlushLog() {
  Pending& pending = ThePending();
  std::lock_guard<std::mutex> lock(pending.mu);
  FlushLocked(pending);
}

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("--log_level: unknown level '", name, "' (use debug, info, warning or error)"));
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

std::string LogTimestamp(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
}

std::string LogPrefix(LogLevel level, absl::Time time) {
  return absl::StrCat(LogTimestamp(time), " ", std::string(1, LevelLetter(level)), " ");
}

void LogLine(LogLevel level, absl::string_view text) {
  LogRaw(level, absl::StrCat(LogPrefix(level, absl::Now()), text));
}

void LogRaw(LogLevel level, absl::string_view text) {
  std::string line = absl::StrCat(text, "\n");
  Pending& pending = ThePending();
  std::lock_guard<std::mutex> lock(pending.mu);
  if (level >= LogLevel::kWarning) {
    FlushLocked(pending);  // the lines before it first: the order is kept
    WriteAll(line);
    return;
  }
  const bool was_empty = pending.lines.empty();
  pending.lines += line;
  if (pending.lines.size() >= kFlushBytes) return FlushLocked(pending);
  if (!pending.flusher_started) {
    pending.flusher_started = true;
    std::atexit(FlushAtExit);
    std::thread(RunFlusher).detach();
  } else if (was_empty) {
    pending.wake.notify_one();
  }
}

std::string LogSafe(absl::string_view bytes) {
  return protocol::EscapeForLog(std::string_view(bytes.data(), bytes.size()));
}

RateLimitedWarning::RateLimitedWarning(absl::string_view site, absl::string_view verb,
                                       absl::string_view noun, int burst, absl::Duration interval)
    : site_(site), verb_(verb), noun_(noun), burst_(burst), interval_(interval) {
  std::lock_guard<std::mutex> lock(g_sites_mu);
  Sites().push_back(this);
}

RateLimitedWarning::~RateLimitedWarning() {
  std::lock_guard<std::mutex> lock(g_sites_mu);
  auto& sites = Sites();
  sites.erase(absl::c_find(sites, this));
}

std::string RateLimitedWarning::TakeSummaryLocked(absl::Time now) {
  if (now - window_start_ < interval_) return "";
  std::string summary;
  if (suppressed_ > 0) {
    summary = absl::StrFormat("%s: %s %d %s in the last %ds (not logged one by one)", site_, verb_,
                              suppressed_, noun_,
                              static_cast<std::int64_t>(absl::ToDoubleSeconds(interval_)));
  }
  window_start_ = now;
  logged_ = 0;
  suppressed_ = 0;
  return summary;
}

std::string RateLimitedWarning::TakeSummary(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  // A window with nothing suppressed stays open (it is reset by the next event).
  if (suppressed_ == 0) return "";
  return TakeSummaryLocked(now);
}

bool RateLimitedWarning::Admit(absl::Time now) {
  std::string summary;
  bool log = false;
  total_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    summary = TakeSummaryLocked(now);  // starts a new window when the old one ended
    if (logged_ < burst_) {
      ++logged_;
      log = true;
    } else {
      ++suppressed_;
    }
  }
  if (!summary.empty()) LogLine(LogLevel::kWarning, summary);
  return log;
}

void RateLimitedWarning::Flush(absl::Time now) {
  std::string summary = TakeSummary(now);
  if (!summary.empty()) LogLine(LogLevel::kWarning, summary);
}

void ForEachRateLimitedWarning(const std::function<void(const RateLimitedWarning&)>& visit) {
  std::lock_guard<std::mutex> lock(g_sites_mu);
  for (const RateLimitedWarning* site : Sites()) visit(*site);
}

void FlushRateLimitedWarnings() {
  const absl::Time now = absl::Now();
  std::lock_guard<std::mutex> lock(g_sites_mu);
  for (RateLimitedWarning* site : Sites()) site->Flush(now);
}

}  // namespace socks5::net
