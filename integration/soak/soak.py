#!/usr/bin/python3
"""Soak: a bounded churn of CONNECT, BIND and UDP ASSOCIATE sessions against one socks5d, some
clients misbehaving, while the server's RSS (/proc/PID/status VmRSS) and descriptor count
(/proc/PID/fd) are sampled. Loopback only; every loop ends at the deadline.

  integration/soak/soak.py --binary build-release/socks5d [--seconds 150] [--interval 5]

Well-behaved clients count their bytes: a CONNECT echoes CONNECT_BYTES through the proxy, a BIND
exchanges BIND_BYTES each way, an association echoes DATAGRAMS datagrams; each compares what came
back byte for byte. Misbehaving clients: half-open handshakes (one greeting byte, then silence
until the handshake timeout), garbage instead of a greeting, CONNECTs reset mid-transfer, clients
that never read a 1 MiB download, BINDs abandoned before a peer comes, associations that send
garbage datagrams and reset their control connection.

It fails when
  - any well-behaved session fails or a transfer loses or alters a byte;
  - RSS or descriptors keep growing after warm-up: the samples after the first WARMUP fraction of
    the run are split into thirds, and the last third's maximum must not exceed the first
    third's maximum * factor + slack (RSS: 1.05 and 1 MiB, descriptors: 1.10 and 32), so a level
    that plateaus passes and a steady climb (a leak per session) fails: a planted 4 KiB leak per
    session failed a 60 s run, one leaked descriptor per 16 sessions a 45 s run;
  - once the churn stops, the descriptors do not come back within 20 s: every descriptor but pipes
    must be back to its count before the load (every session's sockets, listeners and timers
    released), and pipes may exceed theirs only by the relay's idle splice() pipe pool (16 pipes,
    32 ends, per worker).
"""

import argparse
import hashlib
import os
import pathlib
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import socks5lib  # noqa: E402
from socks5lib import (CMD_BIND, REP_SUCCEEDED, EchoServer, SourceServer,  # noqa: E402
                       recv_exact, request, transfer_both_ways)
from udplib import Association, UdpEcho  # noqa: E402

CONNECT_BYTES = 64 * 1024
BIND_BYTES = 16 * 1024
DATAGRAMS = 10
WARMUP = 0.3
RSS_FACTOR, RSS_SLACK_KB = 1.05, 1024
FD_FACTOR, FD_SLACK = 1.10, 32
OP_TIMEOUT = 10.0
WORKERS = 2
POOLED_PIPES = 16  # idle splice() pipes a worker keeps (server/worker.h PipePool::kMaxFree)


def proc_sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def describe_fds(pid):
    """Each descriptor of the process, sockets with their /proc/net entry (addresses, state)."""
    sockets = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/{pid}/net/{proto}") as f:
                next(f)
                for line in f:
                    fields = line.split()
                    sockets[fields[9]] = f"{proto} {fields[1]} -> {fields[2]} st={fields[3]}"
        except OSError:
            pass
    out = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        inode = target[len("socket:["):-1] if target.startswith("socket:[") else None
        out.append(f"  fd {fd}: {target} {sockets.get(inode, '') if inode else ''}")
    return "\n".join(out)


def count_pipes(pid):
    """(pipe ends, other descriptors) of the process."""
    pipes = others = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            pipes += 1
        else:
            others += 1
    return pipes, others


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = {}
        self.failures = []
        self.bytes_checked = 0

    def done(self, kind, nbytes=0):
        with self.lock:
            self.ok[kind] = self.ok.get(kind, 0) + 1
            self.bytes_checked += nbytes

    def fail(self, kind, error):
        with self.lock:
            self.failures.append(f"{kind}: {type(error).__name__}: {error}")


class ClosingEcho(EchoServer):
    """EchoServer that also closes each connection once echoed (thousands pass in a soak)."""

    def handle(self, conn, peer):
        try:
            super().handle(conn, peer)
        finally:
            conn.close()
            self._conns.remove(conn)


