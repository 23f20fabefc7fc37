/* cause.c: failure reasons (see cause.h). */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cause.h"

/* Set *cause to a formatted reason, or to NULL if it cannot be allocated. */
void
cause_set(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = NULL;	/* vasprintf leaves it undefined */
	va_end(ap);
}

/* A reason to show: cause, or "out of memory" when it is NULL. */
const char *
cause_text(const char *cause)
{
	return cause != NULL ? cause : "out of memory";
}
