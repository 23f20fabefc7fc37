/*
 * cause.h: how a function that fails says why.
 *
 * A function that can fail takes `char **cause` as its last argument and,
 * when it returns -1 (or NULL), has set *cause to a malloc'd sentence
 * naming the problem ("listener web: 127.0.0.1:80: address already in
 * use"), which the caller frees; or to NULL when not even that could be
 * allocated, which cause_text() shows as "out of memory". Nothing is set
 * on success. Pure parsers of one value (parse.c, addr.c) say why with a
 * constant string instead (`const char **error`): they allocate nothing.
 * So do the config parser's key setters (config.c), one key's value
 * each: a constant string, or words they build in the parser's own
 * buffer, which the parser adds to its messages with the file and line.
 * A function others call outside the parser takes `char **cause`, but
 * for two that are read in a sentence of their caller's: config_open
 * (confpath.c) gives what is wrong with a file and an errno apart
 * (`const char **why, int *err`), which config_open_error joins; and
 * shim_inspect (shim.c) writes its reason into the caller's buffer with
 * its verdict, also when it lets a command through.
 */
#ifndef HANDOFF_CAUSE_H
#define HANDOFF_CAUSE_H

void		 cause_set(char **cause, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
const char	*cause_text(const char *cause);

#endif
