"""The client matrix: real third-party clients, unmodified, against socks5d in the proxy role.

Every test is one cell (client x column). A cell passes only when the client got the right
answer from the server host AND socks5d's access log has the session (client address of
the client host, cmd, target, reply 00) AND the target service saw the proxy host as its peer:
a client that bypassed the proxy fails the cell. Combinations a client cannot do at all are
listed in cells.NOT_SUPPORTED with the reason, and the table shows them.
"""

import ipaddress
import json
import os
import pathlib
import queue
import re
import secrets
import socket
import subprocess
import threading

import pytest

from cells import AUTH, BIND, NAME, NOT_SUPPORTED, PROXY6, UDP, V4, V6
from proxies import PASSWORD, USER, host_port
from services import FTP_FILE, FTP_FILE_NAME, PAGE, PAGE_MARKER
from socks5lib import deadline

HERE = pathlib.Path(__file__).resolve().parent
CLIENTS = HERE / "clients"
PY = "/usr/bin/python3"

pytestmark = pytest.mark.usefixtures("proxy_alive")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                                "ftp_proxy", "socks_server", "ld_preload")}
    env.update(extra)
    return env


def run_client(topo, argv, timeout=30, env=None, input=None):
    """Runs argv in the client role; returns CompletedProcess (text)."""
    try:
        return topo.run("client", argv, timeout=deadline(timeout), env=env or clean_env(),
                        input=input)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{argv[0]} did not finish within {deadline(timeout)}s; "
                             f"stdout={e.stdout!r} stderr={e.stderr!r}") from None


def ok(result):
    assert result.returncode == 0, (
        f"{' '.join(result.args[-8:])}: exit {result.returncode}\n"
        f"stdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-3000:]}")
    return result.stdout


def url_host(host):
    return f"[{host}]" if ":" in host else host


def page_url(host, c):
    return f"http://{url_host(host)}:{c.services.http.port}/"


class Cell:
    """What one cell expects on the way: the proxy, the target, and the marks to check from."""

    def __init__(self, topo, services, proxy):
        self.topo, self.services, self.proxy = topo, services, proxy
        self.log_mark = proxy.mark()
        self.http_mark = services.http.log.mark()
        self.echo_mark = services.tcp_echo.log.mark()
        self.udp_mark = services.udp_echo.log.mark()

    def proxy_out(self, v6):
        """The proxy host's addresses the target may see: v6 None means either family
        (a name with A and AAAA records: socks5d may connect over either)."""
        a = self.topo.addr
        return {True: {a.proxy_out6}, False: {a.proxy_out4}}.get(v6, {a.proxy_out4, a.proxy_out6})

    def logged(self, cmd, target, user=None, client_v6=None, reply="00", target_re=None):
        return self.proxy.wait_access(self.log_mark, cmd, target, reply=reply, user=user,
                                      client_v6=client_v6, target_re=target_re)

    def check_http(self, target, v6_target, user=None, client_v6=None):
        self.logged("CONNECT", target, user=user, client_v6=client_v6)
        peer = self.proxy_out(v6_target)
        self.services.http.log.wait(lambda e: e[0] in peer, self.http_mark,
                                    what=f"HTTP request from the proxy host {peer}")

    def check_echo(self, target, v6_target, user=None, client_v6=None):
        self.logged("CONNECT", target, user=user, client_v6=client_v6)
        peer = self.proxy_out(v6_target)
        self.services.tcp_echo.log.wait(lambda e: e in peer, self.echo_mark,
                                        what=f"echo connection from the proxy host {peer}")

    def check_udp(self, target_re, payload=None, v6_target=False):
        """The association's access line (DST of the request matches target_re) counts at
        least one datagram each way; with payload, the UDP echo got it from the proxy host."""
        if payload is not None:
            peer = self.proxy_out(v6_target)
            self.services.udp_echo.log.wait(
                lambda e: e[0] in peer and e[1] == payload.encode(), self.udp_mark,
                what=f"datagram {payload!r} from the relay on {peer}")
        line = self.logged("UDP_ASSOCIATE", None, target_re=target_re)
        # The datagram counters are extra fields of the UDP access line (checked when there).
        counts = dict(re.findall(r"\b(dgrams_up|dgrams_down)=(\d+)", line["line"]))
        assert all(int(n) >= 1 for n in counts.values()), (
            f"no datagram relayed each way: {line['line']}")
        return line


