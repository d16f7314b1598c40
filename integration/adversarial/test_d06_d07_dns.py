"""Defect 6: c-ares 1.18's ares_timeout() scans every pending query after every event, so
thousands of lookups to a DNS server that never answers burn CPU and stall the worker's other
sessions; there was no cap on lookups in flight.
Defect 7: every query left from one UDP source port, so only the 16-bit ID protects an answer
that is then cached for every client of the worker."""

import socket
import threading
import time

import dns.message

import socks5lib
import udplib
from advlib import association_from, attacker_source, close_all
from assumed import FLAG_MAX_LOOKUPS_PER_WORKER
from socks5lib import REP_HOST_UNREACHABLE, deadline, request

ASSOCIATIONS = 300            # today each holds at most ~64 names behind lookups
LOOKUPS = 12000                # unique names sent over the associations
BURST = 200
STALL_BOUND = 0.2              # an IP-literal CONNECT on the same worker answers within this
CPU_BOUND = 1.0                # server CPU seconds for the whole attack


class SilentDns:
    """A UDP socket that receives queries (counting them) and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._cond = threading.Condition()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def server_flag(self):
        return f"--dns_servers=127.0.0.1:{self.port}"

    def _serve(self):
        while True:
            try:
                self.sock.recv(4096)
            except OSError:
                return
            with self._cond:
                self.queries += 1
                self._cond.notify_all()

    def wait_queries(self, count, timeout):
        end = time.monotonic() + timeout
        with self._cond:
            while self.queries < count and time.monotonic() < end:
                self._cond.wait(end - time.monotonic())
            return self.queries

    def close(self):
        self.sock.close()


def _timed_connect(server, port):
    """Seconds a whole CONNECT + echo takes (REPLY_TIMEOUT and more if it did not complete)."""
    start = time.monotonic()
    try:
        with server.client() as client:
            client.connect("127.0.0.1", port)
            client.send(b"x")
            client.expect(b"x")
    except (AssertionError, OSError) as e:
        print(f"CONNECT did not complete: {e}")
    return time.monotonic() - start


def _flood(associations, silent, total, stop):
    """Sends datagrams to unique names round-robin over the associations, BURST at a time,
    each burst once the resolver has caught up with the previous one (so the relay sockets'
    receive buffers never overflow), until `total` names or `stop` is set."""
    sent = 0
    while sent < total and not stop.is_set():
        for _ in range(BURST):
            a = associations[sent % len(associations)]
            a.send(f"n{sent}.never.test", 9, b"q")
            sent += 1
        if silent.wait_queries(sent, deadline(3)) < sent:
            return  # the server stopped sending lookups (a cap, or a stall)


def test_pending_lookups_do_not_stall_the_worker(adv_server, echo_server):
    silent = SilentDns()
    associations = []
    stop = threading.Event()
    try:
        server = adv_server(silent.server_flag, "--workers=1", "--dns_timeout=30s")
        idle_connect = _timed_connect(server, echo_server.port)
        associations = [association_from(server, attacker_source(i))
                        for i in range(ASSOCIATIONS)]
        cpu_before = server.cpu_seconds()
        flood_start = time.monotonic()
        flooder = threading.Thread(target=_flood, args=(associations, silent, LOOKUPS, stop),
                                   daemon=True)
        flooder.start()
        # Legitimate IP-literal CONNECTs on the same worker once thousands are in flight.
        # (or once the flood stopped early: the server capped the lookups in flight).
        end = time.monotonic() + deadline(20)
        while (silent.queries < LOOKUPS // 2 and flooder.is_alive()
               and time.monotonic() < end):
            silent.wait_queries(LOOKUPS // 2, 0.1)
        stalls = [_timed_connect(server, echo_server.port) for _ in range(5)]
        flooder.join(deadline(30))
        seen = silent.queries
        cpu = server.cpu_seconds() - cpu_before
        print(f"queries seen {seen}/{LOOKUPS} in {time.monotonic() - flood_start:.1f}s; CONNECT "
              f"times {[round(t, 3) for t in stalls]} (idle: {idle_connect:.3f}s); "
              f"server CPU {cpu:.2f}s")
        assert max(stalls) <= deadline(STALL_BOUND), (
            f"with {seen} DNS queries sent an IP-literal CONNECT on the same worker "
            f"took {max(stalls):.3f}s (bound {STALL_BOUND}s; {idle_connect:.3f}s idle)")
        assert cpu <= deadline(CPU_BOUND), (
            f"the server burnt {cpu:.2f}s CPU on {seen} lookups (bound {CPU_BOUND}s)")
    finally:
        stop.set()
        for a in associations:
            a.close()
        silent.close()


def test_lookups_over_the_worker_cap_fail_fast(adv_server):
    cap = 50
    silent = SilentDns()
    clients = []
    try:
        server = adv_server(silent.server_flag, "--workers=1", "--dns_timeout=10s",
                            f"{FLAG_MAX_LOOKUPS_PER_WORKER}={cap}")
        for i in range(cap):  # these lookups are never answered: they stay in flight
            client = server.client()
            client.handshake()
            client.send(request(f"held{i}.never.test", 80))
            clients.append(client)
        silent.wait_queries(cap, deadline(5))
        start = time.monotonic()
        with server.client() as extra:
            extra.handshake()
            extra.send(request("over.never.test", 80))
            reply = extra.read_reply(timeout=deadline(2))
        assert reply.rep == REP_HOST_UNREACHABLE, f"over the lookup cap: {reply}"
        assert time.monotonic() - start <= deadline(1.0)
    finally:
        close_all(c.sock for c in clients)
        silent.close()


class PortRecordingDns(socks5lib.DnsResponder):
    """Answers NXDOMAIN to everything but names starting with "hold" (never answered);
    records each query's source port."""

    def __init__(self):
        self.ports = []
        self._cond = threading.Condition()
        super().__init__({})

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            with self._cond:
                self.ports.append(peer[1])
                self._cond.notify_all()
            if query.question and query.question[0].name.to_text().startswith("hold"):
                continue
            try:
                self.sock.sendto(self._answer(query).to_wire(), peer)
            except OSError:
                return

    def wait(self, count, timeout):
        end = time.monotonic() + timeout
        with self._cond:
            while len(self.ports) < count and time.monotonic() < end:
                self._cond.wait(end - time.monotonic())
            return list(self.ports)


