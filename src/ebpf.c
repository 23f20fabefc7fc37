/*
 * ebpf.c: the SK_REUSEPORT program of a reuseport group (see ebpf.h).
 *
 * Two maps per group: "table", an array whose entry 0 is how many slots
 * serve and entries 1..n their slot numbers; "socks", a sockarray from
 * slot number to the slot's socket. The program, for a new connection or
 * datagram, and for a connection migrating off a closing socket:
 *
 *	n = table[0]; if n == 0: let the kernel choose
 *	i = 1 + ((hash * 0x9E3779B1) >> 16) % n
 *	select socks[table[i]]		(if that fails, the kernel chooses)
 *
 * Written as raw instructions: no libbpf, no compiler for BPF.
 */
#include "autoconf.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cause.h"
#include "ebpf.h"

#ifndef SO_ATTACH_REUSEPORT_EBPF
#define SO_ATTACH_REUSEPORT_EBPF	52
#endif

struct ebpf_steer {
	int		 table_fd;
	int		 socks_fd;
	int		 prog_fd;
	size_t		 max_slots;
};

#define INSN(c, d, s, o, i)	((struct bpf_insn){ .code = (c), \
				    .dst_reg = (d), .src_reg = (s), \
				    .off = (o), .imm = (i) })
#define MOV64_REG(d, s)		INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i)		INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADD64_IMM(d, i)		INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define ALU32_IMM(op, d, i)	INSN(BPF_ALU | (op) | BPF_K, d, 0, 0, i)
#define ALU32_REG(op, d, s)	INSN(BPF_ALU | (op) | BPF_X, d, s, 0, 0)
#define LDX_W(d, s, o)		INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define STX_W(d, s, o)		INSN(BPF_STX | BPF_MEM | BPF_W, d, s, o, 0)
#define ST_W(d, o, i)		INSN(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define JEQ_IMM(d, i, o)	INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define CALL(f)			INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT()			INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP_FD(d, fd)	INSN(BPF_LD | BPF_DW | BPF_IMM, d, \
				    BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

/* Where the program's jumps to "let the kernel choose" land. */
#define EBPF_PASS_AT		31

/* bpf(2). */
static long
ebpf_sys(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* Create a map; its fd, or -1 with errno. */
static int
ebpf_map_new(enum bpf_map_type type, unsigned int value_size,
    unsigned int entries)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = sizeof(uint32_t);
	a.value_size = value_size;
	a.max_entries = entries;
	return (int)ebpf_sys(BPF_MAP_CREATE, &a);
}

/* Set map[key] = value (value_size bytes at value). 0, or -1 with errno. */
static int
ebpf_map_set(int map, uint32_t key, const void *value)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)map;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)value;
	a.flags = BPF_ANY;
	return (int)ebpf_sys(BPF_MAP_UPDATE_ELEM, &a);
}

