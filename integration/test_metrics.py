"""--metrics_listen: /metrics after a known workload (exact counter values), /healthz, /readyz
(503 from SIGTERM on, while a session drains), 404 and 405, `promtool check metrics` on a
scrape, and a real Prometheus server scraping socks5d and answering a query (README "Metrics")."""

import http.client
import pathlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

import socks5lib
import udplib
from socks5lib import PASSWORD, USER

METRICS_RE = re.compile(r"metrics on 127\.0\.0\.1:(\d+)")
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metrics_port(server):
    return int(server.wait_for_line(METRICS_RE).group(1))


def get(port, path, method="GET"):
    """(status, body) of one request to the metrics endpoint."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=socks5lib.deadline(5))
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def parse(text):
    """{(name, frozenset(labels)): value} of a text-format scrape."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE_RE.match(line)
        assert match, f"unparsable line {line!r}"
        labels = frozenset(LABEL_RE.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(port):
    status, body = get(port, "/metrics")
    assert status == 200, body
    return body


def wait_for(predicate, what, timeout=None):
    end = time.monotonic() + (timeout or socks5lib.deadline(10))
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


N_CONNECTS = 3
PAYLOAD = 1000
UDP_PAYLOAD = b"u" * 100


def access_lines(server):
    return server.stderr.count(" access client=")


def run_workload(server, echo_server):
    """3 CONNECTs echoing 1000 bytes, a failed login, a refused CONNECT, a UDP exchange."""
    for _ in range(N_CONNECTS):
        with server.client() as c:
            c.connect("127.0.0.1", echo_server.port, USER, PASSWORD)
            c.send(b"x" * PAYLOAD)
            c.expect(b"x" * PAYLOAD, what="echo")
    with server.client() as c:
        c.send(socks5lib.greeting(socks5lib.METHOD_USERPASS))
        c.expect(b"\x05\x02")
        c.send(socks5lib.userpass(USER, "wrong password"))
        c.expect(b"\x01\x01", what="auth failure")
        c.assert_closed()
    refusing = socks5lib.reserve_refusing_port("127.0.0.1")
    try:
        with server.client() as c:
            c.handshake(USER, PASSWORD)
            c.send(socks5lib.request("127.0.0.1", refusing.getsockname()[1]))
            reply = c.read_reply(timeout=socks5lib.deadline(10))
            assert reply.rep == socks5lib.REP_CONNECTION_REFUSED, reply
    finally:
        refusing.close()
    echo = udplib.UdpEcho("127.0.0.1")
    try:
        control = server.client()
        control.handshake(USER, PASSWORD)
        udp = udplib.socket.socket(udplib.socket.AF_INET, udplib.socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        control.send(socks5lib.request("0.0.0.0", 0, cmd=socks5lib.CMD_UDP_ASSOCIATE))
        relay = control.read_reply().address
        udp.sendto(udplib.udp_header("127.0.0.1", echo.port) + UDP_PAYLOAD, relay)
        data, _ = udplib.recv_datagram(udp, None, "echoed datagram")
        assert udplib.parse_udp_datagram(data)[3] == UDP_PAYLOAD
        control.close()
        udp.close()
    finally:
        echo.close()
    # Every session has ended (and been counted) once its access line is written.
    wait_for(lambda: access_lines(server) >= N_CONNECTS + 3, "6 access-log lines")


@pytest.fixture
def metered(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}", "--metrics_listen=127.0.0.1:0",
                     "--metrics_per_user", "--workers=2")
    port = metrics_port(server)
    run_workload(server, echo_server)
    return server, port


def test_counters_after_known_workload(metered):
    server, port = metered
    s = parse(scrape(port))
    sessions = lambda **kw: value(s, "socks5d_sessions_total", protocol="socks5", **kw)  # noqa
    assert sessions(command="connect", reply="00") == N_CONNECTS
    assert sessions(command="connect", reply="05") == 1
    assert sessions(command="udp_associate", reply="00") == 1
    assert sessions(command="none", reply="none") == 1  # the failed login
    assert value(s, "socks5d_sessions_active", protocol="socks5", command="connect") == 0
    assert value(s, "socks5d_handshakes_total", outcome="ok") == N_CONNECTS + 2
    assert value(s, "socks5d_handshakes_total", outcome="auth_failure") == 1
    assert value(s, "socks5d_handshakes_total", outcome="timeout") == 0
    up = N_CONNECTS * PAYLOAD + len(UDP_PAYLOAD)
    assert value(s, "socks5d_relayed_bytes_total", direction="up") == up
    assert value(s, "socks5d_relayed_bytes_total", direction="down") == up
    assert value(s, "socks5d_connect_attempts_total") == N_CONNECTS + 1
    assert value(s, "socks5d_connect_fallbacks_total") == 0
    assert value(s, "socks5d_connect_duration_seconds_count") == N_CONNECTS
    assert value(s, "socks5d_connect_duration_seconds_bucket", le="+Inf") == N_CONNECTS
    assert value(s, "socks5d_udp_associations_total") == 1
    assert value(s, "socks5d_udp_datagrams_total", direction="up") == 1
    assert value(s, "socks5d_udp_datagrams_total", direction="down") == 1
    assert value(s, "socks5d_udp_dropped_datagrams_total", reason="unsolicited") == 0
    assert value(s, "socks5d_dns_lookups_total", result="ok") == 0  # only IP literals
    assert value(s, "socks5d_open_connections") == 0
    assert value(s, "socks5d_descriptors_in_use") == 0
    assert value(s, "socks5d_descriptor_budget") > 0
    assert value(s, "socks5d_reloads_total") == 0
    # --metrics_per_user: alice's five sessions; the failed login has no user.
    assert value(s, "socks5d_user_sessions_total", user=USER) == N_CONNECTS + 2
    assert value(s, "socks5d_user_relayed_bytes_total", user=USER, direction="up") == up
    version = re.search(r'project\(socks5d VERSION (\S+)',
                        (pathlib.Path(__file__).parent.parent / "CMakeLists.txt").read_text())
    assert value(s, "socks5d_build_info", version=version.group(1)) == 1


def test_dns_bind_rules_and_not_socks(socks5d, echo_server, tmp_path):
    """Lookups (one query, then a cache hit; NXDOMAIN), a BIND that times out, a rule's denial and
    an HTTP request on the SOCKS port, each in its own counter."""
    responder = socks5lib.DnsResponder({"echo.test": {"A": ["127.0.0.1"]}})
    rules = tmp_path / "rules"
    rules.write_text("deny port=9\nallow\n")
    server = socks5d("--metrics_listen=127.0.0.1:0", "--workers=1", "--bind_timeout=1s",
                     f"--rules_file={rules}", responder.server_flag)
    port = metrics_port(server)
    for _ in range(2):
        with server.client() as c:
            c.connect("echo.test", echo_server.port)
    for host, port_, rep in (("nx.test", 80, socks5lib.REP_HOST_UNREACHABLE),
                             ("127.0.0.1", 9, socks5lib.REP_NOT_ALLOWED)):
        with server.client() as c:
            c.handshake()
            c.send(socks5lib.request(host, port_))
            assert c.read_reply().rep == rep
    with server.client() as c:
        c.handshake()
        c.send(socks5lib.request("127.0.0.1", 21, cmd=socks5lib.CMD_BIND))
        assert c.read_reply().rep == socks5lib.REP_SUCCEEDED
        assert c.read_reply(timeout=socks5lib.deadline(5)).rep == socks5lib.REP_TTL_EXPIRED
    with server.client() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_until_closed().startswith(b"HTTP/1.1 400")
    wait_for(lambda: access_lines(server) >= 6, "6 access-log lines")
    s = parse(scrape(port))
    responder.sock.close()
    assert value(s, "socks5d_dns_lookups_total", result="ok") == 1
    assert value(s, "socks5d_dns_cache_hits_total", result="found") == 1
    assert value(s, "socks5d_dns_lookups_total", result="not_found") == 1
    assert value(s, "socks5d_dns_lookup_duration_seconds_count") == 2
    assert value(s, "socks5d_bind_waits_total") == 1
    assert value(s, "socks5d_bind_outcomes_total", outcome="timeout") == 1
    assert value(s, "socks5d_sessions_total", protocol="socks5", command="bind", reply="06") == 1
    assert value(s, "socks5d_sessions_total", protocol="socks5", command="connect",
                 reply="04") == 1
    assert value(s, "socks5d_rule_decisions_total", action="deny") == 1
    assert value(s, "socks5d_rule_decisions_total", action="allow") == 3  # 2 CONNECTs, BIND
    assert value(s, "socks5d_handshakes_total", outcome="bad_version") == 1
    assert value(s, "socks5d_sessions_total", protocol="http", command="none", reply="none") == 1


def test_limit_hit_counted(socks5d, echo_server):
    server = socks5d("--metrics_listen=127.0.0.1:0", "--max_sessions_per_client=1")
    port = metrics_port(server)
    with server.client() as held:
        held.connect("127.0.0.1", echo_server.port)
        with server.client() as refused:
            refused.assert_closed()
    s = parse(scrape(port))
    assert value(s, "socks5d_limits_hit_total", limit="max_sessions_per_client",
                 event="refused_connections") == 1


def test_no_user_label_without_metrics_per_user(socks5d, users_file, echo_server):
    server = socks5d(f"--users_file={users_file}", "--metrics_listen=127.0.0.1:0")
    port = metrics_port(server)
    with server.client() as c:
        c.connect("127.0.0.1", echo_server.port, USER, PASSWORD)
    wait_for(lambda: access_lines(server), "the access line")
    text = scrape(port)
    assert "user=" not in text and "socks5d_user_" not in text
    assert USER not in text and str(echo_server.port) not in text


def test_reload_counted(socks5d, users_file):
    server = socks5d(f"--users_file={users_file}", "--metrics_listen=127.0.0.1:0")
    port = metrics_port(server)
    server.proc.send_signal(socks5lib.signal.SIGHUP)
    server.wait_for_line("reloaded")
    users_file.write_text("no colon here\n")
    server.proc.send_signal(socks5lib.signal.SIGHUP)
    server.wait_for_line("reload failed")
    s = parse(scrape(port))
    assert value(s, "socks5d_reloads_total") == 1
    assert value(s, "socks5d_reload_failures_total") == 1


def test_health_ready_and_errors(socks5d):
    server = socks5d("--metrics_listen=127.0.0.1:0")
    port = metrics_port(server)
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/readyz") == (200, "ready\n")
    assert get(port, "/nope")[0] == 404
    assert get(port, "/metrics", method="POST")[0] == 405
    # A request head over 8 KiB is refused with 431.
    with socks5lib.socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000)
        assert socks5lib.read_until_closed(sock, 5).startswith(b"HTTP/1.1 431")


