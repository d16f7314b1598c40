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

System calls (exact counts, unlike the rates they do not move with the machine's load): in the
first round, `strace -c -f` is attached to the proxy's whole process tree (every thread and
forked child) while loadgen runs exactly --syscall-sessions CONNECT sessions (16 concurrent,
each as above), then while UDP datagrams go round with 32 and with 1 in flight; the calls are
divided by the sessions, or by the relayed datagrams (two per completed round trip: the client's
to the target and the reply back; datagrams the proxy read but that did not come back only add
to the count). The per-call breakdown per session is printed too. strace slows the traced proxy
(ptrace stops at every call), so these runs are never timed, and a proxy that batches sees
fuller batches under strace than without: where `perf stat -e raw_syscalls:sys_enter` works
(tracefs mounted), each is run again counted by that tracepoint, which does not slow the proxy,
and printed as the "(perf)" rows. --syscalls-only measures just these (fast).

Exit status: 0 when every measurement ran, 1 when one failed. "n/a" (a proxy without UDP, or
one answering REP 07 to UDP ASSOCIATE) is not a failure. Missed targets are reported, not failed.
"""

import argparse
import os
import shutil
import signal
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


def threads(pids):
    out = []
    for pid in pids:
        try:
            out.extend(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return out


def traced(tid):
    try:
        with open(f"/proc/{tid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1]) != 0
    except OSError:
        return True  # gone: nothing left to wait for
    return False


def parse_strace_summary(text):
    """{syscall: (calls, errors)} from `strace -c` output."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) not in (5, 6) or fields[-1] == "total" or not fields[3].isdigit():
            continue
        try:
            float(fields[0])
        except ValueError:
            continue
        errors = int(fields[4]) if len(fields) == 6 else 0
        out[fields[-1]] = (int(fields[3]), errors)
    return out