def test_queries_come_from_more_than_one_source_port(adv_server):
    """An attacker keeps one lookup pending (c-ares 1.18 closes an idle server socket, so a
    quiet resolver changes port by accident) and then has 600 unique names looked up (20 per
    association: today an association holds ~32 names in flight): those queries must not all
    share one source port."""
    names, per_association = 600, 20
    responder = PortRecordingDns()
    associations = []
    try:
        server = adv_server(responder.server_flag, "--workers=1", "--dns_timeout=30s")
        holder = udplib.Association(server)
        associations.append(holder)
        holder.send("hold.test", 9, b"q")
        first = len(responder.wait(1, deadline(5)))
        for start in range(0, names, per_association):
            a = association_from(server, attacker_source(start // per_association))
            associations.append(a)
            for i in range(start, start + per_association):
                a.send(f"spoof{i}.test", 9, b"q")
            # Paced so that the responder's receive buffer never overflows (a lost query is
            # retried only after c-ares's per-try timeout).
            responder.wait(first + start + per_association, deadline(5))
        # At least one query per name; allow 5% lost (a full queue on a busy association).
        wanted = names * 95 // 100
        ports = responder.wait(first + wanted, deadline(10))[first:]
        distinct = sorted(set(ports))
        print(f"{len(ports)} queries from {len(distinct)} source ports: {distinct[:20]}")
        assert len(ports) >= wanted, f"only {len(ports)} queries for {names} names arrived"
        assert len(distinct) >= 2, (f"{len(ports)} DNS queries for {names} unique names all "
                                    f"left from one UDP source port {distinct}")
    finally:
        for a in associations:
            a.close()
        responder.close()