def test_readyz_turns_503_on_sigterm_while_draining(socks5d, echo_server):
    server = socks5d("--metrics_listen=127.0.0.1:0", "--shutdown_grace=10s")
    port = metrics_port(server)
    c = server.client()
    c.connect("127.0.0.1", echo_server.port)  # held open: the drain waits for it
    server.proc.send_signal(socks5lib.signal.SIGTERM)
    server.stop_requested = True
    server.wait_for_line("no longer accepting")
    assert get(port, "/readyz")[0] == 503
    assert get(port, "/healthz")[0] == 200  # still serving the draining session
    assert server.running()
    c.send(b"ping")
    c.expect(b"ping")
    c.close()
    rc, _ = server.wait_exit()
    assert rc == 0


def test_non_loopback_metrics_refused_without_auth(socks5d):
    server = socks5d("--metrics_listen=0.0.0.0:0", wait=False)
    server.expect_exit = True
    rc, out = server.wait_exit()
    assert rc == 1 and "--metrics_listen: refusing" in out


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) absent")
def test_promtool_check_metrics(metered):
    _, port = metered
    text = scrape(port)
    result = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


class Prometheus:
    """A Prometheus server on loopback scraping socks5d every second."""

    def __init__(self, target_port):
        self.dir = tempfile.mkdtemp(prefix="socks5d-prom-")
        config = pathlib.Path(self.dir) / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: socks5d\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{target_port}']\n")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.dir}/data",
             "--web.listen-address=127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.port = None
        found = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.lines.append(line)
                match = re.search(r'msg="Listening on" address=127\.0\.0\.1:(\d+)', line)
                if match:
                    self.port = int(match.group(1))
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(socks5lib.deadline(30)):
            self.close()
            raise AssertionError("prometheus did not start:\n" + "".join(self.lines[-20:]))

    def query(self, expr):
        """The API's JSON answer; "" while Prometheus is still starting (503)."""
        status, body = get(self.port, "/api/v1/query?query=" + urllib.parse.quote(expr))
        assert status in (200, 503), body
        return body if status == 200 else ""

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus (Debian) absent")
def test_prometheus_scrapes_and_answers_a_query(metered):
    _, port = metered
    prometheus = Prometheus(port)
    try:
        expr = 'sum(socks5d_sessions_total{command="connect",reply="00"})'
        body = wait_for(
            lambda: (lambda b: b if f'"{N_CONNECTS}"]' in b else None)(prometheus.query(expr)),
            f"Prometheus to answer {expr} = {N_CONNECTS}", timeout=socks5lib.deadline(30))
        assert '"status":"success"' in body
        up = prometheus.query('up{job="socks5d"}')
        assert '"1"]' in up, up
    finally:
        prometheus.close()
