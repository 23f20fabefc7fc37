/*
 * cbpf.h: the classic BPF program that steers a SO_REUSEPORT group's new
 * connections (and datagrams) to the sockets whose workers serve.
 */
#ifndef HANDOFF_CBPF_H
#define HANDOFF_CBPF_H

#include <stddef.h>

struct sock_filter;

/*
 * Most group indexes one program can pick from: two instructions each,
 * under the kernel's limit of 4096 (BPF_MAXINSNS).
 */
#define CBPF_MAX_TABLE		2000
#define CBPF_MAX_INSNS		(13 + 2 * CBPF_MAX_TABLE)

/* What the program returns when no socket serves: the kernel's choice. */
#define CBPF_FALLBACK		0xffffffffu

size_t	 cbpf_steer_build(const unsigned int *table, size_t n,
	    struct sock_filter *insns, size_t max);
int	 cbpf_steer_attach(int fd, const unsigned int *table, size_t n);

#endif
