/*
 * ebpf.h: steering and migration for a reuseport group by an eBPF
 * program of type SK_REUSEPORT (SELECT_OR_MIGRATE), loaded with raw
 * bpf(2) calls. It picks among the serving slots by slot number (a
 * REUSEPORT_SOCKARRAY keyed by slot), so the group's order does not
 * matter, and it moves a closing socket's queued connections to a
 * serving slot even where net.ipv4.tcp_migrate_req is off. Loading it
 * needs CAP_BPF (root has it); classic BPF (cbpf.c) needs nothing.
 */
#ifndef HANDOFF_EBPF_H
#define HANDOFF_EBPF_H

#include <stdbool.h>
#include <stddef.h>

struct ebpf_steer;

int	 ebpf_probe(char **cause);
struct ebpf_steer *ebpf_steer_new(size_t max_slots, char **cause);
void	 ebpf_steer_free(struct ebpf_steer *es);
int	 ebpf_steer_attach(struct ebpf_steer *es, int fd);
int	 ebpf_steer_socket(struct ebpf_steer *es, unsigned int slot, int fd);
int	 ebpf_steer_table(struct ebpf_steer *es, const unsigned int *slots,
	    size_t n);

#endif
