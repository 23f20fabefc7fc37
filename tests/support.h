/* support.h: helpers shared by the tests: run commands, temp files, ports. */
#ifndef HANDOFF_TEST_SUPPORT_H
#define HANDOFF_TEST_SUPPORT_H

#include <stddef.h>
#include <sys/types.h>

/* What a finished command printed and how it ended. */
struct run_result {
	int	 exit_code;	/* exit status, or 128 + signal */
	char	*out;		/* everything written to stdout */
	char	*err;		/* everything written to stderr */
};

int	 support_run(const char *const argv[], struct run_result *res);
void	 support_result_free(struct run_result *res);
const char *support_env(const char *name);
char	*support_tmpdir(void);
void	 support_rmtree(const char *path);
char	*support_write_file(const char *dir, const char *name,
	    const char *content);
int	 support_free_port(void);
int	 support_count_lines(const char *text, const char *needle);

#endif
