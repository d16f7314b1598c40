#!/usr/bin/python3
"""Host-side cases for the socks5d container image; docker/test.sh starts the server container.

The client runs on the host and reaches the server through the ports the engine publishes (its NAT);
the targets (HTTP, UDP echo) run on the host too, on the container network's gateway address, which
is how a container reaches the host on a bridge network. Every wait has a deadline; nothing sleeps
to synchronise. Prints PASS/FAIL per case and writes "passed failed" to --results.
"""

import argparse
import http.server
import ipaddress
import json
import os
import re
import select
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

TIMEOUT = 10.0  # seconds, for every single network wait
START_TIMEOUT = 60.0  # seconds, for a container to log `listening on` or to exit

REP_SUCCEEDED = 0x00
CMD_CONNECT = 0x01
CMD_BIND = 0x02
CMD_UDP_ASSOCIATE = 0x03
ATYP_IPV4 = 0x01
ATYP_DOMAIN = 0x03
ATYP_IPV6 = 0x04
IMAGE_UID = 10001
LISTENING_RE = re.compile(r"listening on (\S+)")


# --- SOCKS5 client, byte level (RFC 1928, RFC 1929) ------------------------------------------------

def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {n} bytes ({data.hex()})")
        data += chunk
    return data


def encode_address(host, port):
    address = ipaddress.ip_address(host)
    atyp = ATYP_IPV4 if address.version == 4 else ATYP_IPV6
    return bytes([atyp]) + address.packed + struct.pack("!H", port)


def read_reply(sock):
    """Reads one reply `05 REP 00 ATYP BND.ADDR BND.PORT`; returns (rep, host, port)."""
    ver, rep, rsv, atyp = recv_exact(sock, 4)
    assert ver == 5, f"reply VER {ver:#04x}"
    assert rsv == 0, f"reply RSV {rsv:#04x}"
    if atyp == ATYP_IPV4:
        host = str(ipaddress.IPv4Address(recv_exact(sock, 4)))
    elif atyp == ATYP_IPV6:
        host = str(ipaddress.IPv6Address(recv_exact(sock, 16)))
    elif atyp == ATYP_DOMAIN:
        host = recv_exact(sock, recv_exact(sock, 1)[0]).decode()
    else:
        raise AssertionError(f"reply ATYP {atyp:#04x}")
    (port,) = struct.unpack("!H", recv_exact(sock, 2))
    return rep, host, port


def parse_udp_header(datagram):
    """Splits a relayed datagram `RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA` (RFC 1928 s.7)."""
    assert len(datagram) >= 10, f"short datagram {datagram.hex()}"
    assert datagram[0:2] == b"\0\0", f"datagram RSV {datagram[0:2].hex()}"
    assert datagram[2] == 0, f"datagram FRAG {datagram[2]:#04x}"
    atyp = datagram[3]
    if atyp == ATYP_IPV4:
        host, rest = str(ipaddress.IPv4Address(datagram[4:8])), datagram[8:]
    elif atyp == ATYP_IPV6:
        host, rest = str(ipaddress.IPv6Address(datagram[4:20])), datagram[20:]
    else:
        raise AssertionError(f"datagram ATYP {atyp:#04x}")
    (port,) = struct.unpack("!H", rest[:2])
    return host, port, rest[2:]


class Proxy:
    def __init__(self, address, user, password):
        host, port = address.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.user, self.password = user, password

    def connect(self):
        return socket.create_connection((self.host, self.port), timeout=TIMEOUT)

    def authenticated(self):
        """A connection past method negotiation and RFC 1929 authentication."""
        sock = self.connect()
        sock.sendall(b"\x05\x01\x02")
        assert recv_exact(sock, 2) == b"\x05\x02", "server did not choose username/password"
        user, password = self.user.encode(), self.password.encode()
        sock.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
        status = recv_exact(sock, 2)
        assert status == b"\x01\x00", f"authentication answered {status.hex()}"
        return sock

    def request(self, cmd, host, port):
        sock = self.authenticated()
        sock.sendall(bytes([5, cmd, 0]) + encode_address(host, port))
        return sock, read_reply(sock)


