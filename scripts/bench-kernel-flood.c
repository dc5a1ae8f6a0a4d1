/*
 * bench-kernel-flood: the traffic generator of scripts/bench-kernel.ts (compiled with clang at
 * bench time; not part of rejectc).
 *
 * Floods TCP SYNs (or UDP datagrams) from an AF_PACKET socket bound to one interface, cycling
 * through 4096 prebuilt frames that differ in source port, sequence number and IP id, and whose
 * source address cycles through NSRC consecutive addresses from SRC_IP, so the receiving stack
 * sees 4096 distinct flows (and a reply budget NSRC sources) and cannot short-circuit on one. Frames go out with
 * PACKET_QDISC_BYPASS, in sendmmsg() batches of 64.
 *
 * It counts replies as the interface's rx_packets (sysfs) read at the end of a warm-up and at
 * the end of the measuring window, timed with CLOCK_MONOTONIC, so the count is not blurred by
 * process start-up or by the caller's latency. After the window it stops sending, waits 100 ms
 * for replies in flight, and reads rx_packets once more: rxRun, everything received from the
 * start to then, is what the caller compares with its per-kind counter of replies.
 *
 * Usage: bench-kernel-flood IFNAME SRC_MAC DST_MAC SRC_IP NSRC DST_IP tcp|udp DPORT WARMUP_MS WINDOW_MS
 * Prints one JSON object on stdout:
 *   {"sent":N,"sentWindow":N,"rxWindow":N,"windowNs":N,"rxRun":N,"sendErrors":N}
 * Exit 1 on bad arguments, 2 when the socket cannot be opened or bound.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NFRAMES 4096
#define BATCH 64
#define FRAME_MAX 64

static uint8_t frames[NFRAMES][FRAME_MAX];
static size_t frame_len;

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

/* Frame i: Ethernet + IPv4 (no options) + a TCP SYN (no options) or a UDP header. */
static void build_frame(uint8_t *f, int i, const uint8_t src_mac[6], const uint8_t dst_mac[6],
			struct in_addr src, struct in_addr dst, int tcp, uint16_t dport)
{
	size_t l4_len = tcp ? 20 : 8;
	uint8_t *ip = f + 14, *l4 = ip + 20;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	put16(f + 12, ETH_P_IP);

	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	put16(ip + 4, (uint16_t)i);
	ip[8] = 64;
	ip[9] = tcp ? IPPROTO_TCP : IPPROTO_UDP;
	memcpy(ip + 12, &src, 4); /* network order */
	memcpy(ip + 16, &dst, 4);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));

	put16(l4, (uint16_t)(10000 + i)); /* source port: one flow per frame */
	put16(l4 + 2, dport);
	if (tcp) {
		put32(l4 + 4, 1000u + (uint32_t)i * 7919u);
		l4[12] = 0x50; /* data offset 5 */
		l4[13] = 0x02; /* SYN */
		put16(l4 + 14, 64240);
	} else {
		put16(l4 + 4, (uint16_t)l4_len);
	}
	/* Pseudo-header, then the L4 header (checksum field still zero). */
	uint32_t sum = csum_add(0, ip + 12, 8) + IPPROTO_TCP * tcp + IPPROTO_UDP * !tcp + (uint32_t)l4_len;
	uint16_t c = csum_fold(csum_add(sum, l4, l4_len));
	if (!tcp && c == 0)
		c = 0xffff;
	put16(l4 + (tcp ? 16 : 6), c);
	frame_len = 14 + 20 + l4_len;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char rx_path[128];

/* The interface's rx_packets, or -1 when it cannot be read. */
static long long read_rx(void)
{
	char buf[32];
	FILE *f = fopen(rx_path, "r");
	if (!f)
		return -1;
	long long v = fgets(buf, sizeof buf, f) ? atoll(buf) : -1;
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	uint8_t src_mac[6], dst_mac[6];
	struct in_addr src, dst;

	int nsrc = argc == 11 ? atoi(argv[5]) : 0;
	if (argc != 11 || parse_mac(argv[2], src_mac) || parse_mac(argv[3], dst_mac) ||
	    inet_pton(AF_INET, argv[4], &src) != 1 || nsrc < 1 || nsrc > NFRAMES ||
	    inet_pton(AF_INET, argv[6], &dst) != 1 || (strcmp(argv[7], "tcp") && strcmp(argv[7], "udp"))) {
		fprintf(stderr, "usage: %s IFNAME SRC_MAC DST_MAC SRC_IP NSRC DST_IP tcp|udp DPORT WARMUP_MS WINDOW_MS\n", argv[0]);
		return 1;
	}
	const char *ifname = argv[1];
	int tcp = strcmp(argv[7], "tcp") == 0;
	uint16_t dport = (uint16_t)atoi(argv[8]);
	uint64_t warmup = (uint64_t)atoll(argv[9]) * 1000000ull;
	uint64_t window = (uint64_t)atoll(argv[10]) * 1000000ull;
	snprintf(rx_path, sizeof rx_path, "/sys/class/net/%s/statistics/rx_packets", ifname);

	int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only, receive nothing */
	unsigned int ifindex = if_nametoindex(ifname);
	if (fd < 0 || ifindex == 0) {
		fprintf(stderr, "bench-kernel-flood: socket/if_nametoindex(%s): %s\n", ifname, strerror(errno));
		return 2;
	}
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)ifindex, .sll_halen = 6 };
	memcpy(sll.sll_addr, dst_mac, 6);
	if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
		fprintf(stderr, "bench-kernel-flood: bind(%s): %s\n", ifname, strerror(errno));
		return 2;
	}

	for (int i = 0; i < NFRAMES; i++) {
		struct in_addr s = { .s_addr = htonl(ntohl(src.s_addr) + (uint32_t)(i % nsrc)) };
		build_frame(frames[i], i, src_mac, dst_mac, s, dst, tcp, dport);
	}

	static struct mmsghdr msgs[NFRAMES];
	static struct iovec iov[NFRAMES];
	for (int i = 0; i < NFRAMES; i++) {
		iov[i].iov_base = frames[i];
		iov[i].iov_len = frame_len;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	unsigned long long sent = 0, sent_window_start = 0, send_errors = 0;
	long long rx_window_start = 0;
	uint64_t t_window = 0;
	int next = 0, in_window = 0;
	long long rx0 = read_rx();
	uint64_t t0 = now_ns();
	for (;;) {
		uint64_t t = now_ns();
		if (!in_window && t - t0 >= warmup) {
			rx_window_start = read_rx();
			t_window = t = now_ns();
			sent_window_start = sent;
			in_window = 1;
		}
		if (in_window && t - t_window >= window)
			break;
		int n = sendmmsg(fd, &msgs[next], BATCH, 0);
		if (n > 0)
			sent += (unsigned long long)n;
		else
			send_errors++;
		next = (next + BATCH) % NFRAMES;
	}
	long long rx_window_end = read_rx();
	uint64_t window_ns = now_ns() - t_window;
	unsigned long long sent_window = sent - sent_window_start;
	usleep(100000);
	long long rx_total = read_rx();
	if (rx0 < 0 || rx_window_start < 0 || rx_window_end < 0 || rx_total < 0) {
		fprintf(stderr, "bench-kernel-flood: cannot read %s\n", rx_path);
		return 2;
	}
	printf("{\"sent\":%llu,\"sentWindow\":%llu,\"rxWindow\":%lld,\"windowNs\":%llu,\"rxRun\":%lld,\"sendErrors\":%llu}\n",
	       sent, sent_window, rx_window_end - rx_window_start, (unsigned long long)window_ns, rx_total - rx0, send_errors);
	return 0;
}
