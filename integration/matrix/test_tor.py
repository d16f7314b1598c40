"""Tor's clients against socks5d (issue 13): torsocks and tor-resolve (Debian's tor package; no
tor daemon runs), across the topology, against the open proxy (no users file).

The names exist only in dnsmasq on the server host (the client host has no resolver at all), so
a page or an answer proves the name went through the proxy's RESOLVE:
  - `torsocks curl http://web4.test/`: torsocks resolves with `05 F0 00 03 <name> <port>`, then
    CONNECTs to the answer; `torsocks -i` does the same after offering only method 02 with a
    per-process user name (stream isolation), which a proxy without a users file accepts.
  - `tor-resolve -5 NAME` (A and AAAA) and `tor-resolve -x ADDRESS` (PTR, IPv4 and IPv6).
"""

import ipaddress
import re

import pytest

import test_clients as tc
from cells import COMPAT_ANY_CREDENTIALS, COMPAT_RESOLVE, COMPAT_RESOLVE_PTR
from services import PAGE, PTR_RECORDS
from socks5lib import deadline

pytestmark = pytest.mark.usefixtures("proxy_alive")


@pytest.fixture
def cell(topo, services, proxies):
    return tc.Cell(topo, services, proxies.open)


def torsocks_env(c):
    # The environment overrides /etc/tor/torsocks.conf's 127.0.0.1:9050.
    return tc.clean_env(TORSOCKS_TOR_ADDRESS=c.proxy.host4, TORSOCKS_TOR_PORT=str(c.proxy.port4),
                        TORSOCKS_LOG_LEVEL="2")


def torsocks_curl(topo, c, isolate, name="web4.test"):
    if not topo.isolated:
        # The loopback fallback's server is 127.0.0.2: torsocks refuses to connect to a local
        # address, and with AllowOutboundLocalhost it connects there directly, not through the
        # proxy, so nothing here could show the CONNECT went through socks5d.
        pytest.skip("torsocks needs the namespace topology (it never proxies to 127.0.0.0/8)")
    url = f"http://{name}:{c.services.http.port}/"
    argv = ["torsocks", *(["-i"] if isolate else []), "curl", "--silent", "--show-error",
            "--max-time", str(deadline(10)), url]
    out = tc.ok(tc.run_client(topo, argv, timeout=20, env=torsocks_env(c)))
    assert out.encode() == PAGE
    server4 = topo.addr.server4
    port = c.services.http.port
    # RESOLVE first (torsocks sends DST.PORT 42), then the CONNECT to its answer.
    resolved = c.logged("RESOLVE", None, target_re=re.escape(name) + r":\d+")
    assert f" bound={server4}:0" in resolved["line"], resolved["line"]
    c.check_http(f"{server4}:{port}", False)
    user = r"torsocks-\d+:\d+" if isolate else "-"
    connected = c.logged("CONNECT", f"{server4}:{port}")
    for line in (resolved["line"], connected["line"]):
        assert re.search(f" user={user} cmd=", line), line
    return resolved


@pytest.mark.cell("torsocks", COMPAT_RESOLVE)
@pytest.mark.parametrize("name", ["web4.test", "web.test"], ids=["A", "A+AAAA"])
def test_torsocks_curl_resolves_through_the_proxy(topo, cell, name):
    # web.test has AAAA too: the answer must still be IPv4, which is all torsocks can take.
    torsocks_curl(topo, cell, isolate=False, name=name)


@pytest.mark.cell("torsocks", COMPAT_ANY_CREDENTIALS)
def test_torsocks_isolation_without_users_file(topo, cell):
    # torsocks -i offers only 02 and sends user torsocks-PID:TIME, password "0".
    torsocks_curl(topo, cell, isolate=True)


def tor_resolve(topo, c, *args):
    argv = ["tor-resolve", *args, f"{c.proxy.host4}:{c.proxy.port4}"]
    return tc.ok(tc.run_client(topo, argv, timeout=15)).strip()


@pytest.mark.cell("tor-resolve", COMPAT_RESOLVE)
@pytest.mark.parametrize("name,attr", [("web4.test", "server4"), ("web6.test", "server6")],
                         ids=["A", "AAAA"])
def test_tor_resolve(topo, cell, name, attr):
    expected = getattr(topo.addr, attr)
    out = tor_resolve(topo, cell, "-5", name)
    assert ipaddress.ip_address(out) == ipaddress.ip_address(expected), out
    cell.logged("RESOLVE", f"{name}:0")


@pytest.mark.cell("tor-resolve", COMPAT_RESOLVE_PTR)
@pytest.mark.parametrize("address", list(PTR_RECORDS), ids=["v4", "v6"])
def test_tor_resolve_ptr(topo, cell, address):
    out = tor_resolve(topo, cell, "-x", address)
    assert out == PTR_RECORDS[address], out
    target = f"[{address}]:0" if ":" in address else f"{address}:0"
    line = cell.logged("RESOLVE_PTR", target)["line"]
    assert f" bound={PTR_RECORDS[address]}:0" in line, line


@pytest.mark.cell("tor-resolve", COMPAT_RESOLVE)
def test_tor_resolve_unknown_name_fails_with_04(topo, cell):
    result = tc.run_client(topo, ["tor-resolve", "-5", "nowhere.test",
                                  f"{cell.proxy.host4}:{cell.proxy.port4}"], timeout=15)
    assert result.returncode != 0 and result.stdout.strip() == "", result
    cell.logged("RESOLVE", "nowhere.test:0", reply="04")