# --- targets on the host -----------------------------------------------------------------------

class HttpTarget:
    """An HTTP server answering GET /hello with a body unique to this run."""

    def __init__(self, host):
        self.body = f"hello from the host {os.getpid()}-{time.monotonic_ns()}\n".encode()
        body = self.body

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/hello" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.host, self.port = host, self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class BannerTarget:
    """A TCP server that greets every connection with an SSH banner, then waits for EOF."""

    BANNER = b"SSH-2.0-OpenSSH_9.2p1\r\n"

    def __init__(self, host):
        self.sock = socket.create_server((host, 0))
        self.host, self.port = host, self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(TIMEOUT)
                try:
                    connection.sendall(self.BANNER)
                    while connection.recv(4096):
                        pass
                except OSError:
                    pass

    def close(self):
        self.sock.close()


class UdpEcho:
    def __init__(self, host):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.peers = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            self.peers.append(peer)
            self.sock.sendto(data, peer)

    def close(self):
        self.sock.close()


# --- the engine --------------------------------------------------------------------------------

class Engine:
    def __init__(self, command, run_flags):
        self.command = shlex.split(command)
        self.run_flags = shlex.split(run_flags)
        self.is_podman = os.path.basename(self.command[0]) == "podman"

    def __call__(self, *args, timeout=START_TIMEOUT, check=False):
        result = subprocess.run(self.command + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args[:2])} failed ({result.returncode}): "
                                 f"{result.stdout.strip()}")
        return result

    def inspect(self, *args):
        return json.loads(self("inspect", *args, check=True).stdout)[0]

    def wait_for_log(self, container, pattern):
        """Follows the container's log until `pattern` matches; returns (match, log so far)."""
        follower = subprocess.Popen(self.command + ["logs", "-f", container], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
        seen = b""
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                match = pattern.search(seen.decode(errors="replace"))
                if match:
                    return match, seen.decode(errors="replace")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None, seen.decode(errors="replace")
                ready, _, _ = select.select([follower.stdout], [], [], remaining)
                if ready:
                    chunk = os.read(follower.stdout.fileno(), 65536)
                    if not chunk:  # the container has exited
                        return None, seen.decode(errors="replace")
                    seen += chunk
        finally:
            follower.kill()
            follower.wait()

    def run_to_exit(self, name, *args):
        """Runs the image with `args` until it exits; returns (exit status, log). Detached, then
        `wait`, because an attached `run` loses the status of a container that exits at once
        behind some Docker API servers (podman's)."""
        self("run", "-d", "--name", name, *self.run_flags, *args, check=True)
        try:
            waited = self("wait", name, check=True)
            return int(waited.stdout.strip().splitlines()[-1]), self.logs(name)
        finally:
            self("rm", "-f", name)

    def logs(self, container):
        return self("logs", container).stdout


def find_gateway(inspected):
    """The container network's gateway: the host's address as the container sees it."""
    settings = inspected["NetworkSettings"]
    if settings.get("Gateway"):
        return settings["Gateway"]
    for network in (settings.get("Networks") or {}).values():
        if network.get("Gateway"):
            return network["Gateway"]
    raise AssertionError("the container has no network gateway (not a bridge network?)")


def find_key(tree, wanted):
    """The first value under a key named `wanted` (case-insensitive) anywhere in `tree`."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key.lower() == wanted.lower() and value:
                return value
        for value in tree.values():
            found = find_key(value, wanted)
            if found:
                return found
    if isinstance(tree, list):
        for value in tree:
            found = find_key(value, wanted)
            if found:
                return found
    return None


def parse_range(text):
    low, high = text.split("-")
    return int(low), int(high)


# --- the cases ---------------------------------------------------------------------------------

class Cases:
    def __init__(self, args):
        self.args = args
        self.engine = Engine(args.engine, args.run_flags)
        self.proxy = Proxy(args.proxy, args.user, args.password)
        self.bind_range = parse_range(args.bind_range)
        self.udp_range = parse_range(args.udp_range)
        self.passed = 0
        self.failed = 0
        self.gateway = None
        self.http = None
        self.udp_echo = None
        self.banner = None

    def run(self, name, case):
        try:
            # Everything after the first case needs the server and the host targets; without
            # them each case fails on its own line rather than vanishing from the count.
            if self.gateway is None and case != self.server_ready:
                raise AssertionError("not run: the server container did not get ready")
            case()
        except Exception as error:  # a case fails on any error, not only on an assertion
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
            if not isinstance(error, AssertionError):
                traceback.print_exc(file=sys.stdout)
        else:
            self.passed += 1
            print(f"PASS {name}")
        sys.stdout.flush()

    # The server container (started by test.sh) gets ready, and the host targets start.
    def server_ready(self):
        match, log = self.engine.wait_for_log(self.args.container, LISTENING_RE)
        assert match, f"no `listening on` within {START_TIMEOUT}s; log:\n{log}"
        assert match.group(1) == "0.0.0.0:1080", f"listening on {match.group(1)}"
        self.gateway = find_gateway(self.engine.inspect(self.args.container))
        self.http = HttpTarget(self.gateway)
        self.udp_echo = UdpEcho(self.gateway)
        self.banner = BannerTarget(self.gateway)
        print(f"     host targets on the container gateway {self.gateway}: "
              f"HTTP {self.http.port}, UDP echo {self.udp_echo.port}")

    def server_not_root(self):
        # PID 1 is socks5d itself (the entrypoint execs it), so docker stop's SIGTERM reaches it.
        cmdline = self.engine("exec", self.args.container, "cat", "/proc/1/cmdline", check=True)
        assert cmdline.stdout.split("\0")[0] == "/usr/local/bin/socks5d", cmdline.stdout
        status = self.engine("exec", self.args.container, "cat", "/proc/1/status", check=True)
        ids = {}
        for line in status.stdout.splitlines():
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid"):
                ids[key] = [int(field) for field in value.split()]
        assert ids["Uid"] == [IMAGE_UID] * 4, f"socks5d runs with Uid {ids['Uid']}"
        assert ids["Gid"] == [IMAGE_UID] * 4, f"socks5d runs with Gid {ids['Gid']}"
        top = self.engine("exec", self.args.container, "id", "-u", check=True)
        assert top.stdout.strip() == str(IMAGE_UID), f"exec runs as {top.stdout.strip()}"

    def image_metadata(self):
        image = self.engine("image", "inspect", self.args.image, check=True)
        config = json.loads(image.stdout)[0]
        assert find_key(config, "User") == f"{IMAGE_UID}:{IMAGE_UID}", find_key(config, "User")
        labels = find_key(config, "Labels") or {}
        for label in ("title", "description", "version", "revision"):
            assert labels.get(f"org.opencontainers.image.{label}"), f"no OCI label {label}: {labels}"
        healthcheck = find_key(config, "Healthcheck")
        assert healthcheck and "/usr/local/bin/socks5d-healthcheck" in healthcheck["Test"], \
            f"HEALTHCHECK not in the image config: {healthcheck}"
        assert find_key(config, "Entrypoint") == ["/usr/local/bin/socks5d-entrypoint"]

    def healthcheck_healthy(self):
        if self.engine.is_podman:
            result = self.engine("healthcheck", "run", self.args.container)
        else:
            result = self.engine("exec", self.args.container, "/usr/local/bin/socks5d-healthcheck")
        assert result.returncode == 0, f"healthcheck: {result.returncode} {result.stdout.strip()}"

    def healthcheck_rejects_non_socks(self):
        # Pointed at other TCP servers, the same probe must fail: it checks the SOCKS5 answer, not
        # only that something accepts connections. One answers at once (wrong bytes), one never
        # answers a greeting without a newline (the HTTP server).
        for port, expected in ((self.banner.port, "answered '5353'"),
                               (self.http.port, "no answer")):
            result = self.engine("exec", "-e", f"SOCKS5D_HEALTHCHECK_ADDRESS={self.gateway}:{port}",
                                 self.args.container, "/usr/local/bin/socks5d-healthcheck")
            assert result.returncode != 0, f"the probe accepted {self.gateway}:{port}"
            assert expected in result.stdout, result.stdout

    def no_auth_refused(self):
        # A users file is configured (mounted at the secret path): no-auth is not acceptable (A9).
        with self.proxy.connect() as sock:
            sock.sendall(b"\x05\x01\x00")
            assert recv_exact(sock, 2) == b"\x05\xff"

    def wrong_password_refused(self):
        with self.proxy.connect() as sock:
            sock.sendall(b"\x05\x01\x02")
            assert recv_exact(sock, 2) == b"\x05\x02"
            user, password = self.proxy.user.encode(), b"wrong"
            sock.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
            status = recv_exact(sock, 2)
            assert status[0] == 1 and status[1] != 0, f"wrong password answered {status.hex()}"

    def connect_to_host(self):
        sock, (rep, _, _) = self.proxy.request(CMD_CONNECT, self.gateway, self.http.port)
        with sock:
            assert rep == REP_SUCCEEDED, f"CONNECT answered {rep:#04x}"
            sock.sendall(b"GET /hello HTTP/1.0\r\nHost: target\r\n\r\n")
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        assert response.startswith(b"HTTP/1.0 200"), response[:100]
        assert response.endswith(self.http.body), response[-100:]
        expected = (f"user={self.proxy.user} cmd=CONNECT target={self.gateway}:{self.http.port} "
                    "reply=00")
        # The line is written when the session ends, after the client's close, and access lines
        # are written in batches (up to 100 ms later): follow the log until it is there.
        match, log = self.engine.wait_for_log(self.args.container, re.compile(re.escape(expected)))
        assert match, f"no access line with `{expected}` in the log:\n{log[-2000:]}"
        assert self.proxy.password not in log, "the password appears in the log"

    def curl_through_container(self):
        url = f"http://{self.gateway}:{self.http.port}/hello"
        result = subprocess.run(
            ["curl", "-sS", "--max-time", str(TIMEOUT), "--socks5", f"{self.proxy.host}:{self.proxy.port}",
             "--proxy-user", f"{self.proxy.user}:{self.proxy.password}", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT + 5)
        assert result.returncode == 0, f"curl {result.returncode}: {result.stderr.decode()}"
        assert result.stdout == self.http.body, result.stdout[:200]

    def bind_behind_nat(self):
        # DST 0.0.0.0:0: the client cannot know the address the peer will have after the NAT.
        control, (rep, host, port) = self.proxy.request(CMD_BIND, "0.0.0.0", 0)
        with control:
            assert rep == REP_SUCCEEDED, f"BIND first reply {rep:#04x}"
            assert host == self.args.advertise_address, \
                f"BIND first reply names {host}, not the advertised {self.args.advertise_address}"
            low, high = self.bind_range
            assert low <= port <= high, f"BIND port {port} outside the published {low}-{high}"
            # The "application server" connects from the host through the published port.
            with socket.create_connection((host, port), timeout=TIMEOUT) as peer:
                rep, peer_host, peer_port = read_reply(control)
                assert rep == REP_SUCCEEDED, f"BIND second reply {rep:#04x}"
                ipaddress.ip_address(peer_host)
                assert peer_port != 0, "BIND second reply has port 0"
                peer.sendall(b"from the peer")
                assert recv_exact(control, 13) == b"from the peer"
                control.sendall(b"from the client")
                assert recv_exact(peer, 15) == b"from the client"

    def udp_associate_behind_nat(self):
        # DST 0.0.0.0:0 (F1): behind NAT the client's source address is not known to it.
        control, (rep, host, port) = self.proxy.request(CMD_UDP_ASSOCIATE, "0.0.0.0", 0)
        with control, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            assert rep == REP_SUCCEEDED, f"UDP ASSOCIATE answered {rep:#04x}"
            assert host == self.args.advertise_address, \
                f"UDP ASSOCIATE reply names {host}, not the advertised {self.args.advertise_address}"
            low, high = self.udp_range
            assert low <= port <= high, f"UDP relay port {port} outside the published {low}-{high}"
            payload = f"datagram {time.monotonic_ns()}".encode()
            datagram = b"\0\0\0" + encode_address(self.gateway, self.udp_echo.port) + payload
            client.settimeout(TIMEOUT / 4)
            # UDP may lose a datagram: send up to four times, each with its own deadline.
            answer = None
            for _ in range(4):
                client.sendto(datagram, (host, port))
                try:
                    answer, relay = client.recvfrom(65535)
                    break
                except socket.timeout:
                    continue
            assert answer is not None, f"no answer through the relay within {TIMEOUT}s"
            assert relay == (host, port), f"answer from {relay}, not the relay {(host, port)}"
            source_host, source_port, data = parse_udp_header(answer)
            assert (source_host, source_port) == (self.gateway, self.udp_echo.port), \
                f"answer header names {source_host}:{source_port}"
            assert data == payload, data

    def refuses_open_proxy(self):
        # 0.0.0.0 without a users file: the core's safe default must stop the container.
        status, log = self.engine.run_to_exit(f"{self.args.name_prefix}-open", self.args.image,
                                              "--listen=0.0.0.0:1080")
        assert status != 0, f"exit status 0; log:\n{log}"
        assert "refusing to listen on 0.0.0.0" in log and "--allow_open_proxy" in log, \
            f"no explanation in the log:\n{log}"
        assert "listening on" not in log, log

    def default_command_needs_users_file(self):
        # `docker run IMAGE` with no users file mounted: refused the same way.
        status, log = self.engine.run_to_exit(f"{self.args.name_prefix}-default", self.args.image)
        assert status != 0, f"exit status 0; log:\n{log}"
        assert "refusing to listen on 0.0.0.0" in log, log

    def arguments_keep_default_listen(self):
        # Arguments replace CMD; the entrypoint still supplies --listen=0.0.0.0:1080.
        name = f"{self.args.name_prefix}-open-allowed"
        self.engine("run", "-d", "--name", name, *self.engine.run_flags, self.args.image,
                    "--allow_open_proxy", "--log_level=info", check=True)
        try:
            match, log = self.engine.wait_for_log(name, LISTENING_RE)
            assert match and match.group(1) == "0.0.0.0:1080", f"log:\n{log}"
        finally:
            self.engine("rm", "-f", name)

    def listen_flag_replaces_default(self):
        # A --listen argument replaces the default, and the health probe follows it (it reads the
        # flag from PID 1's command line).
        name = f"{self.args.name_prefix}-listen"
        self.engine("run", "-d", "--name", name, *self.engine.run_flags, self.args.image,
                    "--allow_open_proxy", "--listen=0.0.0.0:2080", check=True)
        try:
            match, log = self.engine.wait_for_log(name, LISTENING_RE)
            assert match and match.group(1) == "0.0.0.0:2080", f"log:\n{log}"
            assert "0.0.0.0:1080" not in log, f"the default --listen was added too:\n{log}"
            probe = self.engine("exec", name, "/usr/local/bin/socks5d-healthcheck")
            assert probe.returncode == 0, f"probe on 2080: {probe.returncode} {probe.stdout}"
        finally:
            self.engine("rm", "-f", name)

    def stops_on_sigterm(self):
        # Last case: stops the server container. PID 1 ignores signals it has no handler for, so
        # this shows socks5d itself handles SIGTERM (not killed at the stop timeout, status 137).
        started = time.monotonic()
        self.engine("stop", "-t", "20", self.args.container, check=True)
        elapsed = time.monotonic() - started
        state = self.engine.inspect(self.args.container)["State"]
        assert state["ExitCode"] != 137, f"killed after {elapsed:.1f}s (exit status 137)"
        assert elapsed < 15, f"took {elapsed:.1f}s to stop"

    def all(self):
        self.run("server container listens on 0.0.0.0:1080", self.server_ready)
        self.run("socks5d is PID 1 and not root", self.server_not_root)
        self.run("image: user, OCI labels, HEALTHCHECK, entrypoint", self.image_metadata)
        self.run("HEALTHCHECK probe passes", self.healthcheck_healthy)
        self.run("HEALTHCHECK probe fails against non-SOCKS servers", self.healthcheck_rejects_non_socks)
        self.run("users file in effect: no-auth refused", self.no_auth_refused)
        self.run("users file in effect: wrong password refused", self.wrong_password_refused)
        self.run("CONNECT with credentials to a host HTTP server", self.connect_to_host)
        self.run("curl --socks5 through the container", self.curl_through_container)
        self.run("BIND behind NAT: advertised address, published port, relay",
                 self.bind_behind_nat)
        self.run("UDP ASSOCIATE behind NAT: advertised address, published port, echo",
                 self.udp_associate_behind_nat)
        self.run("open proxy on 0.0.0.0 refused at start", self.refuses_open_proxy)
        self.run("default command without users file refused", self.default_command_needs_users_file)
        self.run("arguments keep the default --listen=0.0.0.0:1080", self.arguments_keep_default_listen)
        self.run("a --listen argument replaces the default; the probe follows",
                 self.listen_flag_replaces_default)
        self.run("docker stop: socks5d exits on SIGTERM", self.stops_on_sigterm)

    def compose(self):
        """The subset for the container docker/compose.yaml started (its secret, ranges, address)."""
        self.run("compose: listens on 0.0.0.0:1080", self.server_ready)
        self.run("compose: socks5d is PID 1 and not root", self.server_not_root)
        self.run("compose: secret in effect: no-auth refused", self.no_auth_refused)
        self.run("compose: CONNECT with the secret's credentials", self.connect_to_host)
        self.run("compose: BIND behind NAT", self.bind_behind_nat)
        self.run("compose: UDP ASSOCIATE behind NAT", self.udp_associate_behind_nat)

    def close(self):
        for target in (self.http, self.udp_echo, self.banner):
            if target:
                target.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", required=True, help="engine command, e.g. `podman` or `docker`")
    parser.add_argument("--run-flags", default="", help="extra flags for `run`")
    parser.add_argument("--image", required=True)
    parser.add_argument("--container", required=True, help="the running server container")
    parser.add_argument("--name-prefix", required=True, help="prefix for containers started here")
    parser.add_argument("--proxy", required=True, help="HOST:PORT published for the listener")
    parser.add_argument("--advertise-address", required=True)
    parser.add_argument("--bind-range", required=True, help="LO-HI, published 1:1")
    parser.add_argument("--udp-range", required=True, help="LO-HI, published 1:1")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--results", required=True, help="file to write `passed failed` to")
    parser.add_argument("--compose", action="store_true",
                        help="only the cases for a container started from docker/compose.yaml")
    args = parser.parse_args()

    cases = Cases(args)
    try:
        if args.compose:
            cases.compose()
        else:
            cases.all()
    finally:
        cases.close()
        with open(args.results, "w") as results:
            results.write(f"{cases.passed} {cases.failed}\n")
    return 0 if cases.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
