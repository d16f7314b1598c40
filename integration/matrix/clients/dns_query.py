"""A DNS query over a plain UDP socket (dnspython), for socksify's UDP ASSOCIATE cell:

  dns_query.py SERVER PORT NAME TYPE [TIMEOUT]   prints one `NAME TYPE ADDRESS` line per answer."""

import sys

import dns.message
import dns.query
import dns.rdatatype


def main():
    server, port, name, rdtype = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    query = dns.message.make_query(name, rdtype)
    response = dns.query.udp(query, server, port=port, timeout=timeout)
    for rrset in response.answer:
        for item in rrset:
            print(f"{rrset.name.to_text(omit_final_dot=True)} "
                  f"{dns.rdatatype.to_text(rrset.rdtype)} {item.to_text()}")


if __name__ == "__main__":
    main()
