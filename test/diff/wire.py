#!/usr/bin/env python3
"""Packet injection and observation for the differential suite (test/diff/wire.ts).

One long-lived process serves every side of a comparison (the kernel's iptables, rejectc at
TC, rejectc at XDP). It enters each side's namespaces with setns(2) only to open its sockets
(a socket stays in the namespace it was created in), so one line of input drives all sides:

  client   AF_PACKET socket on the client's veth: injects frames byte for byte and captures
           everything the server sends back
  server   NFLOG netlink socket (group NFLOG_GROUP): the iptables `security` table of the
           server logs every packet that reached INPUT or FORWARD *after* the filter table
           (priority 50 > 0), so an accepted packet is seen, a dropped one is not
  far      AF_PACKET socket on the third namespace's veth: frames the server forwarded; it
           also injects the far hosts' side of a connection (`"via": "far"`)

Ordering, not timeouts, bounds each observation: after the test frame (from either end), the
client sends an ARP request for the server's address (ARP passes iptables and rejectc alike). The process is
pinned to one CPU, so the frame, everything it causes (a reply, a forward, an NFLOG message)
and the ARP request go through that CPU's backlog in order: when the ARP reply reaches the
client, every effect of the frame has been queued on the sockets.

Protocol: one JSON object per line on stdin, one JSON answer per line on stdout.
  {"op":"open","sides":[{"id","client":{"ns","ifname","mac","ip"},"server":{"ns","ip",
    "csumOff":[ifname...]},"far":{"ns","ifname"}}]}                 -> {"ok":true}
  {"op":"send","frame":HEX,"via":"client"|"far"}
                                -> {"ok":true,"sides":{id:{"client":[HEX],"nflog":[{"hook",
                                    "indev","outdev","payload"}],"far":[HEX]}}}
  {"op":"flush-conntrack"}      -> {"ok":true}: every server's connection table emptied
  errors                        -> {"ok":false,"error":TEXT}
"""
import ctypes
import fcntl
import json
import os
import select
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
NETLINK_NETFILTER = 12
NFLOG_GROUP = 7
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
BARRIER_TIMEOUT_S = 3.0

libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    """Moves this thread into network namespace `ns` (a name under /var/run/netns)."""
    fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns}): {os.strerror(err)}")
    finally:
        os.close(fd)


