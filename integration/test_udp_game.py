"""Game-style traffic through UDP ASSOCIATE: a client "tick" stream up and a server "state"
stream down, small datagrams at a steady rate both ways. On loopback nothing may be lost or
reordered. Latency percentiles are printed (pytest -s) and written to the test's tmp dir;
they are reported, not asserted (they depend on the machine's load)."""

import struct
import threading
import time

import socks5lib
from socks5lib import deadline
from udplib import Association, UdpPeer, access_fields, parse_udp_datagram

RATE = 1000        # datagrams per second, each way
DURATION = 4.0     # seconds of play
COUNT = int(RATE * DURATION)
PACKET = struct.Struct("!4sId")  # kind, sequence number, send time (time.monotonic)
SIZE = 64                        # bytes per datagram, like a small game update


def encode(kind, seq):
    return PACKET.pack(kind, seq, time.monotonic()).ljust(SIZE, b"\0")


def decode(data):
    kind, seq, sent = PACKET.unpack_from(data)
    return kind, seq, time.monotonic() - sent


def paced(count, send):
    """Calls send(i) for i in 0..count-1 on a fixed schedule of RATE per second."""
    start = time.monotonic()
    for i in range(count):
        delay = start + i / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the stream, not waiting for an event
        send(i)


def percentiles(samples):
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": ordered[-1] * 1000}


class GameServer:
    """Receives ticks; once the first arrives, streams COUNT states back to where it came from
    (the proxy's outbound socket)."""

    def __init__(self):
        self.peer = UdpPeer("127.0.0.1")
        self.ticks = []        # sequence numbers in arrival order
        self.latency = []      # one-way, client -> server, seconds
        self.errors = []
        self.done = threading.Event()
        self._sender = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        sock = self.peer.sock
        sock.settimeout(deadline(15))
        try:
            while len(self.ticks) < COUNT:
                data, source = sock.recvfrom(2048)
                kind, seq, latency = decode(data)
                if kind != b"tick" or len(data) != SIZE:
                    self.errors.append(f"bad tick {socks5lib.hexs(data[:16])}")
                    continue
                self.ticks.append(seq)
                self.latency.append(latency)
                if self._sender is None:
                    self._sender = threading.Thread(
                        target=paced, args=(COUNT, lambda i: sock.sendto(encode(b"stat", i), source)),
                        daemon=True)
                    self._sender.start()
        except OSError as e:
            self.errors.append(f"server: {e}")
        finally:
            self.done.set()

    def close(self):
        self.peer.close()


def check_stream(name, seqs):
    assert len(seqs) == COUNT, f"{name}: {len(seqs)}/{COUNT} datagrams arrived (lost {COUNT - len(seqs)})"
    assert seqs == list(range(COUNT)), f"{name}: order broken, first mismatch at " \
        f"{next(i for i, s in enumerate(seqs) if s != i)}"


def test_game_traffic_steady_rate_both_ways_no_loss_in_order(socks5d, tmp_path):
    server = socks5d()
    game = GameServer()
    states, down_latency, errors = [], [], []
    try:
        with Association(server) as a:
            def receive():
                a.udp.settimeout(deadline(15))
                try:
                    while len(states) < COUNT:
                        data, source = a.udp.recvfrom(2048)
                        frag, host, port, payload = parse_udp_datagram(data)
                        if (frag, host, port) != (0, "127.0.0.1", game.peer.port):
                            errors.append(f"bad header {socks5lib.hexs(data[:16])}")
                            continue
                        kind, seq, latency = decode(payload)
                        states.append(seq)
                        down_latency.append(latency)
                except OSError as e:
                    errors.append(f"client: {e}")

            receiver = threading.Thread(target=receive, daemon=True)
            receiver.start()
            started = time.monotonic()
            paced(COUNT, lambda i: a.send("127.0.0.1", game.peer.port, encode(b"tick", i)))
            receiver.join(deadline(10))
            assert game.done.wait(deadline(10)), f"server got {len(game.ticks)}/{COUNT} ticks"
            elapsed = time.monotonic() - started
    finally:
        game.close()

    assert not errors and not game.errors, errors + game.errors
    check_stream("ticks (up)", game.ticks)
    check_stream("states (down)", states)
    up, down = percentiles(game.latency), percentiles(down_latency)
    report = (f"game traffic: {COUNT} x {SIZE} B each way at {RATE}/s in {elapsed:.2f}s, "
              f"0 lost, order kept\n"
              f"  up   (client->proxy->server) ms: " +
              " ".join(f"{k}={v:.3f}" for k, v in up.items()) + "\n"
              f"  down (server->proxy->client) ms: " +
              " ".join(f"{k}={v:.3f}" for k, v in down.items()) + "\n")
    print("\n" + report)
    (tmp_path / "udp_game_latency.txt").write_text(report)
    fields = access_fields(server)
    assert fields["dgrams_up"] == COUNT and fields["dgrams_down"] == COUNT
    assert fields["up"] == COUNT * SIZE and fields["down"] == COUNT * SIZE
    assert all(v == 0 for k, v in fields.items() if k.startswith("drop_")), fields
