/* check.h: `handoff check`, validate a config file. */
#ifndef HANDOFF_CHECK_H
#define HANDOFF_CHECK_H

int	check_main(int argc, char **argv);

#endif