class ClosingSource(SourceServer):
    def handle(self, conn, peer):
        try:
            super().handle(conn, peer)
        finally:
            conn.close()
            self._conns.remove(conn)


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Churn:
    def __init__(self, server, echo, udp_echo, source):
        self.server = server
        self.echo = echo.address
        self.udp_echo = udp_echo.address
        self.source = source.address
        self.port = server.port

    def client(self):
        return socks5lib.Socks5Client(self.port, timeout=OP_TIMEOUT)

    # Well-behaved sessions: return the bytes they checked.
    def connect(self, rng):
        payload = rng.randbytes(CONNECT_BYTES)
        with self.client() as c:
            c.connect(*self.echo)
            digest, got, errors = transfer_both_ways(c.sock, payload, len(payload), OP_TIMEOUT)
            if errors or got != len(payload) or digest != hashlib.sha256(payload).hexdigest():
                raise AssertionError(f"CONNECT echo: {got}/{len(payload)} bytes, errors {errors}"
                                     f"{'' if errors else ', content differs'}")
        return 2 * len(payload)

    def bind(self, rng):
        with self.client() as c:
            c.handshake()
            c.send(request("127.0.0.1", 0, cmd=CMD_BIND))
            first = c.read_reply()
            assert first.rep == REP_SUCCEEDED, f"first BIND reply {first}"
            with socket.create_connection(first.address, timeout=OP_TIMEOUT) as peer:
                second = c.read_reply(timeout=OP_TIMEOUT)
                assert second.rep == REP_SUCCEEDED, f"second BIND reply {second}"
                down, up = rng.randbytes(BIND_BYTES), rng.randbytes(BIND_BYTES)
                sender = threading.Thread(target=peer.sendall, args=(down,), daemon=True)
                sender.start()
                c.send(up)
                assert recv_exact(c.sock, len(down), OP_TIMEOUT, "BIND down") == down, \
                    "BIND: bytes from the peer differ"
                assert recv_exact(peer, len(up), OP_TIMEOUT, "BIND up") == up, \
                    "BIND: bytes from the client differ"
                sender.join(OP_TIMEOUT)
        return 2 * BIND_BYTES

    def udp(self, rng):
        association = Association(self.server)
        try:
            total = 0
            for n in range(DATAGRAMS):
                payload = rng.randbytes(rng.randrange(1, 1400))
                association.send(self.udp_echo[0], self.udp_echo[1], payload)
                _, _, _, data = association.recv(timeout=OP_TIMEOUT)
                assert data == payload, f"UDP datagram {n} differs"
                total += len(payload)
        finally:
            association.close()
        return 2 * total

    # Misbehaving clients.
    def half_open(self, rng):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=OP_TIMEOUT)
        sock.sendall(b"\x05")
        time.sleep(rng.uniform(0.2, 3.0))  # past the 2 s handshake timeout, sometimes
        sock.close()

    def garbage(self, rng):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=OP_TIMEOUT)
        try:
            sock.sendall(rng.randbytes(rng.randrange(1, 600)))
            sock.recv(1024)  # a refusal or the close
        except OSError:
            pass
        reset(sock) if rng.random() < 0.5 else sock.close()

    def reset_mid_transfer(self, rng):
        c = self.client()
        c.connect(*self.echo)
        c.send(rng.randbytes(rng.randrange(1, 200000)))
        reset(c.sock)

    def never_reads(self, rng):
        c = self.client()
        c.connect(*self.source)  # the source sends 1 MiB; this client reads none of it
        time.sleep(rng.uniform(0.5, 2.0))
        reset(c.sock) if rng.random() < 0.5 else c.close()

    def bind_abandoned(self, rng):
        c = self.client()
        c.handshake()
        c.send(request("127.0.0.1", 0, cmd=CMD_BIND))
        c.read_reply()
        reset(c.sock)

    def udp_garbage(self, rng):
        association = Association(self.server)
        for _ in range(5):
            association.send_raw(rng.randbytes(rng.randrange(0, 40)))
        association.send(self.udp_echo[0], self.udp_echo[1], b"x", frag=1)  # never completed
        reset(association.control.sock)
        association.udp.close()


GOOD = ["connect", "connect", "connect", "bind", "udp"]
BAD = ["half_open", "garbage", "reset_mid_transfer", "never_reads", "bind_abandoned",
       "udp_garbage"]


def worker(churn, stats, end, seed):
    rng = random.Random(seed)
    while time.monotonic() < end:
        kind = rng.choice(GOOD) if rng.random() < 0.6 else rng.choice(BAD)
        try:
            nbytes = getattr(churn, kind)(rng)
            stats.done(kind, nbytes or 0)
        except Exception as e:  # noqa: BLE001
            if kind in GOOD:
                stats.fail(kind, e)
            else:
                stats.done(kind)  # a misbehaving client may well see an error


