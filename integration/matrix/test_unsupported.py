"""Shows the "not supported" claims of cells.NOT_SUPPORTED that can be shown: the client is
asked for the thing anyway and the test checks how it fails (and that socks5d saw no such
session). A claim that stops holding (a client learns UDP, say) fails here, and the table
then asks for a real cell."""

import re

import pytest

from cells import AUTH, PROXY6, UDP
from proxies import PASSWORD, USER
from socks5lib import deadline
from test_clients import (CHROMIUM_FLAGS, CLIENTS, PY, Cell, dante_conf, page_url, run_client,
                          socksify_env, token)
from services import PAGE_MARKER

pytestmark = pytest.mark.usefixtures("proxy_alive")


def access_cmds(proxy, start):
    return [m.group(1) for m in map(re.compile(r"access .* cmd=(\S+) ").search,
                                    proxy.server.lines[start:]) if m]


@pytest.fixture
def cell(topo, services, proxies):
    return lambda auth=False: Cell(topo, services, proxies.auth if auth else proxies.open)


def needs_namespaces(topo, why):
    if not topo.isolated:
        pytest.skip(f"loopback fallback: {why}")


@pytest.mark.unsupported("ncat", UDP)
def test_ncat_udp_becomes_tcp(topo, cell):
    needs_namespaces(topo, "the TCP and UDP echo ports differ there")
    c = cell()
    data = token()
    result = run_client(topo, ["ncat", "--udp", "--proxy", f"{c.proxy.host4}:{c.proxy.port4}",
                               "--proxy-type", "socks5", "-w", str(int(deadline(5))),
                               topo.addr.server4, str(c.services.udp_echo.port)], input=data)
    assert result.returncode == 0, result  # and it says nothing about it
    # What ncat does instead: a TCP CONNECT to the same port (the TCP echo takes it).
    c.check_echo(f"{topo.addr.server4}:{c.services.udp_echo.port}", False)
    assert "UDP_ASSOCIATE" not in access_cmds(c.proxy, c.log_mark)
    assert c.services.udp_echo.log.events[c.udp_mark:] == []


@pytest.mark.unsupported("netcat-openbsd", UDP)
def test_netcat_openbsd_refuses_udp_proxy(topo, cell):
    c = cell()
    result = run_client(topo, ["nc", "-u", "-w", "2", "-X", "5", "-x",
                               f"{c.proxy.host4}:{c.proxy.port4}", topo.addr.server4,
                               str(c.services.udp_echo.port)], input="x")
    assert result.returncode != 0 and "no proxy support for UDP" in result.stderr, result
    assert access_cmds(c.proxy, c.log_mark) == []


@pytest.mark.unsupported("netcat-openbsd", AUTH)
def test_netcat_openbsd_offers_no_credentials(topo, cell):
    c = cell(auth=True)
    result = run_client(topo, ["nc", "-N", "-w", "5", "-X", "5", "-x",
                               f"{c.proxy.host4}:{c.proxy.port4}", "-P", USER,
                               topo.addr.server4, str(c.services.tcp_echo.port)], input="x")
    assert result.returncode != 0, result
    assert c.services.tcp_echo.log.events[c.echo_mark:] == []


@pytest.mark.unsupported("proxychains4", UDP)
def test_proxychains4_leaves_udp_alone(topo, cell, tmp_path):
    needs_namespaces(topo, "the direct path to the DNS server is open there")
    c = cell()
    conf = tmp_path / "proxychains.conf"
    conf.write_text(f"strict_chain\n[ProxyList]\nsocks5 {c.proxy.host4} {c.proxy.port4}\n")
    dns_mark = len(c.services.dns.queries())
    result = run_client(topo, ["proxychains4", "-q", "-f", str(conf), PY,
                               str(CLIENTS / "dns_query.py"), c.services.dns.host,
                               str(c.services.dns.port), "web4.test", "A", "2"])
    assert result.returncode != 0, result  # went direct: blocked by the firewall topology
    assert access_cmds(c.proxy, c.log_mark) == []
    assert c.services.dns.queries()[dns_mark:] == []


@pytest.mark.unsupported("socksify", PROXY6)
def test_socksify_refuses_ipv6_gateway(topo, cell, tmp_path):
    c = cell()
    env = socksify_env(dante_conf(tmp_path, c.proxy.host6, c.proxy.port6))
    result = run_client(topo, ["socksify", "nc", "-N", "-w", "5", topo.addr.server4,
                               str(c.services.tcp_echo.port)], env=env, input="x")
    assert result.returncode != 0 and "gateway must be" in result.stderr, result
    assert access_cmds(c.proxy, c.log_mark) == []


@pytest.mark.unsupported("Chromium", AUTH)
def test_chromium_has_no_socks_credentials(topo, cell, tmp_path):
    c = cell(auth=True)
    proxy = c.proxy.url("socks5", creds=(USER, PASSWORD))
    result = run_client(topo, [
        "chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
        f"--proxy-server={proxy}", "--dump-dom", page_url(topo.addr.server4, c)], timeout=90)
    assert PAGE_MARKER not in result.stdout
    assert "ERR_SOCKS_CONNECTION_FAILED" in result.stderr or "ERR_" in result.stderr, result
    assert c.services.http.log.events[c.http_mark:] == []
