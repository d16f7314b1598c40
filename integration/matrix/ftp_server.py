"""Anonymous read-only FTP server for the matrix (pyftpdlib): ftp_server.py HOST PORT ROOT.

Prints `ready port=N` once listening, then one line per PORT/EPRT/PASV/EPSV command and per
active data connection it opens, so tests can tell active mode (BIND on the client side)
from passive mode."""

import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import ActiveDTP, FTPHandler
from pyftpdlib.servers import FTPServer


def say(text):
    print(text, flush=True)


class LoggingActiveDTP(ActiveDTP):
    def handle_connect(self):
        local, peer = self.socket.getsockname(), self.socket.getpeername()
        say(f"active data connection from {local[0]}:{local[1]} to {peer[0]}:{peer[1]}")
        super().handle_connect()


class Handler(FTPHandler):
    # The PORT address is the SOCKS server's BIND address, not the control peer's.
    permit_foreign_addresses = True
    active_dtp = LoggingActiveDTP

    def ftp_PORT(self, line):
        say(f"command PORT {line}")
        return super().ftp_PORT(line)

    def ftp_EPRT(self, line):
        say(f"command EPRT {line}")
        return super().ftp_EPRT(line)

    def ftp_PASV(self, line):
        say("command PASV")
        return super().ftp_PASV(line)

    def ftp_EPSV(self, line):
        say(f"command EPSV {line}")
        return super().ftp_EPSV(line)


def main():
    host, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root)
    Handler.authorizer = authorizer
    server = FTPServer((host, port), Handler)
    say(f"ready port={server.socket.getsockname()[1]}")
    server.serve_forever(handle_exit=True)


if __name__ == "__main__":
    main()
