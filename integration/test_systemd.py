"""systemd integration without a running systemd (issue 14, "systemd"): the notify protocol
against a Unix datagram socket the test binds as NOTIFY_SOCKET (READY, RELOADING with
MONOTONIC_USEC, STOPPING, STATUS, WATCHDOG and a stuck worker loop stopping the pings), socket
activation through systemd-socket-activate and through sockets the test passes itself, and
`systemd-analyze verify` / `security` on packaging/'s units."""

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from socks5lib import (REPO_ROOT, DnsResponder, EchoServer, HttpServer, Socks5d, binary_path,
                       deadline)

READY = "READY=1"
STOPPING = "STOPPING=1"
WATCHDOG = "WATCHDOG=1"
STATUS_RE = re.compile(r"^STATUS=(\d+) sessions, (\d+) descriptors$")
RELOADING_RE = re.compile(r"^RELOADING=1\nMONOTONIC_USEC=(\d+)$")
# systemd's sd_notify protocol: at most one state block per datagram.
MAX_DATAGRAM = 4096


class NotifySocket:
    """A Unix datagram socket in the abstract namespace, as systemd's NOTIFY_SOCKET: collects
    (monotonic time, text) for every datagram in a thread."""

    def __init__(self):
        self.name = f"socks5d-test-notify-{os.getpid()}-{id(self)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.messages = []
        self._cond = threading.Condition()
        self._closed = False
        threading.Thread(target=self._receive, daemon=True).start()

    @property
    def env(self):
        return {"NOTIFY_SOCKET": "@" + self.name}

    def _receive(self):
        while True:
            try:
                data = self.sock.recv(MAX_DATAGRAM)
            except OSError:
                return
            with self._cond:
                self.messages.append((time.monotonic(), data.decode()))
                self._cond.notify_all()

    def texts(self, start=0):
        with self._cond:
            return [text for _, text in self.messages[start:]]

    def wait_for(self, match, timeout=None, start=0):
        """Waits for a message from index `start` on for which match(text) is true; returns
        (index, text)."""
        end = time.monotonic() + (timeout or deadline(10))
        index = start
        with self._cond:
            while True:
                while index < len(self.messages):
                    text = self.messages[index][1]
                    index += 1
                    if match(text):
                        return index - 1, text
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no matching notification within the deadline; got {self.messages}")
                self._cond.wait(remaining)

    def count(self, text, since):
        """How many `text` messages arrived at or after monotonic time `since`."""
        with self._cond:
            return sum(1 for at, t in self.messages if t == text and at >= since)

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(monkeypatch):
    sock = NotifySocket()
    for key, value in sock.env.items():
        monkeypatch.setenv(key, value)
    # The test's own environment may come from a systemd unit: none of it may leak in.
    for key in ("WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        monkeypatch.delenv(key, raising=False)
    yield sock
    sock.close()


# Servers these tests start themselves (through sh, systemd-socket-activate or the launcher below,
# not the socks5d fixture): stopped and checked for sanitizer reports at teardown.
_own_servers = []


def own(server):
    _own_servers.append(server)
    return server.start()


@pytest.fixture(autouse=True)
def _check_own_servers():
    yield
    servers = list(_own_servers)
    _own_servers.clear()
    for server in servers:
        server.stop()
        print(f"--- {server.binary} {' '.join(server.flags)} output:\n{server.stderr}")
    reports = [server.flags for server in servers if server.sanitizer_report()]
    assert not reports, f"sanitizer report in socks5d output: {reports}"


def equals(text):
    return lambda t: t == text


def start_with_pid_env(flags, env_script):
    """socks5d started by `sh -c '<env_script>; exec socks5d FLAGS'`: the exec keeps the shell's
    pid, so $$ in env_script is the server's pid (systemd's WATCHDOG_PID / LISTEN_PID)."""
    return own(Socks5d(["-c", f'{env_script}; exec "$0" "$@"', str(binary_path()), *flags],
                       binary="/bin/sh"))


# ---------------------------------------------------------------------------------------------
# Notify protocol


def test_ready_after_every_listener_then_stopping_on_sigterm(socks5d, notify):
    server = socks5d("--listen=127.0.0.1:0,[::1]:0", "--workers=2", wait=False)
    index, _ = notify.wait_for(equals(READY))
    # READY=1 is the first notification (STATUS= only starts once the server runs).
    assert index == 0, notify.texts()
    # The `listening on` lines were written before READY=1 (the log is flushed first), and
    # every listener answers.
    endpoints = server.wait_listening(2, timeout=deadline(1))
    assert {host for host, _ in endpoints} == {"127.0.0.1", "::1"}
    for i in range(2):
        with server.client(i) as client:
            client.handshake()
    assert notify.texts().count(READY) == 1
    start = len(notify.texts())
    server.expect_exit = True
    server.proc.send_signal(signal.SIGTERM)
    notify.wait_for(equals(STOPPING), start=start)
    server.wait_for_line(r"signal 15: no longer accepting")
    assert server.proc.wait(deadline(10)) == 0
    assert READY not in notify.texts(start), "READY=1 after STOPPING=1"


def test_sighup_sends_reloading_with_monotonic_usec_then_ready(socks5d, notify, users_file):
    server = socks5d(f"--users_file={users_file}")
    notify.wait_for(equals(READY))
    for good in (True, False):
        if not good:  # a failed reload keeps the old files: the service is ready again too
            users_file.write_text("no colon on this line\n")
        start = len(notify.texts())
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        server.proc.send_signal(signal.SIGHUP)
        index, text = notify.wait_for(RELOADING_RE.match, start=start)
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        usec = int(RELOADING_RE.match(text).group(1))
        assert before <= usec <= after, (before, usec, after)
        notify.wait_for(equals(READY), start=index + 1)
        server.wait_for_line(r"reloaded users=2" if good else r"reload failed: .*users")


def test_status_reports_sessions_and_descriptors(socks5d, notify, echo_server):
    server = socks5d()
    index, _ = notify.wait_for(equals(READY))
    _, first = notify.wait_for(STATUS_RE.match, start=index)
    assert STATUS_RE.match(first).groups() == ("0", "0"), first
    with server.client() as client:
        client.connect("127.0.0.1", echo_server.port)
        start = len(notify.texts())
        # Every 2 s: the next one counts the relaying session and its descriptors.
        _, text = notify.wait_for(STATUS_RE.match, timeout=deadline(5), start=start)
        sessions, descriptors = map(int, STATUS_RE.match(text).groups())
        assert sessions == 1 and descriptors >= 1, text
    start = len(notify.texts())
    notify.wait_for(equals("STATUS=0 sessions, 0 descriptors"), timeout=deadline(5), start=start)


def test_no_watchdog_pings_without_watchdog_usec(socks5d, notify):
    socks5d()
    notify.wait_for(equals(READY))
    start = time.monotonic()
    index, _ = notify.wait_for(STATUS_RE.match)
    notify.wait_for(STATUS_RE.match, timeout=deadline(5), start=index + 1)  # >= 2 s later
    assert notify.count(WATCHDOG, 0) == 0, notify.texts()
    assert time.monotonic() - start >= 1.5


WATCHDOG_USEC = 400_000  # pings every 200 ms


def watchdog_server(notify, pid="$$", workers=2):
    server = start_with_pid_env(
        ["--listen=127.0.0.1:0", f"--workers={workers}", "--shutdown_grace=1s"],
        f"export WATCHDOG_USEC={WATCHDOG_USEC} WATCHDOG_PID={pid}")
    server.wait_listening(1)
    notify.wait_for(equals(READY))
    return server


def test_watchdog_pings_at_half_the_interval(notify):
    server = watchdog_server(notify)
    try:
        server.wait_for_line(r"systemd watchdog: WATCHDOG=1 every 200ms while all 2 worker loops")
        notify.wait_for(equals(WATCHDOG))
        since = time.monotonic()
        time.sleep(2.0)
        pings = notify.count(WATCHDOG, since)
        assert 7 <= pings <= 11, f"{pings} pings in 2 s at a 200 ms period"
    finally:
        assert server.stop() == 0


def test_watchdog_pid_of_another_process_means_no_watchdog(notify):
    # systemd sets WATCHDOG_PID to the main process; a child that inherited it must not ping.
    server = watchdog_server(notify, pid=os.getpid())
    try:
        index, _ = notify.wait_for(STATUS_RE.match)
        notify.wait_for(STATUS_RE.match, timeout=deadline(5), start=index + 1)
        assert WATCHDOG not in notify.texts(), notify.texts()
        assert "systemd watchdog" not in server.stderr
    finally:
        assert server.stop() == 0


# ptrace(2): stops one thread of socks5d (PTRACE_INTERRUPT stops only the thread it names,
# unlike SIGSTOP, which stops the whole process), as a worker loop stuck in a handler would be.
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # __WALL: wait for a thread, not only a child process


class StoppedThread:
    def __init__(self, tid):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                     ctypes.c_void_p]
        self.tid = tid

    def _ptrace(self, request):
        if self.libc.ptrace(request, self.tid, None, None) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"ptrace({request}, {self.tid}): {os.strerror(errno)}")

    def __enter__(self):
        try:
            self._ptrace(PTRACE_SEIZE)
        except PermissionError as e:  # a sandbox without ptrace (seccomp, Yama scope 3)
            pytest.skip(f"ptrace not permitted here: {e}")
        self._ptrace(PTRACE_INTERRUPT)
        os.waitpid(self.tid, WALL)
        return self

    def __exit__(self, *exc):
        self._ptrace(PTRACE_DETACH)


