"""Target services on the server host of the topology, each of which records who reached it.

  HTTP      GET / answers PAGE (an HTML page with a marker); records (peer ip, path, Host).
  TCP echo  echoes each connection; records peer ips.
  UDP echo  sends each datagram back to its sender; records (peer ip, data).
  DNS       dnsmasq (namespaced server host) or socks5lib.DnsResponder (loopback fallback),
            with web.test (A and AAAA), web4.test (A), web6.test (AAAA), and the PTR
            records of PTR_RECORDS.
  FTP       pyftpdlib in a subprocess (ftp_server.py), anonymous, serving FTP_FILE; prints
            each PORT/EPRT it gets and each data connection it opens.

Everything binds the server's IPv4 and IPv6 addresses. In the namespaces the ports are the
well-known ones (nothing else lives there); on loopback they are port 0 (the kernel picks).
"""

import http.server
import ipaddress
import os
import pathlib
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import socks5lib  # noqa: E402
from socks5lib import deadline  # noqa: E402

PAGE_MARKER = "socks5d-matrix-page-7f3a"
PAGE = (f"<!DOCTYPE html><html><head><title>matrix</title></head>"
        f"<body><p id=\"m\">{PAGE_MARKER}</p></body></html>\n").encode()
FTP_FILE_NAME = "payload.bin"
FTP_FILE = os.urandom(96 * 1024) + b"end of ftp file"

# name -> (A, AAAA)
DNS_RECORDS = {"web.test": ("server4", "server6"), "web4.test": ("server4", None),
               "web6.test": (None, "server6")}
# address -> the name of its PTR record (RESOLVE_PTR cells): addresses nothing uses, so the
# answer can only have come from these records.
PTR_RECORDS = {"198.51.100.77": "ptr4.test", "2001:db8:2::77": "ptr6.test"}


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Recorder:
    """A thread-safe list of events with a wait for one that matches."""

    def __init__(self):
        self.events = []
        self._cond = threading.Condition()

    def add(self, event):
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self.events)

    def wait(self, predicate, start=0, timeout=None, what="event"):
        end = time.monotonic() + (timeout or deadline(10))
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {what} within deadline; got {self.events[start:]}")
                self._cond.wait(remaining)


class HttpService:
    def __init__(self, hosts, port):
        log = self.log = Recorder()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                log.add((self.client_address[0], self.path, self.headers.get("Host", "")))
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, *args):
                pass

        self.servers = []
        for host in hosts:
            class Server(http.server.ThreadingHTTPServer):
                address_family = _family(host)
                daemon_threads = True
                allow_reuse_address = True

                def server_bind(self):
                    # HTTPServer.server_bind asks getfqdn(), a DNS lookup that times out in
                    # a namespace without a resolver; the name is not needed.
                    socketserver.TCPServer.server_bind(self)
                    self.server_name, self.server_port = self.server_address[:2]

            server = Server((host, port), Handler)
            port = server.server_address[1]  # the IPv6 twin takes the IPv4 one's port
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
        self.port = port

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


