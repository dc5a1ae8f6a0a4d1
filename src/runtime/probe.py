#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Socket-level probes for `rejectc demo` and the live tests, run inside a network namespace.

Node's net/dgram cannot read IP_RECVERR or send raw ICMP, so these small probes do it and
print exactly one JSON object on stdout:

  probe.py tcp HOST PORT [TIMEOUT]    connect(): {"result": "connected"|"refused"|"timeout"|"error", "errno": NAME|null}
  probe.py udp HOST PORT [TIMEOUT]    sendto() with IP(V6)_RECVERR, then the error queue:
                                      {"result": "error"|"timeout", "errno": NAME|null,
                                       "icmp": {"type": T, "code": C, "offender": ADDR}|null}
  probe.py ping HOST [TIMEOUT]        a raw ICMP/ICMPv6 echo request: {"result": "reply"|"error"|"timeout",
                                       "type": T, "code": C, "from": ADDR}
  probe.py serve PORT...              listens on TCP and UDP PORTs (dual stack), prints
                                      {"ready": true}, then accepts and echoes until killed
  probe.py stream HOST PORTS SECONDS RATE   sends numbered UDP datagrams (8-byte big-endian
                                      sequence) to the comma-separated PORTS in turn, for
                                      SECONDS at about RATE per second in all; prints
                                      {"sent": {PORT: count}}
  probe.py sink PORTS IDLE [MAX]      receives such datagrams on the comma-separated PORTS
                                      until IDLE seconds pass without one after the first, or
                                      MAX seconds in all (default 60); prints
                                      {"received": {PORT: [sequence numbers]}}