class SyscallCounter:
    """Counts the system calls of a running proxy's process tree with `strace -c -f` around one
    action (bounded: strace is stopped with SIGINT, killed if it lingers)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.runs = 0
        self.perf = False  # also count totals with perf's tracepoint (perf_available)

    @staticmethod
    def available():
        return shutil.which("strace") is not None

    def count(self, proxy, action):
        return self._strace(proxy, action)

    @staticmethod
    def perf_available():
        """Whether `perf stat` can count the raw_syscalls:sys_enter tracepoint here (tracefs
        mounted, perf_event_paranoid permitting)."""
        if not shutil.which("perf"):
            return False
        r = subprocess.run(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "--", "true"],
                           capture_output=True, text=True)
        return r.returncode == 0 and any(line.split(",")[0].isdigit() for line in r.stderr.splitlines())

    def count_total(self, proxy, action):
        """(total system calls, action's result) counted by perf's tracepoint: no ptrace stop per
        call, so the proxy runs at its own speed (and batches as it would untraced)."""
        self.runs += 1
        out = os.path.join(self.workdir, f"perf.{proxy.name}.{self.runs}")
        pids = process_tree(proxy.proc.pid)
        tracer = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-e", "raw_syscalls:sys_enter",
                                   "-p", ",".join(map(str, pids))],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=open(out + ".err", "wb"))
        try:
            time.sleep(0.3)  # perf opens its counters
            if tracer.poll() is not None:
                raise MeasurementError(f"perf stat did not start on {proxy.name}; see {out}.err")
            result = action()
        finally:
            tracer.send_signal(signal.SIGINT)
            try:
                tracer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                tracer.kill()
                tracer.wait()
        with open(out) as f:
            for line in f:
                fields = line.split(",")
                if len(fields) > 2 and "raw_syscalls:sys_enter" in fields[2] and fields[0].isdigit():
                    return int(fields[0]), result
        raise MeasurementError(f"perf stat counted nothing on {proxy.name}; see {out}")

    def _strace(self, proxy, action):
        self.runs += 1
        out = os.path.join(self.workdir, f"strace.{proxy.name}.{self.runs}")
        pids = process_tree(proxy.proc.pid)
        cmd = ["strace", "-c", "-f", "-qq", "-o", out]
        for pid in pids:
            cmd += ["-p", str(pid)]
        tracer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=open(out + ".err", "wb"))
        try:
            end = time.monotonic() + 10
            while not all(traced(t) for t in threads(pids)):
                if time.monotonic() > end or tracer.poll() is not None:
                    raise MeasurementError(f"strace did not attach to {proxy.name}; see {out}.err")
                time.sleep(0.02)
            result = action()
        finally:
            tracer.send_signal(signal.SIGINT)
            try:
                tracer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                tracer.kill()
                tracer.wait()
        with open(out) as f:
            return parse_strace_summary(f.read()), result


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


class Metrics(Socks5d):
    """The socks5d under test with --metrics_listen on (issue 14: CPU per session and per GiB
    within noise of the socks5d column). Not in the default set: `--only socks5d,metrics`."""
    name = "metrics"

    def extra_args(self):
        return ["--metrics_listen=127.0.0.1:0"]


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

    def syscalls(self, proxy, counter, out):
        """System calls per CONNECT session and per relayed UDP datagram (see the docstring)."""
        n = self.sizes["syscall_sessions"]
        calls, r = counter.count(proxy, lambda: self.run(
            proxy, "sessions", "--concurrency", "16", "--seconds", "120", "--count", str(n)))
        if int(r["sessions"]) != n:
            raise MeasurementError(f"{proxy.name}: {r['sessions']} of {n} sessions under strace")
        out["sys_session"] = sum(c for c, _ in calls.values()) / n
        out["sys_breakdown"] = {k: (c / n, e / n) for k, (c, e) in calls.items()}
        if counter.perf:
            total, r = counter.count_total(proxy, lambda: self.run(
                proxy, "sessions", "--concurrency", "16", "--seconds", "120", "--count", str(n)))
            out["sys_session_perf"] = total / n
        for key, inflight in (("sys_udp32", 32), ("sys_udp1", 1)):
            if not proxy.has_udp:
                out[key] = out[key + "_perf"] = None
                continue
            calls, r = counter.count(proxy, lambda: self.run(
                proxy, "udp", "--inflight", str(inflight), "--seconds", str(self.sizes["syscall_seconds"])))
            relayed = 2 * int(r["received"]) if r else 0
            out[key] = sum(c for c, _ in calls.values()) / relayed if relayed else None
            if counter.perf:
                total, r = counter.count_total(proxy, lambda: self.run(
                    proxy, "udp", "--inflight", str(inflight), "--seconds", str(self.sizes["syscall_seconds"])))
                relayed = 2 * int(r["received"]) if r else 0
                out[key + "_perf"] = total / relayed if relayed else None

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
    # Exact (strace), measured in the first round only:
    ("sys_session", "syscalls per CONNECT session", False),
    ("sys_udp32", "syscalls per UDP datagram, 32 fl.", False),
    ("sys_udp1", "syscalls per UDP datagram, 1 fl.", False),
    # The same counted by perf's tracepoint where it works (the proxy untraced by ptrace):
    ("sys_session_perf", "  (perf) per CONNECT session", False),
    ("sys_udp32_perf", "  (perf) per UDP datagram, 32 fl.", False),
    ("sys_udp1_perf", "  (perf) per UDP datagram, 1 fl.", False),
]
SYSCALL_KEYS = ("sys_session", "sys_udp32", "sys_udp1", "sys_session_perf", "sys_udp32_perf",
                "sys_udp1_perf")


def measure_syscalls(bench, proxy, counter, out):
    """The exact system-call figures for `proxy` (once: they do not depend on the load)."""
    if isinstance(proxy, Direct):
        for key in SYSCALL_KEYS:
            out.setdefault(key, []).append(None)
        return
    counts = {}
    try:
        proxy.start()
        bench.syscalls(proxy, counter, counts)
        proxy.check_alive()
    finally:
        proxy.stop()
    for key in SYSCALL_KEYS:
        out.setdefault(key, []).append(counts.get(key))
    out["sys_breakdown"] = counts["sys_breakdown"]


def measure_round(bench, proxy, sizes, out):
    """One measurement of every rate and memory figure for `proxy`, appended to out[key] (None for
    n/a).

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
    if key in ("rss", "cpu", "cpu_session", "cpu_datagram", "sys_udp32", "sys_udp1",
               "sys_udp32_perf", "sys_udp1_perf"):
        return f"{v:.2f}"
    if key in ("sys_session", "sys_session_perf"):
        return f"{v:.1f}"
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
    width = 36
    figures = [f for f in FIGURES if any(results[n].get(f[0]) for n in names)]
    print(f"\nMedian of {repeats} run(s) per figure (system calls: one strace run):")
    print(f"{'figure':<{width}}" + "".join(f"{n:>12}" for n in names))
    for key, label, _ in figures:
        print(f"{label:<{width}}" + "".join(f"{fmt(med[n][key], key):>12}" for n in names))
    print_breakdown(names, results, width)
    if repeats > 1:
        print(f"\nNoise: (max-min)/median, % over the {repeats} runs:")
        print(f"{'figure':<{width}}" + "".join(f"{n:>12}" for n in names))
        for key, label, _ in figures:
            if key in SYSCALL_KEYS:
                continue
            cells = [spread(results[n].get(key, [])) for n in names]
            print(f"{label:<{width}}" + "".join(f"{'-' if c is None else f'{c:.0f}%':>12}" for c in cells))

    if "socks5d" in names:
        others = [n for n in names if n != "socks5d"]
        print("\nRatios, socks5d / column (lower-is-better figures marked *):")
        print(f"{'figure':<{width}}" + "".join(f"{n:>12}" for n in others))
        for key, label, higher in figures:
            cells = []
            for n in others:
                a, b = med["socks5d"][key], med[n][key]
                cells.append("n/a" if a is None or b is None or b == 0 else f"{a / b:.2f}")
            print(f"{label + ('' if higher else ' *'):<{width}}" + "".join(f"{c:>12}" for c in cells))
        print_targets(med, sizes)
    return med


def print_breakdown(names, results, width):
    """System calls per CONNECT session, call by call (errors, e.g. EAGAIN, in brackets)."""
    shown = [n for n in names if results[n].get("sys_breakdown")]
    if not shown:
        return
    calls = {}
    for n in shown:
        for call, (c, _) in results[n]["sys_breakdown"].items():
            calls[call] = max(calls.get(call, 0), c)
    print("\nSystem calls per CONNECT session, by call ([errors]; calls under 0.05 per session left out):")
    print(f"{'call':<{width}}" + "".join(f"{n:>16}" for n in shown))
    for call in sorted(calls, key=lambda c: -calls[c]):
        if calls[call] < 0.05:
            continue
        cells = []
        for n in shown:
            c, e = results[n]["sys_breakdown"].get(call, (0, 0))
            cells.append("-" if c < 0.005 else (f"{c:.2f} [{e:.2f}]" if e >= 0.005 else f"{c:.2f}"))
        print(f"{call:<{width}}" + "".join(f"{c:>16}" for c in cells))


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
    if s.get("sys_session") is not None:
        check("<= 24 system calls per CONNECT session", s["sys_session"] <= 24, f"{s['sys_session']:.1f}")
    for key in ("sys_udp32", "sys_udp32_perf"):
        if s.get(key) is not None:
            check(f"<= 1 system call per UDP datagram, 32 in flight ({'perf' if 'perf' in key else 'strace'})",
                  s[key] <= 1, f"{s[key]:.2f}")
    if s.get("sys_session_perf") is not None:
        check("<= 24 system calls per CONNECT session (perf)", s["sys_session_perf"] <= 24,
              f"{s['sys_session_perf']:.1f}")
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
                             "--rules_file; metrics, socks5d with --metrics_listen)")
    parser.add_argument("--no-syscalls", action="store_true",
                        help="skip the system-call counts (strace; they run in the first round)")
    parser.add_argument("--syscalls-only", action="store_true",
                        help="only the system-call counts (one strace run per proxy, ~1 min)")
    parser.add_argument("--syscall-sessions", type=int,
                        help="CONNECT sessions counted under strace (default 2000; 300 with --quick)")
    args = parser.parse_args()

    if args.quick:
        sizes = dict(bytes=64 << 20, seconds=0.5, rss_sessions=200, rss_processes=1,
                     max_sessions=600, max_processes=2, hold_seconds=20,
                     syscall_sessions=300, syscall_seconds=1)
    else:
        sizes = dict(bytes=1 << 30, seconds=3, rss_sessions=2000, rss_processes=2,
                     max_sessions=9000, max_processes=3, hold_seconds=90,
                     syscall_sessions=2000, syscall_seconds=2)
    if args.syscall_sessions:
        sizes["syscall_sessions"] = args.syscall_sessions
    count_syscalls = not args.no_syscalls
    if count_syscalls and not SyscallCounter.available():
        print("strace not installed (.ci/apt/bench.txt): no system-call counts")
        count_syscalls = False
    if args.syscalls_only:
        repeats = 0
        if not count_syscalls:
            return 1
    if not args.syscalls_only:
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
        counter = SyscallCounter(workdir)
        counter.perf = count_syscalls and SyscallCounter.perf_available()
        factories = {"direct": lambda: Direct(workdir), "socks5d": lambda: Socks5d(workdir, binary),
                     "baseline": lambda: Baseline(workdir, baseline),
                     "rules100": lambda: Rules100(workdir, binary),
                     "metrics": lambda: Metrics(workdir, binary),
                     "dante": lambda: Dante(workdir), "microsocks": lambda: Microsocks(workdir)}
        if baseline:
            print(f"baseline: {baseline}")
        print(f"socks5d: {binary}; work dir {workdir}; {repeats} round(s); "
              f"stream {sizes['bytes'] >> 20} MiB, {sizes['seconds']} s per rate; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if count_syscalls:
            for name in names:
                t0 = time.monotonic()
                try:
                    measure_syscalls(bench, factories[name](), counter, results[name])
                    print(f"  system calls: {name} done in {time.monotonic() - t0:.1f}s", flush=True)
                except (MeasurementError, subprocess.SubprocessError, OSError, KeyError) as e:
                    failures.append(f"system calls: {name}: {e}")
                    print(f"  system calls: {name} FAILED: {e}", flush=True)
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
        print_report(names, results, max(repeats, 1), sizes)
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