/* Load the program on the maps of es; -1 with errno and *cause if not. */
static int
ebpf_load(struct ebpf_steer *es, char **cause)
{
	const struct bpf_insn insns[] = {
		MOV64_REG(BPF_REG_6, BPF_REG_1),		/* 0: ctx */
		ST_W(BPF_REG_10, -4, 0),
		LD_MAP_FD(BPF_REG_1, es->table_fd),
		MOV64_REG(BPF_REG_2, BPF_REG_10),
		ADD64_IMM(BPF_REG_2, -4),
		CALL(BPF_FUNC_map_lookup_elem),			/* 6: &table[0] */
		JEQ_IMM(BPF_REG_0, 0, EBPF_PASS_AT - 8),
		LDX_W(BPF_REG_7, BPF_REG_0, 0),			/* 8: n */
		JEQ_IMM(BPF_REG_7, 0, EBPF_PASS_AT - 10),
		LDX_W(BPF_REG_8, BPF_REG_6, offsetof(struct sk_reuseport_md,
		    hash)),
		ALU32_IMM(BPF_MUL, BPF_REG_8, (int32_t)0x9E3779B1),
		ALU32_IMM(BPF_RSH, BPF_REG_8, 16),
		ALU32_REG(BPF_MOD, BPF_REG_8, BPF_REG_7),
		ALU32_IMM(BPF_ADD, BPF_REG_8, 1),
		STX_W(BPF_REG_10, BPF_REG_8, -8),		/* 15: i */
		LD_MAP_FD(BPF_REG_1, es->table_fd),
		MOV64_REG(BPF_REG_2, BPF_REG_10),
		ADD64_IMM(BPF_REG_2, -8),
		CALL(BPF_FUNC_map_lookup_elem),			/* 20: &table[i] */
		JEQ_IMM(BPF_REG_0, 0, EBPF_PASS_AT - 22),
		LDX_W(BPF_REG_9, BPF_REG_0, 0),			/* 22: slot */
		STX_W(BPF_REG_10, BPF_REG_9, -12),
		MOV64_REG(BPF_REG_1, BPF_REG_6),
		LD_MAP_FD(BPF_REG_2, es->socks_fd),
		MOV64_REG(BPF_REG_3, BPF_REG_10),
		ADD64_IMM(BPF_REG_3, -12),
		MOV64_IMM(BPF_REG_4, 0),
		CALL(BPF_FUNC_sk_select_reuseport),		/* 30 */
		MOV64_IMM(BPF_REG_0, SK_PASS),			/* 31: pass */
		EXIT(),
	};
	char log[4096];
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	log[0] = '\0';
	a.prog_type = BPF_PROG_TYPE_SK_REUSEPORT;
	a.expected_attach_type = BPF_SK_REUSEPORT_SELECT_OR_MIGRATE;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (uint64_t)(uintptr_t)"GPL";
	a.log_buf = (uint64_t)(uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	if ((es->prog_fd = (int)ebpf_sys(BPF_PROG_LOAD, &a)) == -1) {
		int saved = errno;
		cause_set(cause, "cannot load an SK_REUSEPORT program: %s%s%.80s",
		    strerror(saved), log[0] ? ": " : "", log);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * A program and its maps for a group of up to max_slots slots, serving
 * none yet; NULL with errno and *cause if the kernel refuses (no CAP_BPF,
 * or a kernel before 5.14).
 */
struct ebpf_steer *
ebpf_steer_new(size_t max_slots, char **cause)
{
	struct ebpf_steer *es;
	uint32_t zero = 0;
	int saved;

	if ((es = calloc(1, sizeof(*es))) == NULL) {
		*cause = NULL;
		return NULL;
	}
	es->table_fd = es->socks_fd = es->prog_fd = -1;
	es->max_slots = max_slots;
	es->table_fd = ebpf_map_new(BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
	    (unsigned int)max_slots + 1);
	if (es->table_fd == -1 || (es->socks_fd = ebpf_map_new(
	    BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, sizeof(uint64_t),
	    (unsigned int)max_slots)) == -1) {
		saved = errno;
		cause_set(cause, "cannot create a BPF map: %s",
		    strerror(saved));
		goto fail;
	}
	if (ebpf_map_set(es->table_fd, 0, &zero) == -1) {
		saved = errno;
		cause_set(cause, "cannot set a BPF map: %s", strerror(saved));
		goto fail;
	}
	if (ebpf_load(es, cause) == -1) {
		saved = errno;
		goto fail;
	}
	return es;

fail:
	ebpf_steer_free(es);
	errno = saved;
	return NULL;
}

/* Free a program and its maps (a group it is attached to keeps it). */
void
ebpf_steer_free(struct ebpf_steer *es)
{
	if (es == NULL)
		return;
	if (es->prog_fd != -1)
		close(es->prog_fd);
	if (es->socks_fd != -1)
		close(es->socks_fd);
	if (es->table_fd != -1)
		close(es->table_fd);
	free(es);
}

/*
 * Tell whether this process may load the program: 0, or -1 with errno
 * and *cause.
 */
int
ebpf_probe(char **cause)
{
	struct ebpf_steer *es;

	if ((es = ebpf_steer_new(1, cause)) == NULL)
		return -1;
	ebpf_steer_free(es);
	return 0;
}

/* Attach the program to the group of fd (a socket in it). 0, or -1. */
int
ebpf_steer_attach(struct ebpf_steer *es, int fd)
{
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF,
	    &es->prog_fd, sizeof(es->prog_fd));
}

/*
 * Name fd, a socket in the group (listening, or bound for UDP), as
 * slot's. The kernel forgets it when it leaves the group. 0, or -1.
 */
int
ebpf_steer_socket(struct ebpf_steer *es, unsigned int slot, int fd)
{
	uint64_t value = (uint64_t)fd;

	if (slot >= es->max_slots) {
		errno = EINVAL;
		return -1;
	}
	return ebpf_map_set(es->socks_fd, slot, &value);
}

/* Serve slots[0..n) from now on (n == 0: let the kernel choose). */
int
ebpf_steer_table(struct ebpf_steer *es, const unsigned int *slots, size_t n)
{
	uint32_t count = (uint32_t)n;
	size_t i;

	if (n > es->max_slots) {
		errno = EINVAL;
		return -1;
	}
	/* The entries first, then the count that makes them visible. */
	for (i = 0; i < n; i++)
		if (ebpf_map_set(es->table_fd, (uint32_t)(i + 1), &slots[i]) == -1)
			return -1;
	return ebpf_map_set(es->table_fd, 0, &count);
}