"""
import errno
import json
import select
import socket
import struct
import sys
import time

SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3
IP_RECVERR = 11
IPV6_RECVERR = 25
MSG_ERRQUEUE = 0x2000


def family_of(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def errno_name(code):
    return errno.errorcode.get(code, str(code)) if code else None


def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def probe_tcp(host, port, timeout):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        out({'result': 'connected', 'errno': None})
    except socket.timeout:
        out({'result': 'timeout', 'errno': None})
    except OSError as e:
        out({'result': 'refused' if e.errno == errno.ECONNREFUSED else 'error', 'errno': errno_name(e.errno)})
    finally:
        s.close()


def parse_extended_error(data, fam):
    # struct sock_extended_err { u32 ee_errno; u8 origin, type, code, pad; u32 info, data; }
    # followed by the offender's sockaddr (SO_EE_OFFENDER).
    ee_errno, origin, icmp_type, icmp_code, _pad, _info, _data = struct.unpack_from('=IBBBBII', data)
    offender = None
    rest = data[16:]
    if fam == socket.AF_INET and len(rest) >= 8:
        offender = socket.inet_ntop(socket.AF_INET, rest[4:8])
    elif fam == socket.AF_INET6 and len(rest) >= 24:
        offender = socket.inet_ntop(socket.AF_INET6, rest[8:24])
    return ee_errno, origin, icmp_type, icmp_code, offender


def probe_udp(host, port, timeout):
    fam = family_of(host)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    s.connect((host, port))
    s.send(b'rejectc probe')
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                out({'result': 'timeout', 'errno': None, 'icmp': None})
                return
            # An error queued on the socket wakes poll() with POLLERR; an answer with POLLIN.
            p = select.poll()
            p.register(s, select.POLLERR | select.POLLIN)
            events = p.poll(int(left * 1000))
            if not events:
                continue
            if not any(ev & select.POLLERR for _fd, ev in events):
                out({'result': 'answered', 'errno': None, 'icmp': None})
                return
            try:
                _msg, ancdata, _flags, _addr = s.recvmsg(512, 512, MSG_ERRQUEUE)
            except BlockingIOError:
                continue
            for level, ctype, data in ancdata:
                if ctype in (IP_RECVERR, IPV6_RECVERR):
                    ee_errno, origin, t, c, offender = parse_extended_error(data, fam)
                    icmp = {'type': t, 'code': c, 'offender': offender} if origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6) else None
                    out({'result': 'error', 'errno': errno_name(ee_errno), 'icmp': icmp})
                    return
    finally:
        s.close()


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def probe_ping(host, timeout):
    fam = family_of(host)
    ident = 0x5243
    if fam == socket.AF_INET:
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        body = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + b'rejectc ping'
        body = body[:2] + struct.pack('!H', checksum(body)) + body[4:]
    else:
        s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        body = struct.pack('!BBHHH', 128, 0, 0, ident, 1) + b'rejectc ping'  # kernel computes the checksum
    s.sendto(body, (host, 0))
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                out({'result': 'timeout', 'type': None, 'code': None, 'from': None})
                return
            r, _, _ = select.select([s], [], [], left)
            if not r:
                continue
            pkt, addr = s.recvfrom(2048)
            if fam == socket.AF_INET:
                pkt = pkt[(pkt[0] & 0x0f) * 4:]  # raw IPv4 sockets include the IP header
            t, c = pkt[0], pkt[1]
            if (fam == socket.AF_INET and t in (8,)) or (fam == socket.AF_INET6 and t in (128, 133, 134, 135, 136, 143)):
                continue  # our own request (loopback) or neighbour discovery
            result = 'reply' if t in (0, 129) else 'error'
            out({'result': result, 'type': t, 'code': c, 'from': addr[0]})
            return
    finally:
        s.close()


def serve(ports):
    socks = []
    for port in ports:
        t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        t.bind(('::', port))
        t.listen(64)
        u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        u.bind(('::', port))
        socks += [t, u]
    out({'ready': True})
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            if s.type == socket.SOCK_STREAM:
                c, _ = s.accept()
                c.close()
            else:
                data, addr = s.recvfrom(2048)
                s.sendto(data, addr)


def stream(host, ports, seconds, rate):
    # Unconnected sockets: ICMP errors the datagrams cause are not reported back to them,
    # so every datagram is really sent.
    fam = family_of(host)
    socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in ports]
    interval = 1.0 / rate
    end = time.monotonic() + seconds
    sent = {str(p): 0 for p in ports}
    seq = 0
    nxt = time.monotonic()
    while time.monotonic() < end:
        i = seq % len(ports)
        socks[i].sendto(struct.pack('!Q', seq) + b'x' * 24, (host, ports[i]))
        sent[str(ports[i])] += 1
        seq += 1
        nxt += interval
        pause = nxt - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    out({'sent': sent})


def sink(ports, idle, limit):
    socks = {}
    for port in ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        s.bind(('::', port))
        socks[s] = str(port)
    out({'ready': True})
    got = {str(p): [] for p in ports}
    start = time.monotonic()
    last = None
    while True:
        now = time.monotonic()
        if now - start > limit or (last is not None and now - last > idle):
            break
        r, _, _ = select.select(list(socks), [], [], 0.2)
        for s in r:
            data, _ = s.recvfrom(2048)
            if len(data) >= 8:
                got[socks[s]].append(struct.unpack('!Q', data[:8])[0])
                last = time.monotonic()
    out({'received': got})


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ''
    if cmd == 'tcp':
        probe_tcp(argv[2], int(argv[3]), float(argv[4]) if len(argv) > 4 else 2.0)
    elif cmd == 'udp':
        probe_udp(argv[2], int(argv[3]), float(argv[4]) if len(argv) > 4 else 2.0)
    elif cmd == 'ping':
        probe_ping(argv[2], float(argv[3]) if len(argv) > 3 else 2.0)
    elif cmd == 'serve':
        serve([int(p) for p in argv[2:]])
    elif cmd == 'stream':
        stream(argv[2], [int(p) for p in argv[3].split(',')], float(argv[4]), float(argv[5]))
    elif cmd == 'sink':
        sink([int(p) for p in argv[2].split(',')], float(argv[3]), float(argv[4]) if len(argv) > 4 else 60.0)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
