#!/usr/bin/python3
"""Benchmarks socks5d side by side with Dante and microsocks on loopback, direct as the ceiling.

    /usr/bin/python3 integration/bench/run.py              full run, 3 rounds (about 5 minutes)
    /usr/bin/python3 integration/bench/run.py --repeats 5  5 rounds (about 8 minutes)
    /usr/bin/python3 integration/bench/run.py --quick      every measurement once, small (~15 s)

Figures: one TCP stream each way (1 GiB; MiB/s and the proxy's CPU seconds per GiB); sessions
per second at 16 and 256 concurrent (connect through the proxy, handshake, 1-byte echo, the
target closes, the client closes) and the proxy's CPU per session; UDP datagrams per second with
32 in flight and ping-pong round trips (p50/p99) with one; resident memory per idle relayed
session (RSS delta of the proxy's whole process tree over 2,000 sessions, on a fresh process) and
the most sessions held at once (up to 9,000, opened by several client processes: each client
process needs a descriptor per session).

The server under test is SOCKS5D_BIN (default <repo>/build/socks5d). Dante (`danted`, Debian
dante-server) and `microsocks` must be installed (.ci/apt/bench.txt); Dante runs as root with its
own config, no authentication. The byte work is done by loadgen.c, built here with the system
C compiler. Each figure is measured --repeats times (the proxies take turns within a round, so
noise from other work on the machine spreads over all of them) and the median is printed, then
ratios and the targets. When the binary has --rules_file, a `rules100` column is the same binary
with a 100-rule file whose only allowing rule is the last (the cost of rules); SOCKS5D_BASELINE_BIN
adds an earlier build as a `baseline` column.

Exit status: 0 when every measurement ran, 1 when one failed. "n/a" (a proxy without UDP, or
one answering REP 07 to UDP ASSOCIATE) is not a failure. Missed targets are reported, not failed.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXIT_UNSUPPORTED = 3  # loadgen: the proxy answered REP 07 "command not supported"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class MeasurementError(Exception):
    pass


def build_loadgen(workdir):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise MeasurementError("no C compiler (cc) to build loadgen")
    out = os.path.join(workdir, "loadgen")
    subprocess.run([cc, "-O2", "-Wall", "-pthread", "-o", out, os.path.join(HERE, "loadgen.c")],
                   check=True)
    return out


def free_port():
    # Dante and microsocks take a fixed port; a port freed just now is free enough for a benchmark.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


# ---- /proc accounting ----

def process_tree(root):
    """root and every descendant process (Dante forks its workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_kib(root):
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KIB
        except OSError:
            pass
    return total


def cpu_seconds(root):
    """utime+stime of the tree, plus the root's reaped children (cutime+cstime)."""
    ticks = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        if pid == root:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


# ---- the proxies ----

class Proxy:
    name = "?"
    has_udp = True

    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None
        self.address = None  # "127.0.0.1:PORT"; None for direct

    def check_alive(self):
        if self.proc and self.proc.poll() is not None:
            raise MeasurementError(f"{self.name} exited (status {self.proc.returncode}) during the "
                                   f"measurements; logs in {self.workdir}")

    def stop(self):
        """Stops the proxy (SIGTERM); returns its exit status (None when it was not running)."""
        if not self.proc:
            return None
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def log(self, suffix):
        return open(os.path.join(self.workdir, f"{self.name}.{suffix}"), "ab")


class Direct(Proxy):
    name = "direct"

    def start(self):
        pass


class Socks5d(Proxy):
    name = "socks5d"

    def stop(self):
        # socks5d exits 0 on SIGTERM; anything else (a crash, a sanitizer report at exit) fails.
        rc = super().stop()
        if rc not in (None, 0):
            raise MeasurementError(f"socks5d exited with status {rc} on SIGTERM; see {self.log_path}")
        return rc

    def __init__(self, workdir, binary):
        super().__init__(workdir)
        self.binary = binary

    starts = 0

    def extra_args(self):
        return []

    def start(self):
        Socks5d.starts += 1
        self.log_path = path = os.path.join(self.workdir, f"socks5d.{Socks5d.starts}.log")
        # Default log level (info: one access-log line per session), as deployed; to a file.
        # All the load comes from one address (127.0.0.1), so the per-client cap is lifted (0: no
        # cap; the table is still kept, so its cost is measured); older builds lack the flag.
        args = [self.binary, "--listen=127.0.0.1:0", "--shutdown_grace=1s"]
        if b"max_sessions_per_client" in subprocess.run([self.binary, "--helpfull"],
                                                        capture_output=True).stdout:
            args.append("--max_sessions_per_client=0")
        args += self.extra_args()
        self.proc = subprocess.Popen(args,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(path, "wb"))
        end = time.monotonic() + 10
        while time.monotonic() < end and self.proc.poll() is None:
            with open(path, errors="replace") as f:
                for line in f:
                    if "listening on " in line:
                        self.address = line.split("listening on ", 1)[1].split()[0]
                        return
            time.sleep(0.02)
        raise MeasurementError(f"socks5d did not report a listener; see {path}")


class Baseline(Socks5d):
    """An earlier socks5d build (SOCKS5D_BASELINE_BIN), measured like the one under test."""
    name = "baseline"


class Rules100(Socks5d):
    """The socks5d under test with a 100-rule --rules_file whose only allowing rule is the last:
    every decision walks all 100 (the worst case of first-match order), so its CPU figures beside
    the socks5d column are the cost of rules. The 99 others are the kinds an operator writes
    (networks, domain suffixes, ports, commands, users) and never match the benchmark's traffic."""
    name = "rules100"

    def extra_args(self):
        path = os.path.join(self.workdir, "rules100.conf")
        with open(path, "w") as f:
            for i in range(33):
                f.write(f"deny to=10.{i}.0.0/16,fd00:{i:x}::/32\n")
                f.write(f"deny to=.blocked{i}.example,host{i}.example\n")
                f.write(f"deny from=172.16.{i}.0/24 port={1000 + i},{2000 + i}-{2100 + i} cmd=connect,bind\n")
            f.write("allow from=127.0.0.0/8 cmd=connect,bind,udp\n")
        return [f"--rules_file={path}"]

    @staticmethod
    def supported(binary):
        return b"rules_file" in subprocess.run([binary, "--helpfull"], capture_output=True).stdout


class Dante(Proxy):
    name = "dante"

    def start(self):
        binary = shutil.which("danted") or "/usr/sbin/danted"
        for _ in range(3):
            port = free_port()
            conf = os.path.join(self.workdir, "danted.conf")
            with open(conf, "w") as f:
                f.write(f"""logoutput: {self.workdir}/dante.log
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 command: bind connect udpassociate }}
socks pass {{ from: 0.0.0.0/0 to: 127.0.0.0/8 command: bindreply udpreply }}
""")
            self.proc = subprocess.Popen([binary, "-f", conf, "-p", os.path.join(self.workdir, "dante.pid")],
                                         stdin=subprocess.DEVNULL, stdout=self.log("out"),
                                         stderr=subprocess.STDOUT)
            if wait_port(port, self.proc):
                self.address = f"127.0.0.1:{port}"
                return
            self.stop()
        raise MeasurementError(f"danted did not start; see {self.workdir}/dante.log")


class Microsocks(Proxy):
    name = "microsocks"
    has_udp = False

    def start(self):
        for _ in range(3):
            port = free_port()
            # microsocks prints a line per connection: to a file, like the others' logs.
            self.proc = subprocess.Popen(["microsocks", "-i", "127.0.0.1", "-p", str(port)],
                                         stdin=subprocess.DEVNULL, stdout=self.log("log"),
                                         stderr=subprocess.STDOUT)
            if wait_port(port, self.proc):
                self.address = f"127.0.0.1:{port}"
                return
            self.stop()
        raise MeasurementError("microsocks did not start")


DEFAULT_ONLY = "direct,socks5d,dante,microsocks"


# ---- measurements ----

class Bench:
    def __init__(self, loadgen, sizes):
        self.loadgen = loadgen
        self.sizes = sizes

    def run(self, proxy, *args, timeout=300):
        cmd = [self.loadgen, *args, "--proxy", proxy.address or "direct"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode == EXIT_UNSUPPORTED:
            return None
        if r.returncode != 0:
            raise MeasurementError(f"{proxy.name}: {' '.join(args)}: exit {r.returncode}: "
                                   f"{r.stderr.strip()[-500:]}")
        return dict(line.split("=", 1) for line in r.stdout.split())

    def stream(self, proxy, direction):
        """MiB/s of one stream, and the proxy CPU seconds it took."""
        before = cpu_seconds(proxy.proc.pid) if proxy.proc else 0.0
        r = self.run(proxy, "stream", "--dir", direction, "--bytes", str(self.sizes["bytes"]))
        cpu = (cpu_seconds(proxy.proc.pid) - before) if proxy.proc else None
        return int(r["bytes"]) / float(r["seconds"]) / 2**20, cpu

    def sessions(self, proxy, concurrency):
        """Sessions per second, and the proxy's CPU microseconds per session."""
        before = cpu_seconds(proxy.proc.pid) if proxy.proc else 0.0
        r = self.run(proxy, "sessions", "--concurrency", str(concurrency),
                     "--seconds", str(self.sizes["seconds"]))
        n = int(r["sessions"])
        cpu = (cpu_seconds(proxy.proc.pid) - before) * 1e6 / n if proxy.proc else None
        return n / float(r["seconds"]), cpu

    def udp(self, proxy, inflight):
        """loadgen's figures, plus cpu_us: the proxy's CPU microseconds per round trip."""
        if not proxy.has_udp:
            return None
        before = cpu_seconds(proxy.proc.pid) if proxy.proc else 0.0
        r = self.run(proxy, "udp", "--inflight", str(inflight), "--seconds", str(self.sizes["seconds"]))
        if r is not None and proxy.proc:
            r["cpu_us"] = (cpu_seconds(proxy.proc.pid) - before) * 1e6 / max(1, int(r["datagrams"]))
        return r

    def hold(self, proxy, count, processes):
        """Opens `count` idle relayed sessions from `processes` clients; returns (held, RSS delta
        in KiB). The clients are split over processes: each needs a descriptor per session."""
        echo = subprocess.Popen([self.loadgen, "echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        holders = []
        try:
            port = echo.stdout.readline().strip().split("=", 1)[1]
            base = rss_kib(proxy.proc.pid)
            share = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
            for n in share:
                holders.append(subprocess.Popen(
                    [self.loadgen, "hold", "--proxy", proxy.address, "--target", port, "--count", str(n),
                     "--seconds", str(self.sizes["hold_seconds"])],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            held = 0
            for h in holders:
                line = h.stdout.readline().strip()
                if not line.startswith("held="):
                    raise MeasurementError(f"{proxy.name}: hold client failed")
                held += int(line.split("=", 1)[1])
            return held, rss_kib(proxy.proc.pid) - base
        finally:
            for p in holders + [echo]:
                p.stdin.close()
            for p in holders + [echo]:
                p.wait(timeout=60)


FIGURES = [
    # key, label, higher is better
    ("up", "TCP stream up, MiB/s", True),
    ("down", "TCP stream down, MiB/s", True),
    ("sps16", "sessions/s, 16 concurrent", True),
    ("sps256", "sessions/s, 256 concurrent", True),
    ("udp32", "UDP datagrams/s, 32 in flight", True),
    ("p50", "UDP ping-pong p50, us", False),
    ("p99", "UDP ping-pong p99, us", False),
    ("rss", "RSS per idle session, KiB", False),
    ("held", "sessions held at once", True),
    ("cpu", "CPU s per GiB relayed", False),
    # Efficiency, less sensitive to other work on the machine than the rates are:
    ("cpu_session", "CPU us per session (16 conc.)", False),
    ("cpu_datagram", "CPU us per UDP round trip", False),
]


def measure_round(bench, proxy, sizes, out):
    """One measurement of every figure for `proxy`, appended to out[key] (None for n/a).

    The proxy is started twice: the memory figures need a fresh process (the rate tests leave
    freed heap behind that new sessions would reuse, hiding their cost)."""
    def add(key, value):
        out.setdefault(key, []).append(value)

    try:
        proxy.start()
        up, cpu_up = bench.stream(proxy, "up")
        down, cpu_down = bench.stream(proxy, "down")
        add("up", up)
        add("down", down)
        add("cpu", None if cpu_up is None else (cpu_up + cpu_down) / (2 * sizes["bytes"] / 2**30))
        rate, cpu16 = bench.sessions(proxy, 16)
        add("sps16", rate)
        add("cpu_session", cpu16)
        rate, _ = bench.sessions(proxy, 256)
        add("sps256", rate)
        window = bench.udp(proxy, 32)
        add("udp32", None if window is None else int(window["datagrams"]) / float(window["seconds"]))
        add("cpu_datagram", None if window is None else window.get("cpu_us"))
        ping = bench.udp(proxy, 1)
        add("p50", None if ping is None else float(ping["p50_us"]))
        add("p99", None if ping is None else float(ping["p99_us"]))
        proxy.check_alive()
    finally:
        proxy.stop()
    if isinstance(proxy, Direct):
        add("rss", None)
        add("held", None)
        return
    try:
        proxy.start()
        held, delta = bench.hold(proxy, sizes["rss_sessions"], sizes["rss_processes"])
        if held < sizes["rss_sessions"]:
            raise MeasurementError(f"{proxy.name}: held only {held} of {sizes['rss_sessions']} sessions")
        add("rss", delta / held)
        held, _ = bench.hold(proxy, sizes["max_sessions"], sizes["max_processes"])
        add("held", held)
        proxy.check_alive()
    finally:
        proxy.stop()


def fmt(v, key):
    if v is None:
        return "n/a"
    if key in ("rss", "cpu", "cpu_session", "cpu_datagram"):
        return f"{v:.2f}"
    if key in ("p50", "p99"):
        return f"{v:.1f}"
    return f"{v:,.0f}"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2 or not statistics.median(values):
        return None
    return (max(values) - min(values)) / statistics.median(values) * 100


def print_report(names, results, repeats, sizes):
    med = {n: {k: median(results[n].get(k, [])) for k, _, _ in FIGURES} for n in names}
    width = 32
    print(f"\nMedian of {repeats} run(s) per figure:")
    print(f"{'figure':<{width}}" + "".join(f"{n:>12}" for n in names))
    for key, label, _ in FIGURES:
        print(f"{label:<{width}}" + "".join(f"{fmt(med[n][key], key):>12}" for n in names))
    if repeats > 1:
        print(f"\nNoise: (max-min)/median, % over the {repeats} runs:")
        print(f"{'figure':<{width}}" + "".join(f"{n:>12}" for n in names))
        for key, label, _ in FIGURES:
            cells = [spread(results[n].get(key, [])) for n in names]
            print(f"{label:<{width}}" + "".join(f"{'-' if c is None else f'{c:.0f}%':>12}" for c in cells))

    if "socks5d" in names:
        others = [n for n in names if n != "socks5d"]
        print("\nRatios, socks5d / column (lower-is-better figures marked *):")
        print(f"{'figure':<{width}}" + "".join(f"{n:>12}" for n in others))
        for key, label, higher in FIGURES:
            cells = []
            for n in others:
                a, b = med["socks5d"][key], med[n][key]
                cells.append("n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}")
            print(f"{label + ('' if higher else ' *'):<{width}}" + "".join(f"{c:>12}" for c in cells))
        print_targets(med, sizes)
    return med


def print_targets(med, sizes):
    s, d, direct = med["socks5d"], med.get("dante"), med.get("direct")

    def check(label, ok, detail):
        verdict = "n/a " if ok is None else ("MEET" if ok else "MISS")
        print(f"  [{verdict}] {label}: {detail}")

    print("\nTargets (this machine, this run):" if sizes["max_sessions"] >= 9000 else
          "\nTargets (--quick: one short run each, indicative only):")
    if direct:
        for key in ("up", "down"):
            r = None if s[key] is None else s[key] / direct[key]
            check(f"TCP stream {key} >= 80% of direct", None if r is None else r >= 0.8,
                  "n/a" if r is None else f"{r:.0%}")
    for key in ("sps16", "sps256"):
        if d and d[key] and s[key]:
            check(f"{key} >= 2x Dante", s[key] >= 2 * d[key], f"{s[key] / d[key]:.2f}x")
        if direct and direct[key] and s[key]:
            check(f"{key} >= 0.5x direct", s[key] >= 0.5 * direct[key], f"{s[key] / direct[key]:.2f}x")
    if d:
        if s["udp32"] is None or d["udp32"] is None:
            check("UDP datagrams/s >= 3x Dante", None, "n/a")
        else:
            check("UDP datagrams/s >= 3x Dante", s["udp32"] >= 3 * d["udp32"], f"{s['udp32'] / d['udp32']:.2f}x")
        for key in ("p50", "p99"):
            if s[key] is None or d[key] is None or not direct:
                check(f"{key} added latency <= half Dante's", None, "n/a")
                continue
            ours, theirs = s[key] - direct[key], d[key] - direct[key]
            check(f"{key} added latency <= half Dante's", ours <= theirs / 2,
                  f"socks5d +{ours:.1f} us, Dante +{theirs:.1f} us")
    if s["rss"] is not None:
        check("<= 8 KiB RSS per idle session", s["rss"] <= 8, f"{s['rss']:.2f} KiB")
    if s["held"] is not None:
        want = sizes["max_sessions"]
        check(f"{want:,} sessions held at once", s["held"] >= want, f"{s['held']:.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every measurement once, small sizes (CI smoke)")
    parser.add_argument("--repeats", type=int, help="runs per figure (default 3; 1 with --quick)")
    parser.add_argument("--only", default=DEFAULT_ONLY,
                        help="comma-separated subset of direct,socks5d,dante,microsocks "
                             "(and baseline, with SOCKS5D_BASELINE_BIN; rules100, socks5d with a "
                             "100-rule file, is added to the default set when the binary has "
                             "--rules_file)")
    args = parser.parse_args()

    if args.quick:
        sizes = dict(bytes=64 << 20, seconds=0.5, rss_sessions=200, rss_processes=1,
                     max_sessions=600, max_processes=2, hold_seconds=20)
    else:
        sizes = dict(bytes=1 << 30, seconds=3, rss_sessions=2000, rss_processes=2,
                     max_sessions=9000, max_processes=3, hold_seconds=90)
    repeats = args.repeats or (1 if args.quick else 3)
    binary = os.environ.get("SOCKS5D_BIN", os.path.join(REPO, "build", "socks5d"))
    names = [n for n in args.only.split(",") if n]
    # A second socks5d binary (an earlier build) measured in the same rounds: before/after figures
    # for a change, with the machine's noise spread over both.
    baseline = os.environ.get("SOCKS5D_BASELINE_BIN")
    if baseline and "baseline" not in names:
        names.insert(names.index("socks5d") + 1 if "socks5d" in names else 0, "baseline")
    # The cost of a rules file, measured in the same rounds (issue 12: CPU per session with 100
    # rules within noise of none), when the binary has --rules_file; `--only` can leave it out.
    if "socks5d" in names and "rules100" not in names and args.only == DEFAULT_ONLY \
            and Rules100.supported(binary):
        names.insert(names.index("socks5d") + 1, "rules100")

    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="socks5d-bench-")
    failures = []
    results = {n: {} for n in names}
    try:
        bench = Bench(build_loadgen(workdir), sizes)
        factories = {"direct": lambda: Direct(workdir), "socks5d": lambda: Socks5d(workdir, binary),
                     "baseline": lambda: Baseline(workdir, baseline),
                     "rules100": lambda: Rules100(workdir, binary),
                     "dante": lambda: Dante(workdir), "microsocks": lambda: Microsocks(workdir)}
        if baseline:
            print(f"baseline: {baseline}")
        print(f"socks5d: {binary}; work dir {workdir}; {repeats} round(s); "
              f"stream {sizes['bytes'] >> 20} MiB, {sizes['seconds']} s per rate; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for round_ in range(repeats):
            for name in names:
                proxy = factories[name]()
                t0 = time.monotonic()
                try:
                    measure_round(bench, proxy, sizes, results[name])
                    print(f"  round {round_ + 1}: {name} done in {time.monotonic() - t0:.1f}s", flush=True)
                except (MeasurementError, subprocess.SubprocessError, OSError) as e:
                    failures.append(f"round {round_ + 1}: {name}: {e}")
                    print(f"  round {round_ + 1}: {name} FAILED: {e}", flush=True)
        print_report(names, results, repeats, sizes)
    except MeasurementError as e:
        failures.append(str(e))
    print(f"\nwall time {time.monotonic() - started:.0f}s; load average now {os.getloadavg()[0]:.1f} "
          "(other work on the machine adds noise: compare the noise table)")
    if failures:
        print("FAILED measurements:\n  " + "\n  ".join(failures))
        print(f"(logs in {workdir})")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
