#include "server/metrics_scrape.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "net/address.h"
#include "net/log.h"
#include "server/server.h"
#include "server/version.h"
#include "udp/association.h"

namespace socks5::server {
namespace {

std::vector<metrics::LimitCount> Limits() {
  // Sites may repeat (one per call site): summed by name.
  std::vector<metrics::LimitCount> out;
  net::ForEachRateLimitedWarning([&out](const net::RateLimitedWarning& site) {
    metrics::LimitCount count{absl::StrReplaceAll(site.site(), {{" ", "_"}}),
                              absl::StrCat(site.verb(), "_", site.noun()),
                              static_cast<std::uint64_t>(site.total())};
    for (metrics::LimitCount& seen : out) {
      if (seen.limit == count.limit && seen.event == count.event) {
        seen.count += count.count;
        return;
      }
    }
    out.push_back(std::move(count));
  });
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.limit, a.event) < std::tie(b.limit, b.event);
  });
  return out;
}

}  // namespace

std::string RenderMetrics(const MetricsSources& sources) {
  auto total = std::make_unique<metrics::WorkerMetrics>();  // ~6 KiB: not on the stack
  for (const metrics::WorkerMetrics* worker : sources.workers) total->AddFrom(*worker);
  metrics::ProcessMetrics process;
  process.version = kVersion;
  if (sources.sessions_open != nullptr) {
    process.sessions_open = static_cast<std::int64_t>(sources.sessions_open->load());
  }
  if (sources.admission != nullptr) {
    process.handshakes_active = static_cast<std::int64_t>(sources.admission->handshakes.load());
    process.descriptors_in_use = sources.admission->descriptors.used();
    process.descriptor_budget = sources.admission->descriptors.limit();
  }
  if (sources.process != nullptr) {
    process.reloads = sources.process->reloads.load();
    process.reload_failures = sources.process->reload_failures.load();
  }
  process.limits = Limits();
  for (std::size_t i = 0; i < udp::kDropKinds; ++i) {
    process.udp_drop_names.push_back(udp::DropName(static_cast<udp::Drop>(i)));
  }
  if (sources.users != nullptr) {
    process.per_user = true;
    process.users = sources.users->Snapshot();
  }
  return metrics::Render(metrics::Families(*total, process));
}

MetricsEndpoint::MetricsEndpoint()
    : http_([this] {
        std::lock_guard<std::mutex> lock(mu_);
        return RenderMetrics(sources_);
      }) {}

absl::Status MetricsEndpoint::Start(const asio::ip::tcp::endpoint& endpoint) {
  auto bound = http_.Start(endpoint);
  if (!bound.ok()) return bound.status();
  net::LogInfo("metrics on %s", net::EndpointText(*bound));
  return absl::OkStatus();
}

void MetricsEndpoint::SetSources(MetricsSources sources) {
  std::lock_guard<std::mutex> lock(mu_);
  sources_ = std::move(sources);
}

// The server's metrics hooks (server.h), beside what they start.

absl::Status Server::StartMetrics() {
  if (config_.metrics_per_user) metric_users_ = std::make_unique<metrics::UserTable>(1000);
  if (!config_.metrics_listen) return absl::OkStatus();
  metrics_ = std::make_unique<MetricsEndpoint>();
  return metrics_->Start(*config_.metrics_listen);
}

void Server::SetMetricsReady() {
  if (!metrics_) return;
  MetricsSources sources;
  for (const auto& worker : workers_) sources.workers.push_back(&worker->metrics());
  sources.sessions_open = &sessions_.active;
  sources.admission = admission_.get();
  sources.process = &counters_;
  sources.users = metric_users_.get();
  metrics_->SetSources(std::move(sources));
  metrics_->SetReady(true);
}

}  // namespace socks5::server
