/*
 * upgrade.h: replacing the supervisor's binary in place (`handoff
 * upgrade`, SIGUSR2): the state written, the new binary's pre-flight, the
 * exec, and the new image's restore (or the exec back to the old one).
 */
#ifndef HANDOFF_UPGRADE_H
#define HANDOFF_UPGRADE_H

struct config;
struct supervisor_upgrade;

int		 upgrade_args(int *argcp, char ***argvp);
const struct supervisor_upgrade *upgrade_hooks(void);
struct config	*upgrade_config(const char *path);
int		 upgrade_check_main(int argc, char **argv);

#endif