def test_a_stuck_worker_loop_stops_the_watchdog_pings(notify):
    """Each thread but the main one (which runs the signal loop and the pinger) is stopped in
    turn: exactly the two worker loops' stops halt the pings, and they resume once it runs
    again."""
    server = watchdog_server(notify)
    try:
        notify.wait_for(equals(WATCHDOG))
        pid = server.proc.pid
        threads = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
        halting = 0
        for tid in threads:
            with StoppedThread(tid):
                time.sleep(0.5)  # a probe posted before the stop may still be answered
                since = time.monotonic()
                time.sleep(1.0)  # five periods
                stopped_pings = notify.count(WATCHDOG, since)
            resumed = time.monotonic()
            if stopped_pings == 0:
                halting += 1
                index, _ = notify.wait_for(equals(WATCHDOG), timeout=deadline(2),
                                           start=len(notify.texts()))
                assert notify.messages[index][0] - resumed < 1.0, "pings did not resume"
            else:
                assert stopped_pings >= 4, f"thread {tid}: {stopped_pings} pings in 1 s"
        assert halting == 2, f"{halting} of {len(threads)} threads halt the pings (2 workers)"
        server.wait_for_line(r"systemd watchdog: worker \d's loop has not run for 200ms; "
                             r"no WATCHDOG=1")
        server.wait_for_line(r"systemd watchdog: every worker loop answers again")
    finally:
        assert server.stop() == 0


