"""Helpers for the adversarial suite on top of ../socks5lib.py and ../udplib.py.

Every wait has a deadline; the only sleeps are the attack's own pacing (closing a socket at a
chosen instant, reading at a chosen rate), never a wait for the server to do something."""

import os
import resource
import select
import socket
import subprocess
import threading
import time

import socks5lib
from socks5lib import deadline


class LimitedSocks5d(socks5lib.Socks5d):
    """socks5lib.Socks5d with RLIMIT_NOFILE (soft and hard) lowered in the child."""

    def __init__(self, flags, nofile=None):
        super().__init__(flags)
        self.nofile = nofile

    def start(self):
        if not self.binary.exists():
            raise AssertionError(f"socks5d binary not found at {self.binary}: set SOCKS5D_BIN")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        nofile = self.nofile

        def limit():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [str(self.binary), *self.flags], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=limit)
        threading.Thread(target=self._drain, args=(self.proc.stderr, True), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stdout, False), daemon=True).start()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def cpu_seconds(self):
        """utime + stime of the whole process (all threads)."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def count_lines(self, pattern):
        import re
        regex = re.compile(pattern)
        with self._cond:
            return sum(1 for line in self.lines if regex.search(line))


def blackhole_listener(host, port):
    """Listens on (host, port) with backlog 0 and fills the accept queue, so that further SYNs
    are dropped (tcp_abort_on_overflow=0): connects there time out. Returns the sockets to keep."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(0)
    keep = [listener]
    for _ in range(16):
        probe = socket.socket()
        probe.setblocking(False)
        keep.append(probe)
        probe.connect_ex((host, port))
        poller = select.poll()
        poller.register(probe, select.POLLOUT)
        if not poller.poll(100):
            return keep
    for sock in keep:
        sock.close()
    raise AssertionError(f"could not fill the accept queue of {host}:{port}")


def blackhole_addresses(count):
    """`count` loopback addresses 127.0.0.2.. that all blackhole one port. Returns (hosts, port,
    sockets to keep)."""
    first = socket.socket()
    first.bind(("127.0.0.2", 0))
    port = first.getsockname()[1]
    first.close()
    hosts = [f"127.0.0.{2 + i}" for i in range(count)]
    keep = []
    for host in hosts:
        keep += blackhole_listener(host, port)
    return hosts, port, keep


def close_all(socks):
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass


def attacker_source(i):
    """The i-th attacker's source address: 127.1.0.1, 127.1.0.2, ... (distinct from the
    legitimate clients' 127.0.0.1, so that a per-client-address cap, whatever its default,
    does not decide a test that is about something else)."""
    return f"127.1.{i // 250 % 250}.{i % 250 + 1}"


def connect_from(port, source, timeout=None):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout or deadline(5),
                                    source_address=(source, 0))


def association_from(server, source):
    """udplib.Association with its control connection and UDP socket on `source`."""
    import udplib
    a = udplib.Association.__new__(udplib.Association)
    a.server = server
    a.control = socks5lib.Socks5Client.__new__(socks5lib.Socks5Client)
    a.control.sock = connect_from(server.port, source)
    a.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    a.udp.bind((source, 0))
    a.local = a.udp.getsockname()[:2]
    a.control.handshake()
    a.control.send(socks5lib.request("0.0.0.0", 0, cmd=socks5lib.CMD_UDP_ASSOCIATE))
    a.reply = a.control.read_reply()
    assert a.reply.rep == socks5lib.REP_SUCCEEDED, f"UDP ASSOCIATE from {source}: {a.reply}"
    a.relay = a.reply.address
    return a


def readable_within(sock, timeout):
    """poll(), not select(): the attacks hold descriptors above FD_SETSIZE."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def answered_within(sock, timeout):
    """True when the peer sends a byte or closes (FIN or RST) within timeout."""
    if not readable_within(sock, timeout):
        return False
    try:
        sock.recv(1, socket.MSG_PEEK)
    except OSError:
        pass
    return True


def wait_until(predicate, timeout, what):
    """Polls a kernel-side quantity with no event to wait on (descriptor counts in /proc)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not reached within {timeout:.1f}s")
        time.sleep(0.02)
