"""One Ethernet segment of network namespaces: a bridge in a `switch` namespace and one host
namespace per name, each with eth0 on the bridge and one IPv4 address of 192.0.2.0/24 (a
documentation range, used only inside these namespaces: nothing here is routed anywhere).

    client 192.0.2.10 --+
    lb     192.0.2.2  --+
    s1     192.0.2.11 --+-- br0 (switch namespace)
    s2     192.0.2.12 --+
    s3     192.0.2.13 --+
    server 192.0.2.20 --+
"""

import os
import subprocess

from netns import call_in, ip


class Lan:
    def __init__(self, hosts):
        self.hosts = dict(hosts)  # role -> IPv4 address
        self.prefix = f"s5t{os.getpid()}"
        self.ns = {}
        self._created = []

    def setup(self):
        try:
            switch = self._add(f"{self.prefix}-sw")
            ip("link", "add", "br0", "type", "bridge", ns=switch)
            ip("link", "set", "br0", "up", ns=switch)
            ip("link", "set", "lo", "up", ns=switch)
            for index, (role, address) in enumerate(self.hosts.items()):
                ns = self._add(f"{self.prefix}-{role}")
                self.ns[role] = ns
                port = f"p{index}"
                # Made directly inside the namespaces: the short names never meet in the root one.
                ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port,
                    "netns", switch)
                ip("link", "set", port, "master", "br0", ns=switch)
                ip("link", "set", port, "up", ns=switch)
                ip("addr", "add", f"{address}/24", "dev", "eth0", ns=ns)
                ip("link", "set", "eth0", "up", ns=ns)
                ip("link", "set", "lo", "up", ns=ns)
        except BaseException:
            self.teardown()
            raise
        return self

    def _add(self, name):
        ip("netns", "add", name)
        self._created.append(name)
        return name

    def teardown(self):
        for name in reversed(self._created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20)
        self._created = []

    def argv(self, role, argv):
        return ["ip", "netns", "exec", self.ns[role], *argv]

    def popen(self, role, argv, **kwargs):
        return subprocess.Popen(self.argv(role, argv), **kwargs)

    def run(self, role, argv, timeout=60, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.argv(role, argv), timeout=timeout, **kwargs)

    def call(self, role, fn, *args, **kwargs):
        """fn(*args, **kwargs) on a thread inside the role's namespace: sockets it creates, and
        threads it starts, stay there."""
        return call_in(self.ns[role], fn, *args, **kwargs)