# ---------------------------------------------------------------------------------------------
# Socket activation


@pytest.fixture
def web():
    server = HttpServer(b"through the passed socket\n" * 1000, "127.0.0.1")
    yield server
    server.close()


def free_port():
    """A port nobody listens on right now. systemd-socket-activate needs a number (it refuses
    port 0); a race with another process taking it is retried by the caller."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def socket_activate(*flags):
    """systemd-socket-activate -l 127.0.0.1:PORT socks5d FLAGS: it listens, and execs socks5d
    (same pid) with LISTEN_FDS=1 on the first connection. Returns (server, port)."""
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate not installed (Debian package systemd)")
    for _ in range(3):
        port = free_port()
        # It passes on only the environment named by -E.
        server = own(Socks5d(["-l", f"127.0.0.1:{port}", "-E", "NOTIFY_SOCKET",
                              str(binary_path()), *flags], binary=tool))
        try:
            server.wait_for_line(rf"Listening on 127\.0\.0\.1:{port} as 3\.")
            return server, port
        except AssertionError:
            server.stop()
            if "Address already in use" not in server.stderr:
                raise
    raise AssertionError("no free port for systemd-socket-activate in 3 tries")


def curl(*args):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", str(deadline(10)), *args],
        capture_output=True, env=env, timeout=deadline(20))


def test_socket_activation_serves_the_passed_socket(web, notify):
    dns = DnsResponder({"web.test": {"A": ["127.0.0.1"]}})
    # --listen names a port nobody uses: the passed socket replaces it.
    server, port = socket_activate("--workers=2", "--listen=127.0.0.1:1", "--shutdown_grace=1s",
                                   dns.server_flag)
    try:
        # Nothing is exec'd before the first connection: curl's starts socks5d.
        for _ in range(4):  # both workers' dups of the one socket serve
            result = curl("--socks5-hostname", f"127.0.0.1:{port}", f"http://web.test:{web.port}/")
            assert result.returncode == 0, result.stderr.decode()
            assert result.stdout == b"through the passed socket\n" * 1000
        assert server.wait_listening(1) == [("127.0.0.1", port)]
        server.wait_for_line(rf"listening on 127\.0\.0\.1:{port} \(2 workers, passed by systemd\)")
        assert "listening on 127.0.0.1:1 " not in server.stderr
        notify.wait_for(equals(READY))
        assert server.stop() == 0
        assert len(server.access_logs()) == 4  # the batched log is written at exit
    finally:
        server.stop()
        dns.close()


# Passes sockets made by this launcher as fds 3.. with LISTEN_FDS/LISTEN_PID, then execs socks5d.
# argv: KIND... -- socks5d FLAGS.
LAUNCHER = r"""
import os, socket, sys
sep = sys.argv.index("--")
kinds, command = sys.argv[1:sep], sys.argv[sep + 1:]
socks = []
for kind in kinds:
    if kind in ("tcp4", "tcp6", "any4", "unlistened"):
        family = socket.AF_INET6 if kind == "tcp6" else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind(({"tcp6": "::1", "any4": "0.0.0.0"}.get(kind, "127.0.0.1"), 0))
        if kind != "unlistened":
            s.listen()
    elif kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
    elif kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind("\0socks5d-test-unix-%d" % os.getpid())
        s.listen()
    print("passed %s %s" % (kind, s.getsockname()), file=sys.stderr, flush=True)
    socks.append(s)
