"""socks5d in the proxy role of the topology: two instances and their access-log checks."""

import re
import shutil

import socks5lib
from socks5lib import deadline

USER = "matrix-user"
PASSWORD = "matrix-Pa55-word"
OPEN_PORT = 1080
AUTH_PORT = 1081


def host_port(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """One socks5d in the proxy role; wraps socks5lib.Socks5d with access-log checks."""

    def __init__(self, topo, flags, label):
        self.topo = topo
        self.label = label
        ip = shutil.which("ip")
        binary = str(socks5lib.binary_path())
        if topo.isolated:
            self.server = socks5lib.Socks5d(["netns", "exec", topo.ns["proxy"], binary, *flags],
                                            binary=ip)
        else:
            self.server = socks5lib.Socks5d(flags)
        self.server.start()
        endpoints = self.server.wait_listening(2)
        self.port4 = next(p for h, p in endpoints if ":" not in h)
        self.port6 = next(p for h, p in endpoints if ":" in h)
        self.host4, self.host6 = topo.addr.proxy4, topo.addr.proxy6

    @property
    def port(self):
        return self.port4

    def url(self, scheme="socks5", v6=False, creds=None):
        auth = f"{creds[0]}:{creds[1]}@" if creds else ""
        host = f"[{self.host6}]:{self.port6}" if v6 else f"{self.host4}:{self.port4}"
        return f"{scheme}://{auth}{host}"

    def mark(self):
        with self.server._cond:
            return len(self.server.lines)

    def wait_access(self, start, cmd, target=None, reply="00", client_v6=None, user=None,
                    target_re=None):
        """Waits for the access-log line of one session (from line index `start` on).

        The client address must be the client host's (so the session came from it), and
        target (or the regex target_re), reply and user match when given. Returns the parsed
        fields and the whole line as "line"."""
        a = self.topo.addr
        clients = {False: a.client4, True: a.client6}
        if client_v6 is None:
            client_re = f"(?:{re.escape(a.client4)}|\\[{re.escape(a.client6)}\\])"
        elif client_v6:
            client_re = f"\\[{re.escape(clients[True])}\\]"
        else:
            client_re = re.escape(clients[False])
        any_field = r"\S+"
        user_re = re.escape(user) if user else any_field
        if target_re is None:
            target_re = re.escape(target) if target else any_field
        reply_re = reply if reply else "[0-9A-Fa-f]{2}"
        pattern = (f"access client={client_re}:\\d+ user={user_re} cmd={cmd} "
                   f"target={target_re} reply={reply_re} ")
        try:
            self.server.wait_for_line(pattern, timeout=deadline(15), start=start)
        except AssertionError:
            lines = [m.group(0) for m in map(socks5lib.ACCESS_RE.search,
                                               self.server.lines[start:]) if m]
            raise AssertionError(f"{self.label}: no access-log line /{pattern}/; "
                                 f"access lines since the cell began: {lines}") from None
        for line in self.server.lines[start:]:
            match = socks5lib.ACCESS_RE.search(line)
            if match and re.search(pattern, line):
                return dict(match.groupdict(), line=line)

    def alive(self):
        return self.server.running()

    def stop(self):
        rc = self.server.stop()
        return rc


class Proxies:
    def __init__(self, topo, users_file, dns):
        a = topo.addr
        listen4, listen6 = a.proxy4, f"[{a.proxy6}]"
        # Fixed ports in the proxy namespace (nothing else there); port 0 on loopback.
        ports = (OPEN_PORT, AUTH_PORT) if topo.isolated else (0, 0)
        # A short handshake timeout keeps the A8 rows of the negative matrix quick.
        common = ["--log_level=info", "--shutdown_grace=1s", "--workers=2",
                  "--handshake_timeout=3s",
                  f"--dns_servers={host_port(*dns)}"]
        self.open = Proxy(topo, [f"--listen={listen4}:{ports[0]},{listen6}:{ports[0]}",
                                 "--allow_open_proxy", *common], "open proxy")
        try:
            self.auth = Proxy(topo, [f"--listen={listen4}:{ports[1]},{listen6}:{ports[1]}",
                                     f"--users_file={users_file}", *common], "auth proxy")
        except BaseException:
            self.open.stop()
            raise

    def all(self):
        return [self.open, self.auth]
