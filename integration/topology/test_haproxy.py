"""Many instances behind a load balancer (issue 15): Debian's HAProxy with `send-proxy-v2` in
front of three socks5d instances, each on its own host with its own advertised address and port
ranges, all on one segment of network namespaces (lan.py):

    client 192.0.2.10 -> lb 192.0.2.2:1080 (haproxy, roundrobin) -> s1/s2/s3 192.0.2.11-13:1080
                                                                  -> server 192.0.2.20
                                                                     (HTTP, echo, FTP, dnsmasq)

What must hold: CONNECTs are spread over the instances and each access line names the real client
(the PROXY header's, not the balancer's); UDP ASSOCIATE (DNS to dnsmasq) and BIND (FTP active
mode) work through whichever instance the balancer picked, with that instance's own address and
ranges in the replies, and the client's datagrams pass the UDP source check; an instance killed
mid-test takes its sessions with it and nothing else: new sessions go to the others and a session
relayed by another instance goes on.
"""

import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.message
import dns.rdatatype
import pytest

import socks5lib
from lan import Lan
from socks5lib import CMD_BIND, CMD_UDP_ASSOCIATE, REP_SUCCEEDED, deadline, request
from udplib import parse_udp_datagram, udp_header

CLIENT, LB, SERVER = "192.0.2.10", "192.0.2.2", "192.0.2.20"
INSTANCES = {"s1": "192.0.2.11", "s2": "192.0.2.12", "s3": "192.0.2.13"}
# Each instance publishes its own ranges, so a reply shows which instance answered.
BIND_RANGES = {"s1": (20010, 20019), "s2": (20020, 20029), "s3": (20030, 20039)}
UDP_RANGES = {"s1": (21010, 21019), "s2": (21020, 21029), "s3": (21030, 21039)}
USER, PASSWORD = "alice", "topology-Pa55"
ECHO_PORT = 7
BODY = os.urandom(200 * 1024)
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
ACCESS_RE = re.compile(r"access client=(\S+):\d+ user=(\S+) cmd=(\S+) target=(\S+) reply=(\S+)")


def wait_until(predicate, what, timeout=None):
    end = time.monotonic() + (timeout or deadline(15))
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Instance:
    """socks5d in its own namespace, trusting PROXY headers from the balancer only."""

    def __init__(self, lan, name, users_file):
        self.name, self.address = name, INSTANCES[name]
        bind, udp = BIND_RANGES[name], UDP_RANGES[name]
        flags = [f"--listen={self.address}:1080", f"--users_file={users_file}",
                 f"--proxy_protocol_from={LB}/32", f"--advertise_address={self.address}",
                 f"--bind_port_range={bind[0]}-{bind[1]}",
                 f"--udp_port_range={udp[0]}-{udp[1]}", f"--dns_servers={SERVER}",
                 "--workers=2", "--shutdown_grace=1s"]
        self.server = socks5lib.Socks5d(
            ["netns", "exec", lan.ns[name], str(socks5lib.binary_path()), *flags],
            binary=shutil.which("ip"))
        self.server.start()
        self.server.wait_listening(1)

    def access(self, cmd=None):
        """(client, user, cmd, target, reply) of each access line so far."""
        out = []
        for line in list(self.server.lines):
            match = ACCESS_RE.search(line)
            if match and (cmd is None or match.group(3) == cmd):
                out.append(match.groups())
        return out

    def kill(self):
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait(deadline(5))


