"""v2ray (Debian's `v2ray`, 4.34) with a socks outbound to socks5d: UDP (issue 13, F14).

v2ray's socks outbound puts the datagram's *target* in the UDP ASSOCIATE request's DST
(`05 03 00 01 <target ip> <target port>`). A dokodemo-door inbound in the client host forwards
a test datagram to a fixed target through socks5d; the target echoes it. Two targets:
  - on the proxy client's own address (the client host's 192.0.2.2): DST then names the client's
    own IP with the target's port, which socks5d used to take for the client's source port, so it
    dropped every datagram (drop_wrong_port); now the hint is missed and the first source locks;
  - on the server host (198.51.100.2): a remote target, DST an IP that is not the client's.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import cells
from services import UdpEchoService
from socks5lib import deadline

COLUMN = "UDP, DST hint"
INBOUND_PORT = 10853  # in the client namespace (nothing else there)

pytestmark = pytest.mark.usefixtures("proxy_alive")


def inbound_port(topo):
    if topo.isolated:
        return INBOUND_PORT
    # Loopback fallback only: dokodemo-door cannot listen on port 0.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def v2ray_config(listen_port, target, proxy):
    return {
        "log": {"loglevel": "warning"},
        "inbounds": [{"listen": "127.0.0.1", "port": listen_port, "protocol": "dokodemo-door",
                      "settings": {"address": target[0], "port": target[1], "network": "udp"}}],
        "outbounds": [{"protocol": "socks",
                       "settings": {"servers": [{"address": proxy.host4, "port": proxy.port4}]}}],
        "policy": {"levels": {"0": {"connIdle": 20}}},
    }


def echo_through(port, payload, tries=3):
    """Sends payload to v2ray's inbound and returns what comes back (retrying: UDP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(deadline(2))
        for _ in range(tries):
            s.sendto(payload, ("127.0.0.1", port))
            try:
                return s.recvfrom(65535)[0]
            except socket.timeout:
                continue
    return None


def run_v2ray(topo, tmp_path, target, proxy, payload):
    """Starts v2ray in the client role, sends payload through it, stops it (which ends the
    association). Returns (echoed bytes or None, v2ray's output)."""
    port = inbound_port(topo)
    config = tmp_path / "v2ray.json"
    config.write_text(json.dumps(v2ray_config(port, target, proxy)))
    proc = topo.popen("client", ["v2ray", "-config", str(config)], stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True, start_new_session=True,
                      env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    output = []
    try:
        end = time.monotonic() + deadline(10)
        while time.monotonic() < end:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if " started" in line:
                break
        else:
            raise AssertionError(f"v2ray did not start: {''.join(output)}")
        assert proc.poll() is None, f"v2ray exited: {''.join(output)}"
        echoed = topo.call("client", echo_through, port, payload)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=deadline(5))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate()
        output.append(rest or "")
    return echoed, "".join(output)


def check_association(proxy, mark, target, topo):
    """The association's access line: from the client host, DST = the target (v2ray's way),
    datagrams relayed both ways, none dropped for the port."""
    line = proxy.wait_access(mark, "UDP_ASSOCIATE", f"{target[0]}:{target[1]}")["line"]
    counts = {k: int(v) for k, v in re.findall(r"\b(dgrams_up|dgrams_down|drop_wrong_port|"
                                               r"drop_foreign)=(\d+)", line)}
    assert counts["dgrams_up"] >= 1 and counts["dgrams_down"] >= 1, line
    assert counts["drop_wrong_port"] == 0 and counts["drop_foreign"] == 0, line
    return line


@pytest.mark.cell("v2ray", COLUMN)
def test_v2ray_udp_to_target_on_the_clients_own_address(topo, proxies, tmp_path):
    """The case that failed before the hint: the target is on the proxy client's own address."""
    assert COLUMN in cells.COMPAT_COLUMNS
    proxy = proxies.open
    echo = topo.call("client", UdpEchoService, [topo.addr.client4], 0)
    try:
        mark = proxy.mark()
        payload = b"v2ray-own-address-" + os.urandom(4).hex().encode()
        echoed, output = run_v2ray(topo, tmp_path, (topo.addr.client4, echo.port), proxy,
                                   payload)
        assert echoed == payload, f"no echo through v2ray; v2ray said:\n{output}"
        # The echo saw the proxy host's relay, not the client itself.
        echo.log.wait(lambda e: e[1] == payload and e[0] == topo.addr.proxy4,
                      what="the datagram from the proxy host")
        line = check_association(proxy, mark, (topo.addr.client4, echo.port), topo)
        assert " dst_hint=unused" in line, line
    finally:
        echo.close()


@pytest.mark.cell("v2ray", COLUMN)
def test_v2ray_udp_to_remote_target(topo, proxies, services, tmp_path):
    proxy = proxies.open
    mark = proxy.mark()
    udp_mark = services.udp_echo.log.mark()
    target = (topo.addr.server4, services.udp_echo.port)
    payload = b"v2ray-remote-" + os.urandom(4).hex().encode()
    echoed, output = run_v2ray(topo, tmp_path, target, proxy, payload)
    assert echoed == payload, f"no echo through v2ray; v2ray said:\n{output}"
    services.udp_echo.log.wait(lambda e: e[1] == payload and e[0] == topo.addr.proxy_out4,
                               udp_mark, what="the datagram from the proxy host")
    line = check_association(proxy, mark, target, topo)
    # DST names an IP that is not the client's: no hint, the first datagram locks the port.
    assert "dst_hint=" not in line, line
