/* parse.h: parsers for the value types of the configuration and command line. */
#ifndef HANDOFF_PARSE_H
#define HANDOFF_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Every parser returns 0 and stores the value, or returns -1 and sets *error
 * to a static string saying what is wrong with the text (never NULL).
 */
int	parse_duration_ms(const char *text, uint64_t *ms, const char **error);
int	parse_signal(const char *text, int *signo, const char **error);
int	parse_bool(const char *text, bool *value, const char **error);
int	parse_int_range(const char *text, long min, long max, long *value,
	    const char **error);
int	parse_mode(const char *text, mode_t *mode, const char **error);

const char *signal_name(int signo);
void	format_duration(uint64_t ms, char *buf, size_t len);

/*
 * Split a command line into words, shell-like but without a shell: words are
 * separated by blanks, '...' and "..." quote, backslash escapes the next
 * character. Returns a NULL-terminated array the caller frees with
 * argv_free, or NULL with *error set.
 */
char	**argv_split(const char *text, const char **error);
char	 *argv_mark_quoted(char *text, char c, char mark, char *quote);
void	argv_free(char **argv);
size_t	argv_count(char *const *argv);

struct timespec;
struct timeval;

uint64_t	 elapsed_ms(const struct timespec *since);
uint64_t	 elapsed_us(const struct timespec *since);
uint64_t	 timespec_diff_us(const struct timespec *from,
		    const struct timespec *to);
void		 timespec_add_ms(struct timespec *ts, uint64_t ms);
uint64_t	 ms_until(const struct timespec *at);
struct timeval	 timeval_ms(uint64_t ms);

#endif
