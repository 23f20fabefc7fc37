/*
 * selfcheck.h: `handoff check --bind` for the listeners of self-mode
 * programs, which the supervisor never binds: who listens on their
 * addresses already. Functions are selfcheck_*.
 */
#ifndef HANDOFF_SELFCHECK_H
#define HANDOFF_SELFCHECK_H

struct config;
struct config_msgs;

int	 selfcheck_probe_config(const struct config *conf,
	    struct config_msgs *msgs);

#endif
