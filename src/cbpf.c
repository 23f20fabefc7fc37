/*
 * cbpf.c: build and attach the steering program of a reuseport group.
 *
 * The kernel runs the program on each new connection (TCP SYN) or
 * datagram (UDP) for the group, and its return value is the index of the
 * socket to use in the group's array; an index past the end means "your
 * own choice" (the kernel's hash). Offset 0 is the payload, empty on a
 * SYN: the program reads the flow hash the stack computed, or, if there
 * is none, the ports from the transport header (SKF_NET_OFF).
 *
 *	A = rxhash; if A == 0: A = the 4 bytes of ports
 *	A *= 0x9E3779B1; A >>= 16	(Fibonacci hashing: spread the bits)
 *	A %= n
 *	return table[A]			(or A itself, when table[j] == j)
 */
#include "autoconf.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cbpf.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF	51
#endif

#define IPV6_HEADER_LEN		40

/* Tell whether table[j] == j for every j: the program returns A. */
static bool
cbpf_table_is_identity(const unsigned int *table, size_t n)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (table[j] != j)
			return false;
	return true;
}

/*
 * Write the program picking among the group indexes table[0..n) to
 * insns (max instructions); returns how many it has, or 0 if max is too
 * small or n too large. n == 0 gives the kernel's own choice.
 */
size_t
cbpf_steer_build(const unsigned int *table, size_t n, struct sock_filter *insns,
    size_t max)
{
	struct sock_filter *p = insns;
	size_t j, need;

	need = n == 0 ? 1 : cbpf_table_is_identity(table, n) ? 13 : 13 + 2 * n;
	if (n > CBPF_MAX_TABLE || need > max)
		return 0;
	if (n == 0) {
		*p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    CBPF_FALLBACK);
		return (size_t)(p - insns);
	}
	/* 0: the flow hash; nonzero goes straight to the mixing (at 9). */
	*p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    SKF_AD_OFF + SKF_AD_RXHASH);
	*p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 7);
	/* 2: no hash: the ports, after an IPv4 header of any length... */
	*p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS,
	    (unsigned int)SKF_NET_OFF);
	*p++ = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4);
	*p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 3, 0);
	*p++ = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH,
	    (unsigned int)SKF_NET_OFF);
	*p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_IND,
	    (unsigned int)SKF_NET_OFF);
	*p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0);
	/* ...or after the fixed IPv6 header (at 8; the mixing is at 9). */
	*p++ = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    (unsigned int)SKF_NET_OFF + IPV6_HEADER_LEN);
	*p++ = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MUL | BPF_K,
	    0x9E3779B1u);
	*p++ = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16);
	*p++ = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K,
	    (unsigned int)n);
	if (cbpf_table_is_identity(table, n)) {
		*p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
		return (size_t)(p - insns);
	}
	/* A chain of "A == j? return table[j]", short jumps only. */
	for (j = 0; j < n; j++) {
		*p++ = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (unsigned int)j, 0, 1);
		*p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, table[j]);
	}
	*p++ = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, CBPF_FALLBACK);
	return (size_t)(p - insns);
}

/*
 * Attach the steering program for table[0..n) to the reuseport group of
 * fd (a socket in it: listening, or bound for UDP); it replaces the
 * group's program. 0, or -1 with errno.
 */
int
cbpf_steer_attach(int fd, const unsigned int *table, size_t n)
{
	struct sock_filter *insns;
	struct sock_fprog prog;
	size_t count;
	int rc, saved;

	if ((insns = calloc(CBPF_MAX_INSNS, sizeof(*insns))) == NULL)
		return -1;
	if ((count = cbpf_steer_build(table, n, insns, CBPF_MAX_INSNS)) == 0) {
		free(insns);
		errno = E2BIG;
		return -1;
	}
	memset(&prog, 0, sizeof(prog));
	prog.len = (unsigned short)count;
	prog.filter = insns;
	rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog));
	saved = errno;
	free(insns);
	errno = saved;
	return rc;
}
