"""A firewall topology of three network namespaces for the client matrix.

    client ns            proxy ns                  server ns
    192.0.2.2  --veth--  192.0.2.1 | 198.51.100.1  --veth--  198.51.100.2
    2001:db8:1::2        2001:db8:1::1 | 2001:db8:2::1       2001:db8:2::2

The client's and the server's default routes point at the proxy host, but the proxy host
does not forward (ip_forward=0, IPv6 forwarding 0): the client reaches the proxy host's own
addresses and nothing behind it, so a client that bypassed the proxy would fail.

Where namespaces cannot be created (no CAP_NET_ADMIN, no iproute2), or SOCKS5D_MATRIX_LOOPBACK=1
asks for it, the same object describes
loopback instead: every role runs in the current namespace, the server on 127.0.0.2 / ::1.
`isolated` says which one the suite got.

Helpers run code in a role's namespace: popen()/run() for programs (`ip netns exec`), and
call() for a Python function (a thread that entered the namespace with setns(2); sockets it
creates stay in that namespace wherever they are used later).
"""

import dataclasses
import os
import shutil
import signal
import subprocess

from netns import call_in, ip


@dataclasses.dataclass
class Addresses:
    client4: str
    client6: str
    proxy4: str  # the proxy host's client-facing addresses
    proxy6: str
    proxy_out4: str  # the proxy host's server-facing addresses
    proxy_out6: str
    server4: str
    server6: str


NETNS_ADDRESSES = Addresses(
    client4="192.0.2.2", client6="2001:db8:1::2",
    proxy4="192.0.2.1", proxy6="2001:db8:1::1",
    proxy_out4="198.51.100.1", proxy_out6="2001:db8:2::1",
    server4="198.51.100.2", server6="2001:db8:2::2")

LOOPBACK_ADDRESSES = Addresses(
    client4="127.0.0.1", client6="::1",
    proxy4="127.0.0.1", proxy6="::1",
    proxy_out4="127.0.0.1", proxy_out6="::1",
    server4="127.0.0.2", server6="::1")


class Topology:
    ROLES = ("client", "proxy", "server")

    def __init__(self):
        self.isolated = False
        self.reason = ""
        self.addr = LOOPBACK_ADDRESSES
        self.ns = {role: None for role in self.ROLES}
        self._created = []

    # -- life cycle -------------------------------------------------------------------------

    def setup(self):
        """Builds the namespaces; on failure tears down what was made and falls back to loopback."""
        if os.environ.get("SOCKS5D_MATRIX_LOOPBACK") == "1":
            self.reason = "SOCKS5D_MATRIX_LOOPBACK=1"
            return self
        if shutil.which("ip") is None:
            self.reason = "iproute2 (ip) is not installed"
            return self
        prefix = f"s5m{os.getpid()}"
        try:
            for role in self.ROLES:
                name = f"{prefix}-{role}"
                ip("netns", "add", name)
                self._created.append(name)
                self.ns[role] = name
            self._wire()
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            self.teardown()
            self.ns = {role: None for role in self.ROLES}
            self.reason = f"network namespaces unavailable: {e}"
            return self
        self.isolated = True
        self.addr = NETNS_ADDRESSES
        return self

    def _wire(self):
        c, p, s = self.ns["client"], self.ns["proxy"], self.ns["server"]
        a = NETNS_ADDRESSES
        # Created directly inside the namespaces, so the short names never meet in the root one.
        ip("link", "add", "eth0", "netns", c, "type", "veth", "peer", "name", "cli0", "netns", p)
        ip("link", "add", "eth0", "netns", s, "type", "veth", "peer", "name", "srv0", "netns", p)
        self.sysctl("proxy", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0",
                    "net.ipv6.conf.default.forwarding=0")
        for ns, dev, v4, v6 in ((c, "eth0", a.client4, a.client6),
                                (p, "cli0", a.proxy4, a.proxy6),
                                (p, "srv0", a.proxy_out4, a.proxy_out6),
                                (s, "eth0", a.server4, a.server6)):
            ip("addr", "add", f"{v4}/24", "dev", dev, ns=ns)
            # nodad: the address is usable at once instead of after duplicate detection.
            ip("-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad", ns=ns)
            ip("link", "set", dev, "up", ns=ns)
        for ns in (c, p, s):
            ip("link", "set", "lo", "up", ns=ns)
        # Default routes toward the proxy host: without forwarding on it they lead nowhere
        # except the proxy host's own addresses (which is what BIND and UDP replies need).
        ip("route", "add", "default", "via", a.proxy4, ns=c)
        ip("-6", "route", "add", "default", "via", a.proxy6, ns=c)
        ip("route", "add", "default", "via", a.proxy_out4, ns=s)
        ip("-6", "route", "add", "default", "via", a.proxy_out6, ns=s)
        forwarding = self.run("proxy", ["sysctl", "-n", "net.ipv4.ip_forward",
                                        "net.ipv6.conf.all.forwarding"]).stdout.split()
        if forwarding != ["0", "0"]:
            raise RuntimeError(f"forwarding still on in the proxy namespace: {forwarding}")

    def sysctl(self, role, *settings):
        result = self.run(role, ["sysctl", "-q", "-w", *settings])
        if result.returncode != 0:
            raise RuntimeError(f"sysctl {settings}: {result.stderr}")

    def teardown(self):
        for name in reversed(self._created):
            # Deleting a namespace removes its veth ends; processes still inside keep it alive
            # until they exit, which the fixtures that started them see to first.
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self._created = []

    # -- running things in a role's namespace ----------------------------------------------

    def argv(self, role, argv):
        ns = self.ns[role]
        return ["ip", "netns", "exec", ns, *argv] if ns else list(argv)

    def popen(self, role, argv, **kwargs):
        return subprocess.Popen(self.argv(role, argv), **kwargs)

    def run(self, role, argv, timeout=60, input=None, **kwargs):
        """Like subprocess.run (captured text output) in the role's namespace. The program runs
        in its own process group, and on timeout the whole group is killed (Chromium leaves
        helpers behind otherwise); TimeoutExpired is raised as usual."""
        kwargs.setdefault("text", True)
        full = self.argv(role, argv)
        proc = subprocess.Popen(full, stdin=subprocess.PIPE if input is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, **kwargs)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(full, timeout, out, err) from None
        return subprocess.CompletedProcess(full, proc.returncode, out, err)

    def call(self, role, fn, *args, **kwargs):
        """Runs fn(*args, **kwargs) on a thread inside the role's namespace; returns its result."""
        ns = self.ns[role]
        if ns is None:
            return fn(*args, **kwargs)
        return call_in(ns, fn, *args, **kwargs)
