"""PySocks (python3-socks) as a client, run in the client role:

  pysocks_client.py tcp|udp PROXY_HOST PROXY_PORT TARGET_HOST TARGET_PORT PAYLOAD
                    [--rdns] [--user U --password P]

tcp: connect through the proxy, send PAYLOAD, print what comes back until EOF.
udp: sendto PAYLOAD through a UDP association, print the one datagram that comes back and
     the address PySocks says it came from."""

import argparse
import socket
import sys

import socks


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["tcp", "udp"])
    parser.add_argument("proxy_host")
    parser.add_argument("proxy_port", type=int)
    parser.add_argument("target_host")
    parser.add_argument("target_port", type=int)
    parser.add_argument("payload")
    parser.add_argument("--rdns", action="store_true")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()
    family = socket.AF_INET6 if ":" in args.proxy_host else socket.AF_INET
    kind = socket.SOCK_STREAM if args.mode == "tcp" else socket.SOCK_DGRAM
    sock = socks.socksocket(family, kind)
    sock.settimeout(10)
    sock.set_proxy(socks.SOCKS5, args.proxy_host, args.proxy_port, rdns=args.rdns,
                   username=args.user, password=args.password)
    payload = args.payload.encode()
    if args.mode == "tcp":
        sock.connect((args.target_host, args.target_port))
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        sys.stdout.write(received.decode())
    else:
        sock.sendto(payload, (args.target_host, args.target_port))
        data, peer = sock.recvfrom(65535)
        sys.stdout.write(f"{data.decode()} from {peer[0]}:{peer[1]}\n")
    sock.close()


if __name__ == "__main__":
    main()
