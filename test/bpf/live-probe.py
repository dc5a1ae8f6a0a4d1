#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Link-level helpers for test/bpf-reply-live.test.ts, run inside a network namespace.
Each prints exactly one JSON object on stdout.

  live-probe.py txcsum IFNAME on|off
      Turns the device's TX checksum offload on/off (ETHTOOL_STXCSUM ioctl; no ethtool
      binary needed). Off makes the kernel complete CHECKSUM_PARTIAL checksums in software
      when a packet leaves through the device. {"ok": true}

  live-probe.py raw IFNAME FRAME_HEX WAIT_MS [LINEAR]
      Sends the Ethernet frame through an AF_PACKET socket on IFNAME. With LINEAR (bytes),
      the socket uses PACKET_VNET_HDR with hdr_len = LINEAR, so the kernel puts only that
      many bytes in the skb's linear area and the rest in page fragments: the receiver sees
      a non-linear skb, as from NICs and AF_PACKET generators. Then waits up to WAIT_MS for
      the first IPv4/IPv6 frame arriving on IFNAME from another MAC.
      {"reply": HEX|null}

  live-probe.py connect HOST PORT OPTS_HEX TIMEOUT_S
      A TCP connect() from a socket whose packets carry the given IP options (IPv4:
      IP_OPTIONS) or hop-by-hop header (IPv6: IPV6_HOPOPTS). Such a local SYN leaves
      CHECKSUM_PARTIAL with its transport header behind the options.
      {"result": "connected"|"refused"|"timeout"}
"""

import ctypes
import fcntl
import json
import select
import socket
import struct
import sys
import time

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_OUTGOING = 4
ETH_P_ALL = 0x0003


def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def txcsum(ifname, on):
    value = ctypes.create_string_buffer(struct.pack('II', ETHTOOL_STXCSUM, 1 if on else 0), 8)
    ifr = struct.pack('16sP', ifname.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)
    out({'ok': True})


def raw(ifname, frame_hex, wait_ms, linear):
    frame = bytes.fromhex(frame_hex)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    vnet = linear is not None
    if vnet:
        s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((ifname, 0))
    own_mac = s.getsockname()[4]
    if vnet:
        # struct virtio_net_hdr: flags, gso_type (NONE), hdr_len, gso_size, csum_start, csum_offset
        header = struct.pack('<BBHHHH', 0, 0, linear, 0, 0, 0)
        s.send(header + frame)
    else:
        s.send(frame)
    deadline = time.monotonic() + wait_ms / 1000.0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            out({'reply': None})
            return
        ready, _, _ = select.select([s], [], [], left)
        if not ready:
            continue
        data, addr = s.recvfrom(65536)
        if vnet:
            data = data[10:]
        if addr[2] == PACKET_OUTGOING or len(data) < 14 or data[6:12] == own_mac:
            continue
        if data[12:14] in (b'\x08\x00', b'\x86\xdd'):
            out({'reply': data.hex()})
            return


def connect(host, port, opts_hex, timeout):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    opts = bytes.fromhex(opts_hex)
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opts)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, 54, opts)  # IPV6_HOPOPTS
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        result = 'connected'
    except ConnectionRefusedError:
        result = 'refused'
    except socket.timeout:
        result = 'timeout'
    finally:
        s.close()
    out({'result': result})


def main(argv):
    if len(argv) >= 3 and argv[0] == 'txcsum':
        txcsum(argv[1], argv[2] == 'on')
    elif len(argv) >= 5 and argv[0] == 'connect':
        connect(argv[1], int(argv[2]), argv[3], float(argv[4]))
    elif len(argv) >= 4 and argv[0] == 'raw':
        raw(argv[1], argv[2], int(argv[3]), int(argv[4]) if len(argv) > 4 else None)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == '__main__':
    main(sys.argv[1:])
