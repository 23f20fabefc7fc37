/* ctl.h: the client side of the control socket: reload, status, stop. */
#ifndef HANDOFF_CTL_H
#define HANDOFF_CTL_H

int	ctl_reload_main(int argc, char **argv);
int	ctl_status_main(int argc, char **argv);
int	ctl_stop_main(int argc, char **argv);

#endif