class EchoServer:
    """Echoes every connection; records each peer's address (which instance relays it)."""

    def __init__(self, host, port):
        self.sock = socket.create_server((host, port))
        self.peers = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer[0])
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise AssertionError("the topology test needs root and iproute2 (network namespaces)")
    tmp = tmp_path_factory.mktemp("topology")
    lan = Lan({"client": CLIENT, "lb": LB, **INSTANCES, "server": SERVER}).setup()
    procs, closers = [], []
    try:
        # The server host: HTTP, echo, FTP and DNS (web.test and ftp.test name it).
        web = lan.call("server", socks5lib.HttpServer, BODY, SERVER)
        closers.append(web.close)
        web_port = web.port
        echo = lan.call("server", EchoServer, SERVER, ECHO_PORT)
        closers.append(echo.sock.close)
        from test_ftp import FtpServerThread  # noqa: E402 (integration/, on the path)

        home = tmp / "ftp"
        home.mkdir()
        (home / "random.bin").write_bytes(os.urandom(1 << 20))
        # Control (CONNECT) and data (BIND) may go through different instances, so PORT names
        # an address other than the control connection's peer: RFC 2577's check is off here.
        ftp = lan.call("server", FtpServerThread, home, SERVER)
        ftp.server.handler.permit_foreign_addresses = True
        closers.append(ftp.close)
        procs.append(lan.popen("server", [
            DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            "--pid-file=", "--user=root", f"--listen-address={SERVER}", "--bind-interfaces",
            f"--address=/web.test/{SERVER}", f"--address=/ftp.test/{SERVER}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        users = tmp / "users"
        users.write_text(f"{USER}:{PASSWORD}\n")
        users.chmod(0o600)
        instances = {name: Instance(lan, name, users) for name in INSTANCES}
        # The balancer: TCP mode, PROXY v2 to every instance, also on its health checks.
        config = tmp / "haproxy.cfg"
        servers = "\n".join(
            f"    server {name} {address}:1080 send-proxy-v2 check check-send-proxy "
            f"inter 200ms fall 1 rise 2" for name, address in INSTANCES.items())
        config.write_text(f"""global
    maxconn 512
defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
frontend socks
    bind {LB}:1080
    default_backend socks5d
backend socks5d
    balance roundrobin
{servers}
""")
        haproxy = lan.popen("lb", [HAPROXY, "-db", "-f", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
        procs.append(haproxy)

        def balancer_up():
            def probe():
                try:
                    socket.create_connection((LB, 1080), timeout=1).close()
                    return True
                except OSError:
                    return False
            return lan.call("client", probe)
        wait_until(balancer_up, "haproxy listening")
        time.sleep(0.5)  # every instance's first checks passed (rise 2 at 200 ms)
        yield dict(lan=lan, instances=instances, web_port=web_port, echo=echo, ftp=ftp,
                   haproxy=haproxy, home=home)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(deadline(5))
            except subprocess.TimeoutExpired:
                proc.kill()
        for instance in locals().get("instances", {}).values():
            if instance.server.running():
                instance.server.stop()
            assert not instance.server.sanitizer_report(), instance.server.stderr
        for close in closers:
            close()
        lan.teardown()


def curl(world, path="/"):
    return world["lan"].run("client", [
        "curl", "-sS", "--max-time", "10", "--socks5-hostname", f"{LB}:1080",
        "--proxy-user", f"{USER}:{PASSWORD}", "-o", "-", f"http://web.test:{world['web_port']}{path}"],
        text=False)


def socks_client(world):
    """A SOCKS connection to the balancer, authenticated (made in the client namespace)."""
    def make():
        client = socks5lib.Socks5Client(1080, LB, timeout=deadline(10))
        client.handshake(USER, PASSWORD)
        return client
    return world["lan"].call("client", make)


def connects_by_instance(world):
    return {name: [a for a in inst.access("CONNECT")]
            for name, inst in world["instances"].items()}


def test_connect_is_spread_and_each_instance_logs_the_real_client(world):
    before = {n: len(v) for n, v in connects_by_instance(world).items()}
    for _ in range(6):
        result = curl(world)
        assert result.returncode == 0 and result.stdout == BODY, result.stderr
    def all_logged():
        now = connects_by_instance(world)
        return now if sum(len(v) - before[n] for n, v in now.items()) >= 6 else None
    now = wait_until(all_logged, "six CONNECT access lines")
    new = {n: v[before[n]:] for n, v in now.items()}
    print("CONNECTs per instance:", {n: len(v) for n, v in new.items()})
    # Round robin over three healthy instances: each got some of the six.
    assert all(len(v) >= 1 for v in new.values()), new
    for lines in new.values():
        for client, user, cmd, target, reply in lines:
            assert (client, user, reply) == (CLIENT, USER, "00"), lines
            assert target == f"web.test:{world['web_port']}"


def instance_at(world, address):
    return next(i for i in world["instances"].values() if i.address == address)


def test_udp_associate_dns_through_the_picked_instance(world):
    lan = world["lan"]
    for _ in range(3):  # three associations: round robin gives each instance one
        control = socks_client(world)

        def exchange():
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((CLIENT, 0))
            control.send(request("0.0.0.0", 0, cmd=CMD_UDP_ASSOCIATE))
            reply = control.read_reply()
            assert reply.rep == REP_SUCCEEDED, reply
            query = dns.message.make_query("web.test", "A")
            udp.sendto(udp_header(SERVER, 53) + query.to_wire(), reply.address)
            udp.settimeout(deadline(5))
            data, source = udp.recvfrom(65536)
            udp.close()
            return reply, source, parse_udp_datagram(data)

        reply, source, (frag, host, port, payload) = lan.call("client", exchange)
        instance = instance_at(world, reply.address[0])
        print(f"UDP ASSOCIATE via {instance.name}: relay {reply.address[0]}:{reply.address[1]}")
        low, high = UDP_RANGES[instance.name]
        assert low <= reply.address[1] <= high, (instance.name, reply)
        assert source[:2] == reply.address
        assert (frag, host, port) == (0, SERVER, 53)
        answer = dns.message.from_wire(payload)
        assert [r.to_text() for rr in answer.answer for r in rr] == [SERVER]
        control.close()
        wait_until(lambda: [a for a in instance.access("UDP_ASSOCIATE") if a[0] == CLIENT],
                   f"{instance.name}'s UDP_ASSOCIATE line with the real client")


def test_ftp_active_mode_bind_through_the_picked_instance(world):
    lan = world["lan"]
    data = (world["home"] / "random.bin").read_bytes()
    control = socks_client(world)
    ftp_port = world["ftp"].port

    def transfer():
        from test_ftp import FtpControl, port_command  # noqa: E402
        control.send(request("ftp.test", ftp_port))
        assert control.read_reply().rep == REP_SUCCEEDED
        ftp = FtpControl(control.sock)
        ftp.login()
        results = []
        for _ in range(3):  # three BINDs: different instances
            binder = socks5lib.Socks5Client(1080, LB, timeout=deadline(10))
            binder.handshake(USER, PASSWORD)
            binder.send(request(SERVER, ftp_port, cmd=CMD_BIND))
            first = binder.read_reply()
            assert first.rep == REP_SUCCEEDED, first
            ftp.command(port_command("PORT", first.host, first.port), (200,))
            second = binder.read_reply(timeout=deadline(10))
            assert second.rep == REP_SUCCEEDED and second.host == SERVER, second
            ftp.command("RETR random.bin", (125, 150))
            digest, total = hashlib.sha256(), 0
            binder.sock.settimeout(deadline(20))
            while chunk := binder.sock.recv(1 << 16):
                digest.update(chunk)
                total += len(chunk)
            ftp.expect((226,), "RETR completion")
            binder.close()
            results.append((first.host, first.port, total, digest.hexdigest()))
        return results

    results = lan.call("client", transfer)
    control.close()
    hosts = set()
    for host, port, total, digest in results:
        instance = instance_at(world, host)
        low, high = BIND_RANGES[instance.name]
        assert low <= port <= high, (instance.name, port)
        assert (total, digest) == (len(data), hashlib.sha256(data).hexdigest())
        hosts.add(host)
        print(f"BIND via {instance.name}: {host}:{port}, {total} bytes, sha256 ok")
    assert len(hosts) >= 2, f"all BINDs went to {hosts}"


def test_killed_instance_takes_only_its_own_sessions(world):
    lan = world["lan"]
    # A session relayed by some instance; which one, the echo server saw.
    echo_peers = len(world["echo"].peers)
    long_lived = socks_client(world)
    lan.call("client", lambda: long_lived.send(request(SERVER, ECHO_PORT)))
    assert lan.call("client", long_lived.read_reply).rep == REP_SUCCEEDED
    wait_until(lambda: len(world["echo"].peers) > echo_peers, "the echo connection")
    relaying = instance_at(world, world["echo"].peers[echo_peers])
    victim = next(i for i in world["instances"].values() if i is not relaying)
    victim.kill()
    survivors = [i for i in world["instances"].values() if i is not victim]
    before = {i.name: len(i.access("CONNECT")) for i in survivors}
    for _ in range(6):
        result = curl(world)
        assert result.returncode == 0 and result.stdout == BODY, result.stderr
    wait_until(lambda: sum(len(i.access("CONNECT")) - before[i.name] for i in survivors) >= 6,
               "six CONNECTs served by the surviving instances")
    # The other instance's session never noticed.
    for i in range(3):
        payload = f"still here {i}".encode()
        lan.call("client", long_lived.send, payload)
        lan.call("client", long_lived.expect, payload)
    long_lived.close()
    for instance in survivors:
        assert instance.server.running(), instance.server.stderr
    print(f"killed {victim.name}; long session via {relaying.name} still echoing; CONNECTs after:",
          {i.name: len(i.access("CONNECT")) - before[i.name] for i in survivors})
