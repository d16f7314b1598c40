"""Defect 12: each association may hold 64 KiB of reassembly and 128 KiB queued behind lookups
(~127 KiB RSS measured per association) with no process-wide bound and no per-client cap on
associations. After the fix a process-wide budget drops (and counts) what would exceed it,
and one client address holds at most N associations."""

import os
import re
import socket

import socks5lib
import udplib
from advlib import association_from, attacker_source, wait_until
from assumed import (DROP_BUDGET_FIELD, FLAG_MAX_ASSOCIATIONS_PER_CLIENT, FLAG_UDP_MEMORY_BUDGET,
                     LOG_ASSOCIATIONS_PER_CLIENT_CAP)
from socks5lib import deadline

BUDGET = 4 << 20            # bytes, the --udp_memory_budget under test
ASSOCIATIONS = 300
FRAGMENTS = 45              # x 1400 bytes: ~62 KiB held per association, never completed
FRAGMENT_SIZE = 1400
RSS_SLACK_KIB = 8 * 1024    # growth allowed beyond the budget: sockets, bookkeeping (~3 MiB today)


def fragment_flood(server, associations=ASSOCIATIONS, fragments=FRAGMENTS):
    """Opens `associations` associations, each holding `fragments` fragments of a datagram whose
    last fragment never comes; returns (RSS growth in KiB, the associations, the peer)."""
    peer = udplib.UdpPeer("127.0.0.1")
    held = []
    rss_before = server.rss_kib()
    for i in range(associations):
        a = association_from(server, attacker_source(i))
        held.append(a)
        for frag in range(1, fragments + 1):
            a.send("127.0.0.1", peer.port, bytes([frag]) * FRAGMENT_SIZE, frag=frag)
    # A whole datagram on a fresh association: with --workers=1 the one event loop reaches it
    # after the fragments sent long before (a FRAG 0 datagram on the same association would
    # discard its queue).
    with udplib.Association(server) as probe:
        probe.send("127.0.0.1", peer.port, b"probe")
        data, _ = peer.recv(timeout=deadline(5))
        assert data == b"probe", data[:16]
    return server.rss_kib() - rss_before, held, peer


def _budget_drops(server, count):
    wait_until(lambda: server.count_lines(r" I access .*cmd=UDP_ASSOCIATE") >= count,
               deadline(10), f"{count} UDP_ASSOCIATE access lines")
    field = re.compile(rf" {DROP_BUDGET_FIELD}=(\d+)")
    return sum(int(m.group(1)) for m in map(field.search, server.lines) if m)


def test_udp_memory_budget_bounds_rss(adv_server):
    flags = (f"{FLAG_UDP_MEMORY_BUDGET}={BUDGET}", "--udp_reassembly_timeout=30s", "--workers=1")
    # What the associations cost without fragments, on a server of its own: the growth beyond
    # it is what the fragments hold. (Under AddressSanitizer 300 bare associations alone grow RSS
    # by ~12 MiB of redzones and shadow, ~3.7 MiB without.)
    baseline, bare, bare_peer = fragment_flood(adv_server(*flags), fragments=0)
    for a in bare:
        a.close()
    bare_peer.close()
    bound = BUDGET // 1024 + RSS_SLACK_KIB
    if os.environ.get("SOCKS5D_SANITIZED") == "1":
        # ASan's quarantine also keeps the buffers a growing reassembly queue has outgrown
        # (together at most about what the queues hold, so the budget once more).
        bound += BUDGET // 1024
    server = adv_server(*flags)
    growth, held, peer = fragment_flood(server)
    try:
        fragments = ASSOCIATIONS * FRAGMENTS * FRAGMENT_SIZE
        print(f"{ASSOCIATIONS} associations holding {fragments >> 10} KiB of fragments: RSS "
              f"+{growth} KiB (without fragments: +{baseline} KiB)")
        assert growth - baseline <= bound, (
            f"{ASSOCIATIONS} associations with incomplete fragment queues ({fragments >> 10} KiB)"
            f" grew RSS by {growth} KiB ({baseline} KiB without fragments) with "
            f"{FLAG_UDP_MEMORY_BUDGET}={BUDGET >> 10} KiB")
    finally:
        for a in held:
            a.close()
        peer.close()
    drops = _budget_drops(server, ASSOCIATIONS + 1)
    assert drops > 0, f"no {DROP_BUDGET_FIELD} counted in the access lines"


def test_associations_per_client_capped(adv_server):
    cap = 4
    server = adv_server(f"{FLAG_MAX_ASSOCIATIONS_PER_CLIENT}={cap}")
    held = [udplib.Association(server) for _ in range(cap)]
    try:
        control = server.client()
        control.handshake()
        control.send(socks5lib.request("0.0.0.0", 0, cmd=socks5lib.CMD_UDP_ASSOCIATE))
        try:
            reply = control.read_reply(timeout=deadline(2))
            refused = reply.rep != socks5lib.REP_SUCCEEDED
        except socks5lib.PeerClosed:
            refused, reply = True, "closed"
        assert refused, f"association {cap + 1} from one address with cap {cap}: {reply}"
        server.wait_for_line(LOG_ASSOCIATIONS_PER_CLIENT_CAP, timeout=deadline(2))
        control.close()
        # Another address still gets one.
        other = socket.create_connection(("127.0.0.1", server.port), timeout=deadline(2),
                                         source_address=("127.0.0.2", 0))
        other.sendall(socks5lib.greeting(socks5lib.METHOD_NO_AUTH)
                      + socks5lib.request("0.0.0.0", 0, cmd=socks5lib.CMD_UDP_ASSOCIATE))
        answer = socks5lib.recv_exact(other, 12, deadline(2))
        assert answer[3] == socks5lib.REP_SUCCEEDED, socks5lib.hexs(answer)
        other.close()
    finally:
        for a in held:
            a.close()