copies = [os.dup(s.fileno()) for s in socks]  # above every socket's own descriptor
for i, fd in enumerate(copies):
    os.dup2(fd, 3 + i)
    os.set_inheritable(3 + i, True)
os.environ["LISTEN_FDS"] = str(len(socks))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(command[0], command)
"""


def launch_with_passed(kinds, *flags, netns=False):
    argv = [sys.executable, "-c", LAUNCHER, *kinds, "--", str(binary_path()), *flags]
    if netns:  # a namespace of its own: a wildcard listener there is reachable from nowhere
        argv = [shutil.which("unshare"), "--net", *argv]
    return own(Socks5d(argv[1:], binary=argv[0]))


def test_passed_ipv4_and_ipv6_listeners_are_both_served(echo_server):
    server = launch_with_passed(["tcp4", "tcp6"], "--workers=2", "--shutdown_grace=1s")
    try:
        endpoints = server.wait_listening(2)
        passed = re.findall(r"passed tcp[46] \('([^']+)', (\d+)", server.stderr)
        assert sorted(endpoints) == sorted((host, int(port)) for host, port in passed)
        for i in range(2):
            with server.client(i) as client:
                client.connect("127.0.0.1", echo_server.port)
                client.send(b"ping")
                client.expect(b"ping")
        assert server.stop() == 0
    finally:
        server.stop()


@pytest.mark.parametrize("kinds,message", [
    (["udp"], r"passed descriptor 3 is not a listening TCP socket \(not a stream socket\)"),
    (["tcp4", "unix"], r"passed descriptor 4 is not a listening TCP socket "
                       r"\(a listening stream socket, not IPv4/IPv6\)"),
    (["unlistened"], r"passed descriptor 3 is not a listening TCP socket "
                     r"\(a stream socket that is not listening\)"),
])
def test_a_passed_socket_that_is_not_a_tcp_listener_stops_start_up(kinds, message):
    server = launch_with_passed(kinds)
    server.expect_exit = True
    assert server.proc.wait(deadline(10)) == 1
    server.wait_for_line(rf"socks5d: socket activation: {message}")
    assert "listening on" not in server.stderr


def test_a_passed_wildcard_socket_needs_users_or_allow_open_proxy(users_file):
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--net", "true"], capture_output=True).returncode != 0:
        pytest.skip("no network namespace (unshare --net) for a wildcard listener")
    server = launch_with_passed(["any4"], netns=True)
    server.expect_exit = True
    assert server.proc.wait(deadline(10)) == 1
    server.wait_for_line(r"socks5d: socket activation: refusing to listen on 0\.0\.0\.0 without "
                         r"authentication")
    for flag in ("--allow_open_proxy", f"--users_file={users_file}"):
        server = launch_with_passed(["any4"], flag, "--shutdown_grace=1s", netns=True)
        try:
            assert server.wait_listening(1)[0][0] == "0.0.0.0"
            assert server.stop() == 0
        finally:
            server.stop()


# ---------------------------------------------------------------------------------------------
# The unit files


UNITS = ("socks5d.service", "socks5d.socket")


def analyze_root(tmp_path, binary):
    """A root for `systemd-analyze --root=`: systemd's own units (for sysinit.target and the
    like), ours in /etc/systemd/system, and the binary where ExecStart= expects it (the units'
    paths are checked inside the root); the man page on MANPATH for Documentation=."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    root = tmp_path / "root"
    shutil.copytree("/lib/systemd/system", root / "lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(REPO_ROOT / "packaging" / unit, root / "etc/systemd/system" / unit)
    if binary:
        (root / "usr/bin").mkdir(parents=True)
        shutil.copy(binary, root / "usr/bin/socks5d")
    man = tmp_path / "man" / "man8"
    man.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "packaging/socks5d.8", man / "socks5d.8")
    env = dict(os.environ, MANPATH=str(tmp_path / "man"))
    return root, env


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    root, env = analyze_root(tmp_path, binary_path())
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", *UNITS],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result


def test_systemd_analyze_verify_finds_a_missing_binary(tmp_path):
    # The same check without /usr/bin/socks5d in the root fails: verify does look at ExecStart=.
    root, env = analyze_root(tmp_path, None)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}", *UNITS],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "Command /usr/bin/socks5d is not executable" in result.stderr, result.stderr


def test_systemd_analyze_security_rates_the_service_ok(tmp_path):
    root, env = analyze_root(tmp_path, binary_path())
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={root}", "socks5d.service"],
        capture_output=True, text=True, env=env, timeout=60)
    match = re.search(r"Overall exposure level for socks5d\.service: (\d+\.\d+) (\w+)",
                      result.stdout)
    assert match, result.stdout + result.stderr
    # 0-10, lower is better; "OK" is below 2.0 (systemd 252).
    assert float(match.group(1)) < 2.0, result.stdout
