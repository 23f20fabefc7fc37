/* run.h: `handoff run`, from a config file or from the command line. */
#ifndef HANDOFF_RUN_H
#define HANDOFF_RUN_H

int	run_main(int argc, char **argv);

#endif