@pytest.fixture
def cell(topo, services, proxies):
    """cell(auth=False) -> Cell bound to the open (or the credentials) proxy."""
    return lambda auth=False: Cell(topo, services, proxies.auth if auth else proxies.open)


def token():
    return "tok-" + secrets.token_hex(8)


# Variants shared by most TCP clients: (column, target host attr or name, proxy over v6, auth)
TCP_VARIANTS = [
    pytest.param(V4, "server4", False, False, id="v4"),
    pytest.param(V6, "server6", False, False, id="v6"),
    pytest.param(NAME, "web.test", False, False, id="name"),
    pytest.param(PROXY6, "server4", True, False, id="proxy6"),
    pytest.param(AUTH, "web.test", False, True, id="auth"),
]


def resolve_variant(topo, what):
    """(host to give the client, the access-log target host, is the target IPv6)."""
    if what == "web.test":
        return "web.test", "web.test", None  # A and AAAA: socks5d may use either
    host = getattr(topo.addr, what)
    return host, url_host(host), ":" in host


def _variant_cells(client):
    """TCP_VARIANTS marked as cells of `client`, minus the columns it does not support."""
    return [pytest.param(*p.values, id=p.id, marks=pytest.mark.cell(client, p.values[0]))
            for p in TCP_VARIANTS if (client, p.values[0]) not in NOT_SUPPORTED]