def tx_checksum_off(ifname):
    """`ethtool -K IF tx off` through the legacy ioctl (ethtool is not installed everywhere)."""
    value = ctypes.create_string_buffer(struct.pack("=II", ETHTOOL_STXCSUM, 0), 8)
    ifreq = struct.pack("16sQ16x", ifname.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def packet_socket(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((ifname, 0))
    s.setblocking(False)
    return s


def nfattr(kind, data):
    body = struct.pack("=HH", 4 + len(data), kind) + data
    return body + b"\0" * (-len(body) % 4)


def nflog_socket():
    """Binds NFLOG group NFLOG_GROUP, whole packets, one netlink message per packet."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((0, 0))
    msg_type = (4 << 8) | 1  # NFNL_SUBSYS_ULOG, NFULNL_MSG_CONFIG
    nfgen = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(NFLOG_GROUP))
    for seq, attrs in enumerate(
        [
            nfattr(1, struct.pack("=B", 1)),  # NFULA_CFG_CMD: BIND
            nfattr(2, struct.pack(">IB", 0xFFFF, 2) + b"\0")  # NFULA_CFG_MODE: COPY_PACKET
            + nfattr(5, struct.pack(">I", 1)),  # NFULA_CFG_QTHRESH: flush every packet
        ],
        start=1,
    ):
        body = nfgen + attrs
        s.send(struct.pack("=IHHII", 16 + len(body), msg_type, 0x1 | 0x4, seq, 0) + body)  # REQUEST|ACK
        ack = s.recv(65536)
        _, kind, _, _, _ = struct.unpack_from("=IHHII", ack)
        err = struct.unpack_from("=i", ack, 16)[0] if kind == 2 else 0
        if err != 0:
            raise OSError(-err, f"NFLOG config step {seq}: {os.strerror(-err)}")
    s.setblocking(False)
    return s


def ctnetlink_socket():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.bind((0, 0))
    return s


def flush_conntrack(s):
    """IPCTNL_MSG_CT_DELETE without a tuple: ctnetlink flushes the table (all families)."""
    msg_type = (1 << 8) | 2  # NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)
    s.send(struct.pack("=IHHII", 16 + len(body), msg_type, 0x1 | 0x4, 1, 0) + body)
    ack = s.recv(65536)
    _, kind, _, _, _ = struct.unpack_from("=IHHII", ack)
    err = struct.unpack_from("=i", ack, 16)[0] if kind == 2 else 0
    if err not in (0, -2):  # ENOENT: nothing tracked yet
        raise OSError(-err, f"conntrack flush: {os.strerror(-err)}")


def parse_nflog(data):
    """NFULNL_MSG_PACKET messages of one netlink read -> [{hook, indev, outdev, payload}]."""
    out = []
    at = 0
    while at + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, at)
        if length < 16:
            break
        if kind == (4 << 8) | 0:
            event = {"hook": -1, "indev": 0, "outdev": 0, "payload": ""}
            a = at + 20
            end = at + length
            while a + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                value = data[a + 4 : a + alen]
                atype &= 0x7FFF
                if atype == 1:  # NFULA_PACKET_HDR: hw_protocol(2) hook(1)
                    event["hook"] = value[2]
                elif atype == 4:
                    event["indev"] = struct.unpack(">I", value)[0]
                elif atype == 5:
                    event["outdev"] = struct.unpack(">I", value)[0]
                elif atype == 9:
                    event["payload"] = value.hex()
                a += (alen + 3) & ~3
            out.append(event)
        at += (length + 3) & ~3
    return out


def drain(sock):
    while True:
        try:
            sock.recv(65536)
        except BlockingIOError:
            return


def read_all(sock):
    out = []
    while True:
        try:
            data, addr = sock.recvfrom(65536)
        except BlockingIOError:
            return out
        if addr[2] != socket.PACKET_OUTGOING:
            out.append(data)


def mac_bytes(text):
    return bytes(int(p, 16) for p in text.split(":"))


class Side:
    def __init__(self, spec):
        self.id = spec["id"]
        client, server, far = spec["client"], spec["server"], spec["far"]
        enter(server["ns"])
        for ifname in server.get("csumOff", []):
            tx_checksum_off(ifname)
        self.nflog = nflog_socket()
        self.ctnl = ctnetlink_socket()
        enter(far["ns"])
        self.far = packet_socket(far["ifname"])
        enter(client["ns"])
        self.client = packet_socket(client["ifname"])
        mac = mac_bytes(client["mac"])
        self.server_ip = socket.inet_aton(server["ip"])
        arp = struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + mac + socket.inet_aton(client["ip"]) + b"\0" * 6 + self.server_ip
        self.barrier = b"\xff" * 6 + mac + b"\x08\x06" + arp

    def is_barrier_reply(self, frame):
        return len(frame) >= 42 and frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x02" and frame[28:32] == self.server_ip

    def drain(self):
        for s in (self.client, self.nflog, self.far):
            drain(s)


def send(sides, frame, via):
    for side in sides:
        side.drain()
    for side in sides:
        (side.far if via == "far" else side.client).send(frame)
    for side in sides:
        side.client.send(side.barrier)
    got = {side.id: [] for side in sides}
    waiting = {side.id: side for side in sides}
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no ARP reply (barrier) from the server of {', '.join(waiting)}")
        ready, _, _ = select.select([s.client for s in waiting.values()], [], [], left)
        for sock in ready:
            side = next(s for s in waiting.values() if s.client is sock)
            for data in read_all(sock):
                if side.is_barrier_reply(data):
                    waiting.pop(side.id, None)
                elif side.id in waiting:
                    got[side.id].append(data.hex())
    result = {}
    for side in sides:
        events = []
        while True:
            try:
                events += parse_nflog(side.nflog.recv(1 << 17))
            except BlockingIOError:
                break
        far = [d.hex() for d in read_all(side.far)]
        result[side.id] = {"client": got[side.id], "nflog": events, "far": far}
    return result


def main():
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sides = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            if req["op"] == "open":
                sides = [Side(spec) for spec in req["sides"]]
                answer = {"ok": True}
            elif req["op"] == "flush-conntrack":
                for side in sides:
                    flush_conntrack(side.ctnl)
                answer = {"ok": True}
            elif req["op"] == "send":
                answer = {"ok": True, "sides": send(sides, bytes.fromhex(req["frame"]), req.get("via", "client"))}
            else:
                answer = {"ok": False, "error": f"unknown op {req['op']}"}
        except Exception as err:  # reported to the caller, who decides
            answer = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
