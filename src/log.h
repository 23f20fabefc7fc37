/* log.h: the supervisor's log (stderr, journald-aware, or syslog). */
#ifndef HANDOFF_LOG_H
#define HANDOFF_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_target {
	LOG_TO_STDERR = 0,	/* timestamped lines, or plain under journald */
	LOG_TO_SYSLOG,
};

void	log_init(const char *ident, enum log_level level, enum log_target target);
void	log_set_level(enum log_level level);
void	log_pin_level(enum log_level level);
bool	log_level_pinned(void);
enum log_level log_get_level(void);
int	log_level_parse(const char *text, enum log_level *level);
const char *log_level_name(enum log_level level);

void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_output(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_vmsg(enum log_level level, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
void	fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