# ---------------------------------------------------------------------------------------
# curl


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("curl"))
def test_curl(topo, proxies, cell, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    # socks5h:// hands names to the proxy; socks5:// would resolve locally (no DNS here).
    scheme = "socks5h" if what == "web.test" else "socks5"
    proxy_url = c.proxy.url(scheme, v6=proxy6, creds=(USER, PASSWORD) if auth else None)
    out = ok(run_client(topo, ["curl", "--silent", "--show-error", "--max-time",
                               str(deadline(15)), "-x", proxy_url, page_url(host, c)]))
    assert out.encode() == PAGE
    c.check_http(f"{log_host}:{c.services.http.port}", v6,
                 user=USER if auth else "-", client_v6=proxy6)


# ---------------------------------------------------------------------------------------
# ncat (nmap)


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("ncat"))
def test_ncat(topo, cell, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    proxy = host_port(c.proxy.host6, c.proxy.port6) if proxy6 else host_port(
        c.proxy.host4, c.proxy.port4)
    argv = ["ncat", "--proxy", proxy, "--proxy-type", "socks5", "-w", str(int(deadline(10)))]
    if what == "web.test":
        argv += ["--proxy-dns", "remote"]
    if auth:
        argv += ["--proxy-auth", f"{USER}:{PASSWORD}"]
    data = token()
    out = ok(run_client(topo, argv + [host, str(c.services.tcp_echo.port)], input=data))
    assert out == data
    c.check_echo(f"{log_host}:{c.services.tcp_echo.port}", v6,
                 user=USER if auth else "-", client_v6=proxy6)


# ---------------------------------------------------------------------------------------
# netcat-openbsd


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("netcat-openbsd"))
def test_netcat_openbsd(topo, cell, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    proxy = host_port(c.proxy.host6, c.proxy.port6) if proxy6 else host_port(
        c.proxy.host4, c.proxy.port4)
    data = token()
    # -N: shut down the write side at EOF on stdin, then read until the echo server closes.
    out = ok(run_client(topo, ["nc", "-N", "-w", str(int(deadline(10))), "-X", "5", "-x",
                               proxy, host, str(c.services.tcp_echo.port)], input=data))
    assert out == data
    c.check_echo(f"{log_host}:{c.services.tcp_echo.port}", v6, user="-", client_v6=proxy6)


# ---------------------------------------------------------------------------------------
# proxychains4 wrapping curl (which has no proxy of its own: --noproxy '*')


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("proxychains4"))
def test_proxychains4(topo, cell, tmp_path, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    proxy_host = c.proxy.host6 if proxy6 else c.proxy.host4
    proxy_port = c.proxy.port6 if proxy6 else c.proxy.port4
    creds = f" {USER} {PASSWORD}" if auth else ""
    conf = tmp_path / "proxychains.conf"
    conf.write_text(
        "strict_chain\n"
        "proxy_dns\n"  # names go to the proxy (a fake 224.x address to the program)
        "remote_dns_subnet 224\n"
        "tcp_read_time_out 15000\n"
        "tcp_connect_time_out 8000\n"
        "[ProxyList]\n"
        f"socks5 {proxy_host} {proxy_port}{creds}\n")
    out = ok(run_client(topo, ["proxychains4", "-q", "-f", str(conf), "curl", "--silent",
                               "--show-error", "--noproxy", "*", "--max-time", str(deadline(15)),
                               page_url(host, c)]))
    assert out.encode() == PAGE
    c.check_http(f"{log_host}:{c.services.http.port}", v6,
                 user=USER if auth else "-", client_v6=proxy6)


# ---------------------------------------------------------------------------------------
# PySocks (python3-socks)


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("PySocks"))
def test_pysocks_tcp(topo, cell, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    proxy_host = c.proxy.host6 if proxy6 else c.proxy.host4
    proxy_port = c.proxy.port6 if proxy6 else c.proxy.port4
    data = token()
    argv = [PY, str(CLIENTS / "pysocks_client.py"), "tcp", proxy_host, str(proxy_port), host,
            str(c.services.tcp_echo.port), data]
    if what == "web.test":
        argv.append("--rdns")
    if auth:
        argv += ["--user", USER, "--password", PASSWORD]
    assert ok(run_client(topo, argv)) == data
    c.check_echo(f"{log_host}:{c.services.tcp_echo.port}", v6,
                 user=USER if auth else "-", client_v6=proxy6)


@pytest.mark.cell("PySocks", UDP)
@pytest.mark.parametrize("v6", [pytest.param(False, id="v4"), pytest.param(True, id="v6")])
def test_pysocks_udp(topo, cell, v6):
    """v6: to an IPv6 target. The proxy is reached over IPv4 in both: PySocks 1.7.1's UDP
    code cannot use an IPv6 socket (bind() unpacks getsockname() as a pair and raises)."""
    c = cell()
    data = token()
    server = topo.addr.server6 if v6 else topo.addr.server4
    out = ok(run_client(topo, [PY, str(CLIENTS / "pysocks_client.py"), "udp", c.proxy.host4,
                               str(c.proxy.port4), server,
                               str(c.services.udp_echo.port), data]))
    assert out.strip() == f"{data} from {server}:{c.services.udp_echo.port}", out
    # PySocks names its local port in the request, with address 0.0.0.0.
    c.check_udp(r"0\.0\.0\.0:\d+", data, v6_target=v6)


# ---------------------------------------------------------------------------------------
# npm `socks`


def node_client(topo, node_socks, spec):
    env = clean_env(NODE_PATH=str(node_socks))
    return ["node", str(CLIENTS / "socks_client.js"), json.dumps(spec)], env


def _node_proxy(c, proxy6, auth):
    proxy = {"host": c.proxy.host6 if proxy6 else c.proxy.host4,
             "port": c.proxy.port6 if proxy6 else c.proxy.port4, "type": 5}
    if auth:
        proxy.update(userId=USER, password=PASSWORD)
    return proxy


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("npm socks"))
def test_npm_socks_connect(topo, cell, node_socks, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    data = token()
    argv, env = node_client(topo, node_socks, {
        "mode": "connect", "proxy": _node_proxy(c, proxy6, auth),
        "destination": {"host": host, "port": c.services.tcp_echo.port}, "payload": data})
    assert ok(run_client(topo, argv, env=env)).strip() == f"reply {data}"
    c.check_echo(f"{log_host}:{c.services.tcp_echo.port}", v6,
                 user=USER if auth else "-", client_v6=proxy6)


FAMILIES = [pytest.param(False, id="v4"), pytest.param(True, id="v6")]


@pytest.mark.cell("npm socks", BIND)
@pytest.mark.parametrize("v6", FAMILIES)
def test_npm_socks_bind(topo, cell, node_socks, v6):
    """BIND as an application protocol uses it: the server host connects back to the address
    of the first reply, the client gets the second reply and the connection is relayed.
    v6: over the proxy's IPv6 address, for a peer with an IPv6 address."""
    c = cell()
    server = topo.addr.server6 if v6 else topo.addr.server4
    argv, env = node_client(topo, node_socks, {
        "mode": "bind", "proxy": _node_proxy(c, v6, False),
        "destination": {"host": server, "port": 0}, "payload": ""})
    proc = topo.popen("client", argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                      text=True)
    lines = _LineReader(proc)
    try:
        line = lines.next(deadline(10))
        match = re.fullmatch(r"bound (\S+) (\d+)", line.strip())
        assert match, f"first line from the node client: {line!r} {_rest(proc)}"
        bound = (match.group(1), int(match.group(2)))
        assert not ipaddress.ip_address(bound[0]).is_unspecified, f"BIND advertised {bound}"
        data = token()

        def connect_back():
            sock = socket.create_connection(bound, timeout=deadline(10),
                                            source_address=(server, 0))
            with sock:
                sock.sendall(data.encode())
                sock.shutdown(socket.SHUT_WR)
                received = b""
                while chunk := sock.recv(65536):
                    received += chunk
                return sock.getsockname(), received

        local, received = topo.call("server", connect_back)
        assert received == data.encode()
        match = re.fullmatch(r"established (\S+) (\d+)", lines.next(deadline(10)).strip())
        assert match and ipaddress.ip_address(match.group(1)) == ipaddress.ip_address(local[0])
        assert int(match.group(2)) == local[1], match.group(0)
        assert proc.wait(deadline(10)) == 0, _rest(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    c.logged("BIND", f"{url_host(server)}:0")


@pytest.mark.cell("npm socks", UDP)
@pytest.mark.parametrize("v6", FAMILIES)
def test_npm_socks_associate(topo, cell, node_socks, v6):
    """v6: the association over the proxy's IPv6 address, to an IPv6 target."""
    c = cell()
    data = token()
    server = topo.addr.server6 if v6 else topo.addr.server4
    argv, env = node_client(topo, node_socks, {
        "mode": "associate", "proxy": _node_proxy(c, v6, False),
        "destination": {"host": server, "port": c.services.udp_echo.port},
        "payload": data})
    out = ok(run_client(topo, argv, env=env))
    match = re.fullmatch(r"reply (\S+) from (\S+):(\d+)", out.strip())
    assert match and match.group(1) == data, out
    assert ipaddress.ip_address(match.group(2)) == ipaddress.ip_address(server), out
    assert int(match.group(3)) == c.services.udp_echo.port, out
    c.check_udp(re.escape("0.0.0.0:0"), data, v6_target=v6)


class _LineReader:
    """Lines of a child's stdout through a thread, so a wait has a deadline."""

    def __init__(self, proc):
        self.queue = queue.Queue()
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream):
        for line in iter(stream.readline, ""):
            self.queue.put(line)
        self.queue.put("")

    def next(self, timeout):
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout}s") from None