def grows(values, factor, slack):
    """The rule of the module docstring on post-warm-up samples: (grew, first max, last max)."""
    third = max(1, len(values) // 3)
    first, last = max(values[:third]), max(values[-third:])
    return last > first * factor + slack, first, last


def slope_per_minute(samples, index):
    """Least-squares slope of column `index` over time, per minute (reported, not judged)."""
    xs = [s[0] for s in samples]
    ys = [s[index] for s in samples]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=os.environ.get("SOCKS5D_BIN"), required=False)
    parser.add_argument("--seconds", type=float, default=150)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8, help="concurrent churning threads")
    args = parser.parse_args()
    if not args.binary:
        parser.error("--binary (or SOCKS5D_BIN) is required")

    echo, udp_echo, source = ClosingEcho(), UdpEcho(), ClosingSource(b"\xa5" * (1 << 20))
    server = socks5lib.Socks5d(
        ["--listen=127.0.0.1:0", f"--workers={WORKERS}", "--shutdown_grace=1s", "--handshake_timeout=2s",
         "--idle_timeout=10s", "--bind_timeout=5s", "--udp_idle_timeout=10s"],
        binary=args.binary).start()
    failed = []
    try:
        server.wait_listening(1)
        pid = server.proc.pid
        time.sleep(0.5)
        idle_pipes, idle_others = count_pipes(pid)
        idle_desc = describe_fds(pid)
        stats = Stats()
        start = time.monotonic()
        end = start + args.seconds
        churn = Churn(server, echo, udp_echo, source)
        threads = [threading.Thread(target=worker, args=(churn, stats, end, seed), daemon=True)
                   for seed in range(args.clients)]
        for t in threads:
            t.start()
        samples = []  # (t, rss_kb, fds, sessions done)
        print(f"{'t/s':>6} {'VmRSS/KiB':>10} {'fds':>6} {'sessions':>9}", flush=True)
        next_sample = start
        while time.monotonic() < end:
            next_sample += args.interval
            time.sleep(max(0.0, min(next_sample, end) - time.monotonic()))
            rss, fds = proc_sample(pid)
            with stats.lock:
                done = sum(stats.ok.values()) + len(stats.failures)
            samples.append((time.monotonic() - start, rss, fds, done))
            print(f"{samples[-1][0]:6.1f} {rss:10d} {fds:6d} {done:9d}", flush=True)
        for t in threads:
            t.join(OP_TIMEOUT + 5)
        if any(t.is_alive() for t in threads):
            failed.append("churn threads did not finish")

        # Quiescence: every session's descriptors released. The relay keeps up to
        # POOLED_PIPES idle splice() pipes per worker (server/worker.h PipePool::kMaxFree), so
        # pipes may stay up to that bound; every other descriptor must be back to its idle count.
        quiet_end = time.monotonic() + 20
        while True:
            rss, fds = proc_sample(pid)
            pipes, others = count_pipes(pid)
            settled = others <= idle_others and pipes <= idle_pipes + 2 * POOLED_PIPES * WORKERS
            if settled or time.monotonic() > quiet_end:
                break
            time.sleep(0.5)
        print(f"after the churn: VmRSS {rss} KiB, {fds} fds: {pipes} pipe ends, {others} others "
              f"(idle before the load: {idle_pipes} pipe ends, {idle_others} others)")
        if not settled:
            print(f"descriptors before the load:\n{idle_desc}\nnow:\n{describe_fds(pid)}")
            failed.append(f"descriptors did not come back: {pipes} pipe ends (at most "
                          f"{idle_pipes + 2 * POOLED_PIPES * WORKERS}), {others} others (idle "
                          f"{idle_others})")

        post = [s for s in samples if s[0] >= WARMUP * args.seconds]
        if len(post) < 3:
            failed.append(f"only {len(post)} samples after warm-up: run longer")
        else:
            for name, index, factor, slack in [("VmRSS/KiB", 1, RSS_FACTOR, RSS_SLACK_KB),
                                               ("fds", 2, FD_FACTOR, FD_SLACK)]:
                grew, first, last = grows([s[index] for s in post], factor, slack)
                print(f"{name}: first-third max {first}, last-third max {last} (limit "
                      f"{first * factor + slack:.0f}); slope {slope_per_minute(post, index):+.1f}"
                      f"/min")
                if grew:
                    failed.append(f"{name} keeps growing after warm-up: {first} -> {last}")
        print(f"sessions: {dict(sorted(stats.ok.items()))}; bytes checked: {stats.bytes_checked}")
        if stats.failures:
            failed.append(f"{len(stats.failures)} well-behaved sessions failed")
            for f in stats.failures[:20]:
                print("  " + f)
        for kind in ("connect", "bind", "udp"):
            if not stats.ok.get(kind):
                failed.append(f"no {kind} session completed")
    finally:
        alive = server.running()
        rc = server.stop()
        echo.close()
        udp_echo.close()
        source.close()
    if not alive:
        failed.append(f"socks5d died during the soak (rc={rc})")
    if server.sanitizer_report():
        failed.append("sanitizer report in the server's output")
    if failed:
        print("server output (tail):\n" + "\n".join(server.stderr.splitlines()[-30:]))
        print("SOAK FAILED: " + "; ".join(failed))
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
