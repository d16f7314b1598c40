"""Defect 5: --max_sessions was derived assuming two descriptors per session, but a UDP
association holds four and a CONNECT to a name with many blackholed addresses one per Happy
Eyeballs attempt. With RLIMIT_NOFILE=1000 the descriptors run out first; accept() then pauses
and new clients hang in the backlog. After the fix each new client is answered at once (a
reply code or a close), the server recovers when the load goes, and one CONNECT holds only a
few attempts at a time."""

import socket
import time

import socks5lib
import udplib
from advlib import answered_within, attacker_source, blackhole_addresses, close_all, connect_from
from socks5lib import deadline, request

NOFILE = 1000
ASSOCIATIONS = 300     # x4 descriptors each: more than NOFILE
ANSWER_WITHIN = 2.0    # a new client gets a byte or a close within this
MAX_ATTEMPTS_IN_FLIGHT = 10


def _open_association(server, sinks, source):
    """A UDP ASSOCIATE that has sent a datagram to each sink (so that it opened its outgoing
    sockets); returns (control, udp) or None when the server did not grant it."""
    try:
        control = connect_from(server.port, source, timeout=deadline(2))
    except OSError:
        return None
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((source, 0))
    try:
        control.sendall(socks5lib.greeting(socks5lib.METHOD_NO_AUTH)
                        + request(source, udp.getsockname()[1],
                                  cmd=socks5lib.CMD_UDP_ASSOCIATE))
        answer = socks5lib.recv_exact(control, 12, deadline(2), what="UDP ASSOCIATE reply")
    except (AssertionError, OSError):
        close_all([control, udp])
        return None
    if answer[3] != 0:
        close_all([control, udp])
        return None
    relay = (socket.inet_ntoa(answer[6:10]), int.from_bytes(answer[10:12], "big"))
    for sink in sinks:
        udp.sendto(udplib.udp_header(sink.host, sink.port) + b"open", relay)
    return control, udp


def _new_client_answered(server, echo_port):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=deadline(2))
    sock.sendall(socks5lib.greeting(socks5lib.METHOD_NO_AUTH) + request("127.0.0.1", echo_port))
    try:
        return answered_within(sock, deadline(ANSWER_WITHIN))
    finally:
        sock.close()


def test_associations_exhausting_descriptors_leave_no_client_hanging(adv_server, echo_server):
    server = adv_server(nofile=NOFILE)
    sinks = [udplib.UdpPeer("127.0.0.1"), udplib.UdpPeer("::1")]
    held, refused = [], 0
    try:
        for i in range(ASSOCIATIONS):
            association = _open_association(server, sinks, attacker_source(i))
            if association is None:
                refused += 1
                if refused >= 1:
                    break
                continue
            held.append(association)
        fds = server.fd_count()
        print(f"held {len(held)} associations, {refused} refused, server fds {fds}")
        answered = [_new_client_answered(server, echo_server.port) for _ in range(3)]
        assert all(answered), (
            f"with {len(held)} UDP associations held ({fds} of {NOFILE} descriptors in use), "
            f"new clients answered within {ANSWER_WITHIN}s: {answered}")
    finally:
        for control, udp in held:
            close_all([control, udp])
        for sink in sinks:
            sink.close()
    # Once the load is gone, clients are served again.
    deadline_end = time.monotonic() + deadline(5)
    while True:
        try:
            with server.client() as client:
                client.connect("127.0.0.1", echo_server.port)
                client.send(b"ok")
                client.expect(b"ok")
            break
        except (AssertionError, OSError):
            if time.monotonic() > deadline_end:
                raise
            time.sleep(0.05)  # the associations' sockets are closing on the server


def test_one_connect_holds_few_attempts(adv_server):
    hosts, port, keep = blackhole_addresses(29)
    dns = socks5lib.DnsResponder({"many.test": {"A": hosts}})
    try:
        server = adv_server(dns.server_flag, "--connect_timeout=10s", "--workers=1")
        baseline = server.fd_count()
        client = server.client()
        client.handshake()
        client.send(request("many.test", port))
        # Watch the server's descriptors while the CONNECT is pending (4 s: 16 attempts at
        # today's 250 ms stagger).
        peak = baseline
        end = time.monotonic() + 4.0
        while time.monotonic() < end:
            peak = max(peak, server.fd_count())
            if peak - baseline > MAX_ATTEMPTS_IN_FLIGHT + 1:  # +1: the client's own socket
                break
            time.sleep(0.05)  # sampling /proc: there is no event to wait on
        client.close()
        assert peak - baseline <= MAX_ATTEMPTS_IN_FLIGHT + 1, (
            f"one CONNECT to a name with 29 blackholed A records held {peak - baseline - 1} "
            f"sockets at once (bound {MAX_ATTEMPTS_IN_FLIGHT})")
    finally:
        dns.close()
        close_all(keep)