def _rest(proc):
    """Exit status and stderr of a child whose stdout a _LineReader owns (for messages)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    return f"(rc={proc.returncode} stderr={proc.stderr.read()!r})"


# ---------------------------------------------------------------------------------------
# dante-client's socksify


def dante_conf(tmp_path, proxy_host, proxy_port, auth=False):
    conf = tmp_path / "socks.conf"
    method = "username" if auth else "none"
    conf.write_text(
        "logoutput: stderr\n"
        "resolveprotocol: fake\n"  # names go to the proxy (ATYP 03)
        "route {\n"
        f"  from: 0.0.0.0/0 to: 0.0.0.0/0 via: {proxy_host} port = {proxy_port}\n"
        "  proxyprotocol: socks_v5\n"
        "  command: connect bind udpassociate\n"
        f"  method: {method}\n"
        "}\n"
        "route {\n"
        f"  from: ::/0 to: ::/0 via: {proxy_host} port = {proxy_port}\n"
        "  proxyprotocol: socks_v5\n"
        "  command: connect bind udpassociate\n"
        f"  method: {method}\n"
        "}\n")
    return conf


def loopback_unprovable(topo):
    if not topo.isolated:
        # Seen on loopback: Dante sends the FTP control connection and the DNS datagram to
        # the 127.0.0.2 server directly, so the cell would measure nothing about socks5d.
        pytest.skip("loopback fallback: socksify reaches loopback targets directly")


def socksify_env(conf, auth=False):
    extra = {"SOCKS_CONF": str(conf)}
    if auth:
        extra.update(SOCKS_USERNAME=USER, SOCKS_PASSWORD=PASSWORD)
    return clean_env(**extra)


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("socksify"))
def test_socksify_connect(topo, cell, tmp_path, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    proxy_host = c.proxy.host6 if proxy6 else c.proxy.host4
    proxy_port = c.proxy.port6 if proxy6 else c.proxy.port4
    env = socksify_env(dante_conf(tmp_path, proxy_host, proxy_port, auth), auth)
    data = token()
    # A plain blocking-socket program (nc without proxy options), wrapped by socksify.
    out = ok(run_client(topo, ["socksify", "nc", "-N", "-w", str(int(deadline(10))), host,
                               str(c.services.tcp_echo.port)], env=env, input=data))
    assert out == data
    # For V6, Dante's fake resolver hands the program a fake IPv4 address for any string it is
    # asked to resolve, an IPv6 literal included, and sends the string as a domain name (ATYP
    # 03); socks5d connects to the literal over IPv6 and logs it bracketed, as for ATYP 04.
    c.check_echo(f"{log_host}:{c.services.tcp_echo.port}", v6,
                 user=USER if auth else "-", client_v6=proxy6)


@pytest.mark.cell("socksify", BIND)
def test_socksify_bind_ftp_active(topo, cell, tmp_path):
    """lftp with passive mode off: the data connection is a BIND on the proxy."""
    loopback_unprovable(topo)
    c = cell()
    ftp = c.services.ftp
    ftp_mark = ftp.log.mark()
    env = socksify_env(dante_conf(tmp_path, c.proxy.host4, c.proxy.port4))
    out_file = tmp_path / "download.bin"
    ok(run_client(topo, [
        "socksify", "lftp", "-c",
        "set ftp:passive-mode off; set ftp:prefer-epsv no; set net:max-retries 1; "
        f"set net:timeout {int(deadline(10))}; set net:reconnect-interval-base 1; "
        f"open -p {ftp.port} ftp://{topo.addr.server4}; get {FTP_FILE_NAME} -o {out_file}"],
        env=env, timeout=60))
    assert out_file.read_bytes() == FTP_FILE
    # lftp announced the proxy host's BIND address (not its own), the FTP server connected
    # there, and the file came down the BIND session.
    proxy_host = {topo.addr.proxy4, topo.addr.proxy_out4}
    port_cmd = ftp.wait_line(r"command PORT (\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", ftp_mark)
    announced = ".".join(port_cmd.groups()[:4])
    assert announced in proxy_host, f"PORT names {announced}, not the proxy host"
    data_conn = ftp.wait_line(r"active data connection from \S+ to (\S+):(\d+)", ftp_mark)
    assert data_conn.group(1) == announced
    assert not any(e and "command PASV" in e for e in ftp.log.events[ftp_mark:])
    c.logged("CONNECT", f"{topo.addr.server4}:{ftp.port}")
    bind = c.logged("BIND", f"{topo.addr.server4}:0")
    assert int(bind["down"]) == len(FTP_FILE), bind


@pytest.mark.cell("socksify", UDP)
def test_socksify_udp_dns(topo, cell, tmp_path):
    """A dnspython query on a plain UDP socket, wrapped by socksify: UDP ASSOCIATE."""
    loopback_unprovable(topo)
    c = cell()
    env = socksify_env(dante_conf(tmp_path, c.proxy.host4, c.proxy.port4))
    dns = c.services.dns
    out = ok(run_client(topo, ["socksify", PY, str(CLIENTS / "dns_query.py"), dns.host,
                               str(dns.port), "web4.test", "A"], env=env))
    assert out.strip() == f"web4.test A {topo.addr.server4}", out
    assert ("A", "web4.test") in dns.queries()
    c.check_udp(re.escape(topo.addr.client4) + r":\d+")  # Dante names the client's socket


# ---------------------------------------------------------------------------------------
# headless Chromium


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--no-default-browser-check", "--disable-extensions",
                  # Chromium never proxies loopback unless told; matters on the loopback fallback.
                  "--proxy-bypass-list=<-loopback>"]


@pytest.mark.parametrize("column,what,proxy6,auth", _variant_cells("Chromium"))
def test_chromium(topo, cell, tmp_path, column, what, proxy6, auth):
    c = cell(auth)
    host, log_host, v6 = resolve_variant(topo, what)
    proxy = c.proxy.url("socks5", v6=proxy6)
    result = run_client(topo, [
        "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
        f"--proxy-server={proxy}", "--dump-dom", page_url(host, c)], timeout=90)
    assert PAGE_MARKER in result.stdout, (
        f"page not in Chromium's DOM dump (exit {result.returncode}): {result.stdout[-500:]}"
        f"\nstderr: {result.stderr[-3000:]}")
    # Chromium's SOCKS5 client sends every host as a domain name (ATYP 03), an IPv6 literal
    # included; socks5d connects to the literal over IPv6 and logs it bracketed.
    c.check_http(f"{log_host}:{c.services.http.port}", v6, user="-", client_v6=proxy6)
