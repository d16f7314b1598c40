"""The columns of the client matrix and the cells a client cannot do, with the reason.

A cell is (client, column). Tests mark themselves @pytest.mark.cell(client, column); run.py
prints every client x column, "not supported" from NOT_SUPPORTED, and fails on a test-less
cell that is not listed here (so a cell cannot vanish silently). Where a claim can be shown,
a test marked @pytest.mark.unsupported(client, column) shows it (test_unsupported.py) and the
table says "checked".

The COMPAT table (issue 13: what socks5d speaks besides plain RFC 1928/1929) works the same
way, with COMPAT_COLUMNS and COMPAT_CLIENTS: a test marks itself
@pytest.mark.cell(client, column) with a COMPAT column, NOT_SUPPORTED may hold its cells too,
and a cell with neither a test nor a reason is printed "n/a" (the client does not have that
feature: not a failure). run.py prints it after the main table."""

V4 = "CONNECT IPv4"
V6 = "CONNECT IPv6"
NAME = "CONNECT name"
PROXY6 = "proxy via IPv6"
AUTH = "user/pass"
BIND = "BIND"
UDP = "UDP ASSOCIATE"

COLUMNS = [V4, V6, NAME, PROXY6, AUTH, BIND, UDP]
CLIENTS = ["curl", "ncat", "netcat-openbsd", "proxychains4", "PySocks", "npm socks",
           "socksify", "Chromium"]

_TCP_ONLY = "the client implements only CONNECT (no {} in its SOCKS5 code)"

NOT_SUPPORTED = {
    ("curl", BIND): _TCP_ONLY.format("BIND"),
    ("curl", UDP): _TCP_ONLY.format("UDP ASSOCIATE"),
    ("ncat", BIND): _TCP_ONLY.format("BIND"),
    ("ncat", UDP): "ncat --udp --proxy silently relays over a TCP CONNECT instead "
                   "(the access log shows CONNECT, the UDP echo gets nothing)",
    ("netcat-openbsd", AUTH): "nc -X 5 offers only no-auth (-P is for HTTP CONNECT); a "
                              "users-file proxy answers 05 FF",
    ("netcat-openbsd", BIND): _TCP_ONLY.format("BIND"),
    ("netcat-openbsd", UDP): "nc -u -X 5 exits with `no proxy support for UDP mode`",
    ("proxychains4", BIND): "proxychains-ng hooks connect() only; listen()/accept() stay local",
    ("proxychains4", UDP): "proxychains-ng proxies TCP only: a UDP DNS query under it goes "
                           "direct (and is blocked here), no UDP ASSOCIATE",
    ("PySocks", BIND): "PySocks' socksocket.bind() is UDP ASSOCIATE only; it has no SOCKS BIND",
    ("socksify", PROXY6): "Dante 1.4.2's client refuses an IPv6 gateway address in a route "
                          "(`gateway must be an IP-address or qualified domainname`)",
    ("Chromium", AUTH): "Chromium has no SOCKS5 username/password support",
    ("Chromium", BIND): "a browser never asks for BIND",
    ("Chromium", UDP): "Chromium does not proxy UDP (QUIC is disabled over SOCKS)",
}

# The compatibility table (issue 13): clients that speak something besides plain RFC 1928, and
# what socks5d does for them. A cell with no test is "n/a" (not applicable), not a failure.
S4_CONNECT = "SOCKS4 CONNECT"
S4_BIND = "SOCKS4 BIND"
S4A_CONNECT = "SOCKS4a CONNECT"
COMPAT_RESOLVE = RESOLVE = "RESOLVE (F0)"
COMPAT_RESOLVE_PTR = RESOLVE_PTR = "RESOLVE_PTR (F1)"
COMPAT_ANY_CREDENTIALS = AUTH_NO_USERS = "user/pass, no users file"
COMPAT_UDP_HINT = UDP_HINT = "UDP, DST hint"
COMPAT_NOT_SOCKS = NOT_SOCKS = "not SOCKS (HTTP)"
COMPAT_COLUMNS = [S4_CONNECT, S4_BIND, S4A_CONNECT, RESOLVE, RESOLVE_PTR, AUTH_NO_USERS, UDP_HINT,
                  NOT_SOCKS]
COMPAT_CLIENTS = ["curl", "socat", "privoxy", "Firefox ESR", "IO::Socket::Socks", "torsocks",
                  "tor-resolve", "v2ray", "wget2"]

NOT_SUPPORTED.update({
    ("curl", S4_BIND): "curl's SOCKS4 code has only CONNECT",
    ("socat", S4_BIND): "socat's SOCKS4/SOCKS4A addresses only CONNECT",
    ("privoxy", S4_BIND): "privoxy forwards HTTP requests: CONNECT only",
    ("Firefox ESR", S4_BIND): "a browser never asks for BIND",
})