class TcpEchoService:
    def __init__(self, hosts, port):
        self.log = Recorder()
        self.listeners = []
        for host in hosts:
            sock = socket.socket(_family(host), socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
            port = sock.getsockname()[1]
            self.listeners.append(sock)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        self.port = port

    def _accept(self, listener):
        while True:
            try:
                conn, peer = listener.accept()
            except OSError:
                return
            self.log.add(peer[0])
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        for sock in self.listeners:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class UdpEchoService:
    def __init__(self, hosts, port):
        self.log = Recorder()
        self.socks = []
        for host in hosts:
            sock = socket.socket(_family(host), socket.SOCK_DGRAM)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            self.socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()
        self.port = port

    def _serve(self, sock):
        while True:
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                return
            self.log.add((peer[0], data))
            try:
                sock.sendto(data, peer)
            except OSError:
                pass

    def close(self):
        for sock in self.socks:
            sock.close()


class _LineProcess:
    """A subprocess whose stderr+stdout lines are collected in a Recorder."""

    def __init__(self, popen):
        self.proc = popen
        self.log = Recorder()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.log.add(raw.decode(errors="replace").rstrip("\n"))
        self.log.add(None)  # EOF

    def wait_line(self, pattern, start=0, timeout=None):
        regex = re.compile(pattern)
        line = self.log.wait(lambda l: l is None or regex.search(l), start, timeout,
                             what=f"line /{pattern}/")
        if line is None:
            raise AssertionError(f"process exited (rc={self.proc.poll()}) before /{pattern}/; "
                                 f"output: {self.log.events}")
        return regex.search(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(deadline(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Dnsmasq(_LineProcess):
    def __init__(self, topo, records):
        a = topo.addr
        argv = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--no-poll", "--bind-interfaces", "--port=53", "--user=root",
                "--pid-file=", "--log-queries", "--log-facility=-",
                f"--listen-address={a.server4},{a.server6}"]
        for name, (v4, v6) in records.items():
            argv.append("--host-record=" + ",".join([name] + [x for x in (v4, v6) if x]))
        for address, name in PTR_RECORDS.items():
            argv.append(f"--ptr-record={ipaddress.ip_address(address).reverse_pointer},{name}")
        super().__init__(topo.popen("server", argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        self.wait_line(r"started, version")
        self.host, self.port = a.server4, 53

    def queries(self):
        """[(type, name)] of the queries logged so far."""
        out = []
        for line in self.log.events:
            match = line and re.search(r"query\[(\w+)\] (\S+) from", line)
            if match:
                out.append((match.group(1), match.group(2)))
        return out


class LoopbackDns:
    """The fallback DNS: socks5lib.DnsResponder on the server's loopback address."""

    def __init__(self, topo, records):
        table = {}
        for name, (v4, v6) in records.items():
            table[name] = {"A": [v4] if v4 else [], "AAAA": [v6] if v6 else []}
        for address, name in PTR_RECORDS.items():
            table[ipaddress.ip_address(address).reverse_pointer] = {"PTR": [name + "."]}
        self.responder = socks5lib.DnsResponder(table, topo.addr.server4)
        self.host, self.port = self.responder.host, self.responder.port

    def queries(self):
        return [(t, n) for n, t in self.responder.queries]

    def close(self):
        self.responder.close()


class FtpService(_LineProcess):
    def __init__(self, topo, root, port):
        (root / FTP_FILE_NAME).write_bytes(FTP_FILE)
        # Debian's Python: pyftpdlib is the python3-pyftpdlib package.
        argv = ["/usr/bin/python3", str(HERE / "ftp_server.py"), topo.addr.server4, str(port),
                str(root)]
        super().__init__(topo.popen("server", argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        self.port = int(self.wait_line(r"ready port=(\d+)").group(1))


class Services:
    """All target services, started in the topology's server role."""

    def __init__(self, topo, tmp):
        a = topo.addr
        isolated = topo.isolated
        hosts = [a.server4, a.server6]
        self._closers = []
        try:
            self.http = self._keep(topo.call("server", HttpService, hosts, 80 if isolated else 0))
            self.tcp_echo = self._keep(topo.call("server", TcpEchoService, hosts,
                                                 7 if isolated else 0))
            self.udp_echo = self._keep(topo.call("server", UdpEchoService, hosts,
                                                 7 if isolated else 0))
            records = {name: (getattr(a, v4) if v4 else None, getattr(a, v6) if v6 else None)
                       for name, (v4, v6) in DNS_RECORDS.items()}
            self.dns = self._keep(Dnsmasq(topo, records) if isolated
                                  else LoopbackDns(topo, records))
            self.ftp = self._keep(FtpService(topo, tmp, 21 if isolated else 0))
        except BaseException:
            self.close()
            raise

    def _keep(self, service):
        self._closers.append(service.close)
        return service

    def close(self):
        for close in reversed(self._closers):
            try:
                close()
            except OSError:
                pass
        self._closers = []
