"""The topology really is a firewall: every pass in the matrix is a proxied pass.

The client host has a default route toward the proxy host, so a direct connection to the
server host is attempted for real; with forwarding off on the proxy host it must fail,
while the proxy host itself (and socks5d on it) is reachable from the client host."""

import errno
import socket

import pytest

from socks5lib import connect_errno, deadline

DIRECT_TIMEOUT = 2.0
UNREACHABLE = (errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ENETUNREACH)


def _udp_roundtrip(address, timeout):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(b"direct?", address)
            sock.recvfrom(100)
            return True
        except (socket.timeout, OSError):
            return False


@pytest.fixture
def isolated(topo):
    if not topo.isolated:
        pytest.skip(f"loopback fallback ({topo.reason}): isolation cannot be shown")
    return topo


@pytest.mark.negative("ISO", "client connects straight to the server host (TCP, v4 and v6)",
                      "fails within 2 s (no forwarding)")
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_client_cannot_reach_server_directly(isolated, services, proxies, family):
    a = isolated.addr
    server = a.server4 if family == "v4" else a.server6
    proxy = a.proxy4 if family == "v4" else a.proxy6
    # The control: the proxy host is reachable on the same path.
    assert isolated.call("client", connect_errno, (proxy, proxies.open.port4 if family == "v4"
                                              else proxies.open.port6), deadline(5)) == 0
    mark = services.http.log.mark()
    result = isolated.call("client", connect_errno, (server, services.http.port), DIRECT_TIMEOUT)
    assert result in UNREACHABLE, (
        f"direct connect to {server}:{services.http.port} from the client host: "
        f"{errno.errorcode.get(result, result)} (expected a timeout or unreachable)")
    assert services.http.log.events[mark:] == []


@pytest.mark.negative("ISO", "client sends UDP straight to the server's echo (v4 and v6)",
                      "no answer (no forwarding)")
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_client_udp_cannot_reach_server_directly(isolated, services, family):
    a = isolated.addr
    server = a.server4 if family == "v4" else a.server6
    mark = services.udp_echo.log.mark()
    assert not isolated.call("client", _udp_roundtrip, (server, services.udp_echo.port),
                             DIRECT_TIMEOUT)
    assert services.udp_echo.log.events[mark:] == []


@pytest.mark.negative("ISO", "proxy host forwarding sysctls", "ip_forward=0, IPv6 forwarding=0")
def test_proxy_host_does_not_forward(isolated):
    out = isolated.run("proxy", ["sysctl", "-n", "net.ipv4.ip_forward",
                                 "net.ipv6.conf.all.forwarding"]).stdout.split()
    assert out == ["0", "0"]


@pytest.mark.negative("ISO", "server host connects to the client host", "fails within 2 s")
def test_server_cannot_reach_client(isolated):
    result = isolated.call("server", connect_errno, (isolated.addr.client4, 22), DIRECT_TIMEOUT)
    assert result in UNREACHABLE, errno.errorcode.get(result, result)
