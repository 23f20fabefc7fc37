/*
 * config.c: INI file -> struct config; validate it whole; free it.
 *
 * inih does the INI syntax; we feed it through our own line reader, which
 * counts lines (Debian's inih is built without INI_HANDLER_LINENO), refuses
 * lines longer than inih's buffer instead of letting them be split, checks
 * the syntax of every line so that all errors are reported rather than the
 * first, and opens and closes sections (inih does not tell us about them).
 * Every problem is collected as "FILE:LINE: message" in a struct config_msgs;
 * a config with any error is never used. No sockets, no processes here.
 *
 * A reload parses in the running supervisor: nothing here exits. Memory
 * that cannot be allocated is an error like any other ("out of memory"),
 * which fails the parse; what was allocated is freed with the config.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cause.h"
#include "config.h"
#include "confpath.h"
#include "expand.h"
#include "hashmap.h"
#include "parse.h"

/* Stands for a ';' inside quotes in a command while inih reads the line. */
#define CONFIG_SEMICOLON_MARK	'\x1f'
/* Stands for a '#' that starts a line inside a command's open quote. */
#define CONFIG_HASH_MARK	'\x1e'
#define MAX_SEEN_KEYS	64

enum section_kind {
	SECTION_NONE = 0,	/* before the first section */
	SECTION_IGNORED,	/* a bad header: its keys are not checked */
	SECTION_SUPERVISOR,
	SECTION_LISTENER,
	SECTION_PROGRAM,
};

struct parse_state;
typedef int (*key_handler)(struct parse_state *, const char *value,
    const char **error);
static void pending_apply(struct parse_state *);

/* One key a section accepts. */
struct key_def {
	const char	*name;
	key_handler	 handler;
	bool		 repeatable;
};

/* Where the parse is: the open section and the keys it has set so far. */
struct parse_state {
	struct config		*conf;
	struct config_msgs	*msgs;
	FILE			*fp;
	const char		*text;		/* the text fp reads, if known */
	size_t			 textlen;
	size_t			 pos;		/* of the next line in text */
	size_t			 line_at;	/* of the line read, in text */
	size_t			 section_at;	/* of the open section's header */
	char			*line;		/* the line read */
	size_t			 linecap;
	int			 lineno;
	enum section_kind	 kind;
	int			 section_line;
	bool			 seen_supervisor;
	int			 supervisor_line;
	struct listener_conf	*listener;	/* SECTION_LISTENER */
	struct program_conf	*program;	/* SECTION_PROGRAM */
	struct {
		const char	*key;
		int		 line;
	}			 seen[MAX_SEEN_KEYS];
	size_t			 nseen;
	bool			 damaged;	/* the open section lost a line */
	bool			 can_continue;	/* an indented line continues a value */
	bool			 continuing;	/* inih has the continuation of a value */
	bool			 quoting;	/* the value is a command's */
	char			 quote;		/* the quote open in a command's lines */
	struct {
		const struct key_def *def;	/* NULL: no value pending */
		char		*value;		/* its lines joined by a blank */
		size_t		 len;
		int		 line;		/* of its key */
		bool		 failed;	/* a line of it was bad: not used */
	}			 pending;	/* the value being read */
	int			 read_error;	/* errno of a failed getline */
	/*
	 * The next reload must parse again: a host name was looked up, or a
	 * user or group lookup could not be noted (out of memory).
	 */
	bool			 not_reusable;
	/*
	 * The config in force, whose sections a reload's parse may take
	 * again where their text did not change (section_take_listener);
	 * NULL: everything is parsed.
	 */
	const struct config	*running;
	bool			 reused;	/* the open section was taken */
	bool			 lookups_taken;	/* running's lookups copied */
	size_t			 skip_to;	/* lines before it are taken */
	char			 cause[512];	/* for causes built at run time */
};

/* ---- messages -------------------------------------------------------- */

/* Start an empty list of messages. */
void
config_msgs_init(struct config_msgs *msgs)
{
	memset(msgs, 0, sizeof(*msgs));
}

/* Add "FILE:LINE: message" (or "FILE: message" when line is 0). */
void
config_msgs_add(struct config_msgs *msgs, bool is_error, const char *file,
    int line, const char *fmt, ...)
{
	char text[1024], *full, **lines;
	bool *flags;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (line > 0)
		n = asprintf(&full, "%s:%d: %s%s", file, line,
		    is_error ? "" : "warning: ", text);
	else
		n = asprintf(&full, "%s: %s%s", file,
		    is_error ? "" : "warning: ", text);
	if (n == -1)
		full = NULL;
	if ((lines = reallocarray(msgs->lines, msgs->count + 1,
	    sizeof(*lines))) != NULL)
		msgs->lines = lines;
	if ((flags = reallocarray(msgs->is_error, msgs->count + 1,
	    sizeof(*flags))) != NULL)
		msgs->is_error = flags;
	if (full == NULL || lines == NULL || flags == NULL) {
		/* Lost to a lack of memory: an error, so the parse fails. */
		free(full);
		msgs->nerrors++;
		return;
	}
	msgs->lines[msgs->count] = full;
	msgs->is_error[msgs->count] = is_error;
	msgs->count++;
	if (is_error)
		msgs->nerrors++;
	else
		msgs->nwarnings++;
}

/* Print every message, one per line. */
void
config_msgs_print(const struct config_msgs *msgs, FILE *fp)
{
	size_t i;

	for (i = 0; i < msgs->count; i++)
		fprintf(fp, "%s\n", msgs->lines[i]);
}

/* Free the messages. */
void
config_msgs_free(struct config_msgs *msgs)
{
	size_t i;

	for (i = 0; i < msgs->count; i++)
		free(msgs->lines[i]);
	free(msgs->lines);
	free(msgs->is_error);
	config_msgs_init(msgs);
}

/* The line number a message carries, 0 if none (for sorting). */
static long
config_msg_line(const char *msg, size_t pathlen)
{
	const char *p = msg + pathlen;

	if (*p != ':' || !isdigit((unsigned char)p[1]))
		return 0;
	return strtol(p + 1, NULL, 10);
}

/* Sort messages by line, stable, so output follows the file. */
static void
config_msgs_sort(struct config_msgs *msgs, size_t pathlen)
{
	size_t i, j;
	char *line;
	bool flag;

	/* Insertion sort: lists are short and it is stable. */
	for (i = 1; i < msgs->count; i++) {
		line = msgs->lines[i];
		flag = msgs->is_error[i];
		for (j = i; j > 0 && config_msg_line(msgs->lines[j - 1], pathlen) >
		    config_msg_line(line, pathlen); j--) {
			msgs->lines[j] = msgs->lines[j - 1];
			msgs->is_error[j] = msgs->is_error[j - 1];
		}
		msgs->lines[j] = line;
		msgs->is_error[j] = flag;
	}
}

/* Record an error at the current line. */
static void
parse_error(struct parse_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
parse_error(struct parse_state *st, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	config_msgs_add(st->msgs, true, st->conf->path, st->lineno, "%s", text);
}

/* ---- allocation ------------------------------------------------------ */

/* Free a program's compiled ready = log: pattern, if it has one. */
static void
program_conf_clear_ready_log(struct program_conf *pc)
{
	if (pc->ready_log_re == NULL)
		return;
	regfree(pc->ready_log_re);
	free(pc->ready_log_re);
	pc->ready_log_re = NULL;
}

/* Replace *field with a copy of value; -1 and *cause if out of memory. */
static int
set_string(char **field, const char *value, const char **error)
{
	char *copy = strdup(value);

	if (copy == NULL) {
		*error = "out of memory";
		return -1;
	}
	free(*field);
	*field = copy;
	return 0;
}

/*
 * An empty config with every default set, its name indexes sized for
 * nlisteners and nprograms (they grow past them); NULL if out of memory.
 */
static struct config *
config_new_sized(const char *path, size_t nlisteners, size_t nprograms)
{
	struct config *conf = calloc(1, sizeof(*conf));

	if (conf == NULL || (conf->path = strdup(path)) == NULL) {
		free(conf);
		return NULL;
	}
	conf->refs = 1;
	conf->supervisor.log_level = LOG_LEVEL_INFO;
	TAILQ_INIT(&conf->listeners);
	TAILQ_INIT(&conf->programs);
	/* Without memory for them, lookups by name go through the lists. */
	conf->listener_names = hashmap_new(nlisteners);
	conf->program_names = hashmap_new(nprograms);
	return conf;
}

/* An empty config with every default set; NULL if out of memory. */
struct config *
config_new(const char *path)
{
	return config_new_sized(path, 0, 0);
}

/* Append a listener with default options; NULL if out of memory. */
struct listener_conf *
config_add_listener(struct config *conf, const char *name, int line)
{
	struct listener_conf *lc = calloc(1, sizeof(*lc));

	if (lc == NULL || (lc->name = strdup(name)) == NULL) {
		free(lc);
		return NULL;
	}
	lc->line = line;
	lc->opts.backlog = DEFAULT_BACKLOG;
	lc->opts.v6only = -1;
	lc->opts.mode = (mode_t)-1;
	lc->opts.owner = (uid_t)-1;
	lc->opts.group = (gid_t)-1;
	config_append_listener(conf, lc);
	return lc;
}

/*
 * Index value by name in *names (NULL: no index), unless another has the
 * name already: the first one is found. Out of memory, the index goes (an
 * index missing a name is no index): lookups go through the list, and
 * config_finish says memory ran out.
 */
static void
config_index(struct hashmap **names, const char *name, void *value)
{
	if (*names != NULL && hashmap_add(*names, name, strlen(name),
	    value) == -1) {
		hashmap_free(*names);
		*names = NULL;
	}
}

/*
 * Append a listener made by the caller (conf owns it now): it takes the
 * next position, and its name is indexed unless another has it already.
 */
void
config_append_listener(struct config *conf, struct listener_conf *lc)
{
	lc->index = conf->nlisteners;
	TAILQ_INSERT_TAIL(&conf->listeners, lc, entry);
	conf->nlisteners++;
	config_index(&conf->listener_names, lc->name, lc);
}

/*
 * Index a program of conf by its name, which it must have by now (one
 * another has already stays out of the index: the first is found).
 */
void
config_index_program(struct config *conf, struct program_conf *pc)
{
	config_index(&conf->program_names, pc->name, pc);
}

/* Append a program with default settings; NULL if out of memory. */
struct program_conf *
config_add_program(struct config *conf, const char *name, int line)
{
	struct program_conf *pc = calloc(1, sizeof(*pc));

	if (pc == NULL || (pc->name = strdup(name)) == NULL ||
	    (pc->env = calloc(1, sizeof(*pc->env))) == NULL) {
		if (pc != NULL)
			free(pc->name);
		free(pc);
		return NULL;
	}
	pc->line = line;
	pc->workers = DEFAULT_WORKERS;
	pc->handoff = HANDOFF_INHERIT;
	pc->ready = READY_NOTIFY;
	pc->ready_timeout_ms = DEFAULT_READY_TIMEOUT_MS;
	pc->stop_signal = SIGTERM;
	pc->drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT_MS;
	pc->restart = RESTART_ALWAYS;
	pc->output = OUTPUT_LOG;
	pc->uid = (uid_t)-1;
	pc->gid = (gid_t)-1;
	pc->user_gid = (gid_t)-1;
	TAILQ_INSERT_TAIL(&conf->programs, pc, entry);
	conf->nprograms++;
	config_index_program(conf, pc);
	return pc;
}

/* Find a listener by name. */
struct listener_conf *
config_find_listener(const struct config *conf, const char *name)
{
	struct listener_conf *lc;

	if (conf->listener_names != NULL)
		return hashmap_get(conf->listener_names, name, strlen(name));
	TAILQ_FOREACH(lc, &conf->listeners, entry)
		if (strcmp(lc->name, name) == 0)
			return lc;
	return NULL;
}

/* Find a program by name. */
struct program_conf *
config_find_program(const struct config *conf, const char *name)
{
	struct program_conf *pc;

	if (conf->program_names != NULL)
		return hashmap_get(conf->program_names, name, strlen(name));
	TAILQ_FOREACH(pc, &conf->programs, entry)
		if (strcmp(pc->name, name) == 0)
			return pc;
	return NULL;
}

/* Free a config and everything it owns. */
void
config_free(struct config *conf)
{
	struct listener_conf *lc;
	struct program_conf *pc;
	size_t i;

	if (conf == NULL)
		return;
	free(conf->text);
	for (i = 0; i < conf->nlookups; i++)
		free(conf->lookups[i].name);
	free(conf->lookups);
	while ((lc = TAILQ_FIRST(&conf->listeners)) != NULL) {
		TAILQ_REMOVE(&conf->listeners, lc, entry);
		if (lc->fd_name != lc->name)
			free(lc->fd_name);
		free(lc->name);
		free(lc->listen);
		free(lc);
	}
	while ((pc = TAILQ_FIRST(&conf->programs)) != NULL) {
		TAILQ_REMOVE(&conf->programs, pc, entry);
		free(pc->name);
		free(pc->command);
		argv_free(pc->argv);
		argv_free(pc->listener_names);
		free(pc->listeners);
		free(pc->user);
		free(pc->group);
		free(pc->directory);
		argv_free(pc->env);
		program_conf_clear_ready_log(pc);
		free(pc->ready_log);
		free(pc);
	}
	free(conf->supervisor.name);
	free(conf->supervisor.control);
	free(conf->supervisor.pidfile);
	free(conf->path);
	hashmap_free(conf->listener_names);
	hashmap_free(conf->program_names);
	free(conf);
}

/* Take one more reference: generations keep the config they started from. */
struct config *
config_ref(struct config *conf)
{
	conf->refs++;
	return conf;
}

/* Drop a reference; the last one frees the config. */
void
config_unref(struct config *conf)
{
	if (conf != NULL && --conf->refs == 0)
		config_free(conf);
}

/* Names of enum values, for status output and messages. */
const char *
handoff_mode_name(enum handoff_mode mode)
{
	static const char *const names[] = {
		[HANDOFF_INHERIT] = "inherit", [HANDOFF_REUSEPORT] = "reuseport",
		[HANDOFF_SELF] = "self",
	};
	return names[mode];
}

/* "notify", "delay", "listening" or "log". */
const char *
ready_mode_name(enum ready_mode mode)
{
	static const char *const names[] = {
		[READY_NOTIFY] = "notify", [READY_DELAY] = "delay",
		[READY_LISTENING] = "listening", [READY_LOG] = "log",
	};
	return names[mode];
}

/* "always", "on-failure" or "never". */
const char *
restart_policy_name(enum restart_policy policy)
{
	static const char *const names[] = {
		[RESTART_ALWAYS] = "always", [RESTART_ON_FAILURE] = "on-failure",
		[RESTART_NEVER] = "never",
	};
	return names[policy];
}

/* ---- value helpers --------------------------------------------------- */

/*
 * Find a user by name or number: its uid and its own group. A bare uid
 * with no passwd entry is allowed (its gid is the same number). -1 if
 * there is no such user.
 */
static int
find_user(const char *value, uid_t *uid, gid_t *gid)
{
	const char *unused;
	struct passwd *pw;
	long n;

	errno = 0;
	pw = getpwnam(value);
	if (pw == NULL && parse_int_range(value, 0, INT_MAX - 1, &n,
	    &unused) == 0) {
		pw = getpwuid((uid_t)n);
		if (pw == NULL) {
			*uid = (uid_t)n;
			*gid = (gid_t)n;
			return 0;
		}
	}
	if (pw == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Find a group by name or number; -1 if there is no such group. */
static int
find_group(const char *value, gid_t *gid)
{
	const char *unused;
	struct group *gr;
	long n;

	gr = getgrnam(value);
	if (gr != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_int_range(value, 0, INT_MAX - 1, &n, &unused) == 0) {
		*gid = (gid_t)n;
		return 0;
	}
	return -1;
}

/*
 * Note a user or group the config names, with what it was found to be,
 * for config_reload and the parse's later settings. Out of memory, the
 * config is simply not taken again.
 */
static void
note_lookup(struct parse_state *st, const char *name, bool group, uid_t uid,
    gid_t gid)
{
	struct config *conf = st->conf;
	struct config_lookup *grown;
	char *copy;

	if ((copy = strdup(name)) == NULL || (grown = reallocarray(
	    conf->lookups, conf->nlookups + 1, sizeof(*grown))) == NULL) {
		free(copy);
		st->not_reusable = true;
		return;
	}
	conf->lookups = grown;
	grown[conf->nlookups].name = copy;
	grown[conf->nlookups].group = group;
	grown[conf->nlookups].uid = uid;
	grown[conf->nlookups].gid = gid;
	conf->nlookups++;
}

/*
 * What the parse already found for a user or group of that name (each is
 * looked up once however many settings name it); NULL if none yet.
 */
static const struct config_lookup *
looked_up(const struct parse_state *st, const char *name, bool group)
{
	const struct config *conf = st->conf;
	size_t i;

	for (i = 0; i < conf->nlookups; i++)
		if (conf->lookups[i].group == group &&
		    strcmp(conf->lookups[i].name, name) == 0)
			return &conf->lookups[i];
	return NULL;
}

/* Look up a user by name or number, for a setting of the config. */
static int
lookup_user(struct parse_state *st, const char *value, uid_t *uid, gid_t *gid,
    const char **error)
{
	const struct config_lookup *seen;

	if ((seen = looked_up(st, value, false)) != NULL) {
		*uid = seen->uid;
		*gid = seen->gid;
		return 0;
	}
	if (find_user(value, uid, gid) == -1) {
		*error = "unknown user (no such entry in the passwd database)";
		return -1;
	}
	note_lookup(st, value, false, *uid, *gid);
	return 0;
}

/* Look up a group by name or number, for a setting of the config. */
static int
lookup_group(struct parse_state *st, const char *value, gid_t *gid,
    const char **error)
{
	const struct config_lookup *seen;

	if ((seen = looked_up(st, value, true)) != NULL) {
		*gid = seen->gid;
		return 0;
	}
	if (find_group(value, gid) == -1) {
		*error = "unknown group (no such entry in the group database)";
		return -1;
	}
	note_lookup(st, value, true, 0, *gid);
	return 0;
}

/* Tell whether each user and group conf named is still what it was. */
static bool
config_lookups_hold(const struct config *conf)
{
	const struct config_lookup *lk;
	uid_t uid;
	gid_t gid;
	size_t i;

	for (i = 0; i < conf->nlookups; i++) {
		lk = &conf->lookups[i];
		if (lk->group ? find_group(lk->name, &gid) == -1 ||
		    gid != lk->gid : find_user(lk->name, &uid, &gid) == -1 ||
		    uid != lk->uid || gid != lk->gid)
			return false;
	}
	return true;
}

/* ---- [supervisor] keys ----------------------------------------------- */

/* name = NAME */
static int
sup_name(struct parse_state *st, const char *value, const char **error)
{
	if (!config_valid_name(value)) {
		*error = "bad name (use 1 to 64 of A-Z a-z 0-9 _ . -)";
		return -1;
	}
	return set_string(&st->conf->supervisor.name, value, error);
}

/* Accept an absolute path. */
static int
absolute_path(const char *value, char **field, const char **error)
{
	if (value[0] != '/') {
		*error = "path must be absolute";
		return -1;
	}
	if (strlen(value) >= PATH_MAX) {
		*error = "path too long";
		return -1;
	}
	return set_string(field, value, error);
}

#define CONFIG_CONTROL_MAX	82

/* control = /path/to/socket */
static int
sup_control(struct parse_state *st, const char *value, const char **error)
{
	/*
	 * sun_path limits unix socket paths to 107 bytes, and the notify
	 * socket beside this one is PATH.notify/UID/notify: 25 bytes more.
	 */
	if (strlen(value) > CONFIG_CONTROL_MAX) {
		*error = "control socket path too long (at most 82 bytes, so that "
		    "the notify socket beside it fits)";
		return -1;
	}
	return absolute_path(value, &st->conf->supervisor.control, error);
}

/* pidfile = /path */
static int
sup_pidfile(struct parse_state *st, const char *value, const char **error)
{
	return absolute_path(value, &st->conf->supervisor.pidfile, error);
}

/* log_level = error|warn|info|debug */
static int
sup_log_level(struct parse_state *st, const char *value, const char **error)
{
	if (log_level_parse(value, &st->conf->supervisor.log_level) == -1) {
		*error = "bad log level (use error, warn, info or debug)";
		return -1;
	}
	return 0;
}

static const struct key_def supervisor_keys[] = {
	{ "name", sup_name, false },
	{ "control", sup_control, false },
	{ "pidfile", sup_pidfile, false },
	{ "log_level", sup_log_level, false },
	{ NULL, NULL, false },
};

/* ---- [listener NAME] keys -------------------------------------------- */

/* listen = ADDRESS */
static int
lis_listen(struct parse_state *st, const char *value, const char **error)
{
	if (addr_parse(value, &st->listener->addr, error) == -1 ||
	    set_string(&st->listener->listen, value, error) == -1)
		return -1;
	/* A name may point elsewhere by the next reload: parse it again. */
	if (st->listener->addr.named)
		st->not_reusable = true;
	st->listener->has_listen = true;
	return 0;
}

/* backlog = N */
static int
lis_backlog(struct parse_state *st, const char *value, const char **error)
{
	long n;

	if (parse_int_range(value, 1, 1 << 20, &n, error) == -1) {
		*error = "bad backlog (use 1 to 1048576)";
		return -1;
	}
	st->listener->opts.backlog = (int)n;
	return 0;
}

/* Define a boolean listener option handler. */
#define LISTENER_BOOL(fn, field)					\
	static int							\
	fn(struct parse_state *st, const char *value, const char **error) \
	{								\
		bool b;							\
		if (parse_bool(value, &b, error) == -1)			\
			return -1;					\
		st->listener->opts.field = b;				\
		return 0;						\
	}
LISTENER_BOOL(lis_reuseport, reuseport)
LISTENER_BOOL(lis_freebind, freebind)
LISTENER_BOOL(lis_defer_accept, defer_accept)
LISTENER_BOOL(lis_nodelay, nodelay)
LISTENER_BOOL(lis_v6only, v6only)

/* interface = NAME (SO_BINDTODEVICE; checked to exist when bound) */
static int
lis_interface(struct parse_state *st, const char *value, const char **error)
{
	if (*value == '\0' || strlen(value) >= IF_NAMESIZE ||
	    strpbrk(value, "/ \t") != NULL) {
		*error = "bad interface name (at most 15 characters, no / or blanks)";
		return -1;
	}
	snprintf(st->listener->opts.interface,
	    sizeof(st->listener->opts.interface), "%s", value);
	return 0;
}

/* mode = 0660 (unix socket file) */
static int
lis_mode(struct parse_state *st, const char *value, const char **error)
{
	return parse_mode(value, &st->listener->opts.mode, error);
}

/* owner = USER (unix socket file) */
static int
lis_owner(struct parse_state *st, const char *value, const char **error)
{
	gid_t unused;

	return lookup_user(st, value, &st->listener->opts.owner, &unused, error);
}

/* group = GROUP (unix socket file) */
static int
lis_group(struct parse_state *st, const char *value, const char **error)
{
	return lookup_group(st, value, &st->listener->opts.group, error);
}

/* fd_name = NAME (LISTEN_FDNAMES: printable, no ':', at most 255) */
static int
lis_fd_name(struct parse_state *st, const char *value, const char **error)
{
	const char *p;

	if (*value == '\0' || strlen(value) > 255) {
		*error = "bad fd_name (1 to 255 characters)";
		return -1;
	}
	for (p = value; *p != '\0'; p++) {
		if (!isgraph((unsigned char)*p) || *p == ':') {
			*error = "bad fd_name (printable characters, no ':' or blanks)";
			return -1;
		}
	}
	return set_string(&st->listener->fd_name, value, error);
}

static const struct key_def listener_keys[] = {
	{ "listen", lis_listen, false },
	{ "backlog", lis_backlog, false },
	{ "reuseport", lis_reuseport, false },
	{ "v6only", lis_v6only, false },
	{ "freebind", lis_freebind, false },
	{ "defer_accept", lis_defer_accept, false },
	{ "nodelay", lis_nodelay, false },
	{ "interface", lis_interface, false },
	{ "mode", lis_mode, false },
	{ "owner", lis_owner, false },
	{ "group", lis_group, false },
	{ "fd_name", lis_fd_name, false },
	{ NULL, NULL, false },
};

/* ---- [program NAME] keys --------------------------------------------- */

/* command = PATH ARGS... */
static int
prog_command(struct parse_state *st, const char *value, const char **error)
{
	char **argv;

	if (*value == '\0') {
		*error = "empty command";
		return -1;
	}
	if ((argv = argv_split(value, error)) == NULL)
		return -1;
	if (argv[0] == NULL || argv[0][0] == '\0') {
		argv_free(argv);
		*error = "empty command";
		return -1;
	}
	argv_free(st->program->argv);
	st->program->argv = argv;
	return set_string(&st->program->command, value, error);
}

/*
 * A set of at most MAX_LISTENERS_PER_PROGRAM names (a program's
 * listeners, or their fd_names), each with its place: open addressing
 * over twice as many slots, so that finding repeats takes one pass.
 */
#define NAME_TABLE_SLOTS	(2 * MAX_LISTENERS_PER_PROGRAM)
struct name_table {
	const char	*name[NAME_TABLE_SLOTS];
	size_t		 at[NAME_TABLE_SLOTS];
};

/*
 * Add name, at place at, to t (zeroed before the first). The place of
 * an equal name added before (which stays), or SIZE_MAX if it is new.
 */
static size_t
name_table_add(struct name_table *t, const char *name, size_t at)
{
	size_t i = hashmap_hash(name, strlen(name)) % NAME_TABLE_SLOTS;

	for (; t->name[i] != NULL; i = (i + 1) % NAME_TABLE_SLOTS)
		if (strcmp(t->name[i], name) == 0)
			return t->at[i];
	t->name[i] = name;
	t->at[i] = at;
	return SIZE_MAX;
}

/*
 * The first of names (at most MAX_LISTENERS_PER_PROGRAM) that repeats an
 * earlier one, or NULL.
 */
static const char *
first_repeated(char **names, size_t n)
{
	struct name_table t;
	size_t i;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < n; i++)
		if (name_table_add(&t, names[i], i) != SIZE_MAX)
			return names[i];
	return NULL;
}

/* listeners = a, b c (comma or blank separated) */
static int
prog_listeners(struct parse_state *st, const char *value, const char **error)
{
	struct program_conf *pc = st->program;
	char *copy = strdup(value), *word, *save = NULL;
	char **names = calloc(MAX_LISTENERS_PER_PROGRAM + 1, sizeof(*names));
	const char *twice;
	size_t n = 0;
	bool too_many = false;

	if (copy == NULL || names == NULL) {
		*error = "out of memory";
		goto fail;
	}
	for (word = strtok_r(copy, ", \t", &save); word != NULL;
	    word = strtok_r(NULL, ", \t", &save)) {
		if (n == MAX_LISTENERS_PER_PROGRAM) {
			too_many = true;
			break;
		}
		if ((names[n++] = strdup(word)) == NULL) {
			*error = "out of memory";
			goto fail;
		}
	}
	/* A name repeated among the first 64 is reported first. */
	if ((twice = first_repeated(names, n)) != NULL) {
		snprintf(st->cause, sizeof(st->cause),
		    "listener %s is named twice", twice);
		*error = st->cause;
		goto fail;
	}
	if (too_many) {
		*error = "too many listeners (at most 64)";
		goto fail;
	}
	free(copy);
	argv_free(pc->listener_names);
	pc->listener_names = names;
	pc->listeners_line = st->lineno;
	pc->nlisteners = n;
	return 0;
fail:
	free(copy);
	argv_free(names);
	return -1;
}

/* workers = N */
static int
prog_workers(struct parse_state *st, const char *value, const char **error)
{
	long n;

	if (parse_int_range(value, 1, MAX_WORKERS, &n, error) == -1) {
		*error = "bad number of workers (use 1 to 1024)";
		return -1;
	}
	st->program->workers = (int)n;
	return 0;
}

/* handoff = inherit | reuseport | self */
static int
prog_handoff(struct parse_state *st, const char *value, const char **error)
{
	if (strcmp(value, "inherit") == 0)
		st->program->handoff = HANDOFF_INHERIT;
	else if (strcmp(value, "reuseport") == 0)
		st->program->handoff = HANDOFF_REUSEPORT;
	else if (strcmp(value, "self") == 0)
		st->program->handoff = HANDOFF_SELF;
	else {
		*error = "bad handoff mode (use inherit, reuseport or self)";
		return -1;
	}
	return 0;
}

/*
 * Compile a ready = log:REGEX pattern (POSIX extended) into pc; -1 with
 * *cause (regerror's words) if it is not one.
 */
static int
ready_log_compile(struct program_conf *pc, const char *pattern, char **cause)
{
	char why[160];
	const char *error;
	regex_t *re;
	int rc;

	if (*pattern == '\0') {
		cause_set(cause, "empty log pattern (use log:REGEX, e.g. "
		    "log:Listening at:)");
		return -1;
	}
	if ((re = calloc(1, sizeof(*re))) == NULL) {
		*cause = NULL;
		return -1;
	}
	if ((rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, re, why, sizeof(why));
		free(re);
		cause_set(cause, "bad log pattern (a POSIX extended regular "
		    "expression): %s", why);
		return -1;
	}
	if (set_string(&pc->ready_log, pattern, &error) == -1) {
		regfree(re);
		free(re);
		*cause = NULL;
		return -1;
	}
	program_conf_clear_ready_log(pc);
	pc->ready_log_re = re;
	pc->ready = READY_LOG;
	return 0;
}

/*
 * Set a program's ready mode from its words: notify, delay:DURATION,
 * listening or log:REGEX. -1 with *cause (cause.h) if they are none.
 */
int
program_conf_set_ready(struct program_conf *pc, const char *value,
    char **cause)
{
	const char *error;

	if (strcmp(value, "notify") == 0)
		pc->ready = READY_NOTIFY;
	else if (strcmp(value, "listening") == 0)
		pc->ready = READY_LISTENING;
	else if (strncmp(value, "delay:", 6) == 0) {
		if (parse_duration_ms(value + 6, &pc->ready_delay_ms,
		    &error) == -1) {
			cause_set(cause, "%s", error);
			return -1;
		}
		pc->ready = READY_DELAY;
	} else if (strncmp(value, "log:", 4) == 0)
		return ready_log_compile(pc, value + 4, cause);
	else {
		cause_set(cause, "bad ready mode (use notify, delay:500ms, "
		    "listening or log:REGEX)");
		return -1;
	}
	return 0;
}

/*
 * ready = notify | delay:DURATION | listening | log:REGEX; the cause is
 * copied into the parser's buffer, where key setters build their words.
 */
static int
prog_ready(struct parse_state *st, const char *value, const char **error)
{
	char *cause = NULL;

	if (program_conf_set_ready(st->program, value, &cause) == 0)
		return 0;
	snprintf(st->cause, sizeof(st->cause), "%s", cause_text(cause));
	free(cause);
	*error = st->cause;
	return -1;
}

/* ready_timeout = DURATION */
static int
prog_ready_timeout(struct parse_state *st, const char *value, const char **error)
{
	if (parse_duration_ms(value, &st->program->ready_timeout_ms, error) == -1)
		return -1;
	if (st->program->ready_timeout_ms == 0) {
		*error = "ready_timeout must be more than 0";
		return -1;
	}
	return 0;
}

/* drain_timeout = DURATION */
static int
prog_drain_timeout(struct parse_state *st, const char *value, const char **error)
{
	return parse_duration_ms(value, &st->program->drain_timeout_ms, error);
}

/* probation = DURATION (0: take over as soon as every worker is ready) */
static int
prog_probation(struct parse_state *st, const char *value, const char **error)
{
	if (parse_duration_ms(value, &st->program->probation_ms, error) == -1)
		return -1;
	if (st->program->probation_ms > MAX_PROBATION_MS) {
		*error = "probation too long (at most 1h: the old generation "
		    "keeps serving, and reloads wait, until it is over)";
		return -1;
	}
	return 0;
}

/* stop_signal = TERM | SIGTERM | 15 */
static int
prog_stop_signal(struct parse_state *st, const char *value, const char **error)
{
	return parse_signal(value, &st->program->stop_signal, error);
}

/* restart = always | on-failure | never */
static int
prog_restart(struct parse_state *st, const char *value, const char **error)
{
	if (strcmp(value, "always") == 0)
		st->program->restart = RESTART_ALWAYS;
	else if (strcmp(value, "on-failure") == 0)
		st->program->restart = RESTART_ON_FAILURE;
	else if (strcmp(value, "never") == 0)
		st->program->restart = RESTART_NEVER;
	else {
		*error = "bad restart policy (use always, on-failure or never)";
		return -1;
	}
	return 0;
}

/* user = NAME or UID */
static int
prog_user(struct parse_state *st, const char *value, const char **error)
{
	if (lookup_user(st, value, &st->program->uid, &st->program->user_gid,
	    error) == -1)
		return -1;
	return set_string(&st->program->user, value, error);
}

/* group = NAME or GID */
static int
prog_group(struct parse_state *st, const char *value, const char **error)
{
	if (lookup_group(st, value, &st->program->gid, error) == -1)
		return -1;
	return set_string(&st->program->group, value, error);
}

/* directory = /abs/path */
static int
prog_directory(struct parse_state *st, const char *value, const char **error)
{
	return absolute_path(value, &st->program->directory, error);
}

/*
 * Tell whether an environment entry ("NAME=..." or just "NAME=") belongs
 * to a socket or readiness protocol the supervisor sets for its workers:
 * those are never inherited and never set by env =.
 */
bool
config_env_is_protocol(const char *var)
{
	static const char *const prefixes[] = {
		"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
		"SERVER_STARTER_PORT=", "SERVER_STARTER_GENERATION=",
		"EINHORN_", "HANDOFF_", "WATCHDOG_", "JOURNAL_STREAM=",
	};
	size_t i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(var, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* env = NAME=VALUE (repeatable) */
static int
prog_env(struct parse_state *st, const char *value, const char **error)
{
	struct program_conf *pc = st->program;
	const char *eq = strchr(value, '='), *p;
	size_t namelen, i;
	char **env;

	if (eq == NULL || eq == value) {
		*error = "bad env (write NAME=VALUE)";
		return -1;
	}
	for (p = value; p < eq; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_') {
			*error = "bad env name (use letters, digits and _)";
			return -1;
		}
	}
	if (isdigit((unsigned char)value[0])) {
		*error = "bad env name (must not start with a digit)";
		return -1;
	}
	if (config_env_is_protocol(value)) {
		*error = "handoff sets this variable for its workers (socket and "
		    "readiness protocols); it cannot be set with env";
		return -1;
	}
	namelen = (size_t)(eq - value) + 1;
	/* A later env = NAME=... replaces an earlier one. */
	for (i = 0; i < pc->nenv; i++) {
		if (strncmp(pc->env[i], value, namelen) == 0)
			return set_string(&pc->env[i], value, error);
	}
	env = reallocarray(pc->env, pc->nenv + 2, sizeof(*env));
	if (env == NULL) {
		*error = "out of memory";
		return -1;
	}
	pc->env = env;	/* still NULL-terminated at nenv */
	if ((pc->env[pc->nenv] = strdup(value)) == NULL) {
		*error = "out of memory";
		return -1;
	}
	pc->env[++pc->nenv] = NULL;
	return 0;
}

/* preload = yes|no */
static int
prog_preload(struct parse_state *st, const char *value, const char **error)
{
	return parse_bool(value, &st->program->preload, error);
}

/* output = log | discard */
static int
prog_output(struct parse_state *st, const char *value, const char **error)
{
	if (strcmp(value, "log") == 0)
		st->program->output = OUTPUT_LOG;
	else if (strcmp(value, "discard") == 0)
		st->program->output = OUTPUT_DISCARD;
	else {
		*error = "bad output (use log or discard)";
		return -1;
	}
	return 0;
}

static const struct key_def program_keys[] = {
	{ "command", prog_command, false },
	{ "listeners", prog_listeners, false },
	{ "workers", prog_workers, false },
	{ "handoff", prog_handoff, false },
	{ "ready", prog_ready, false },
	{ "ready_timeout", prog_ready_timeout, false },
	{ "stop_signal", prog_stop_signal, false },
	{ "drain_timeout", prog_drain_timeout, false },
	{ "probation", prog_probation, false },
	{ "restart", prog_restart, false },
	{ "user", prog_user, false },
	{ "group", prog_group, false },
	{ "directory", prog_directory, false },
	{ "env", prog_env, true },
	{ "preload", prog_preload, false },
	{ "output", prog_output, false },
	{ NULL, NULL, false },
};

/* ---- sections -------------------------------------------------------- */

/* The line at which the open section set key, 0 if it did not. */
static int
seen_line(const struct parse_state *st, const char *key)
{
	size_t i;

	for (i = 0; i < st->nseen; i++)
		if (strcmp(st->seen[i].key, key) == 0)
			return st->seen[i].line;
	return 0;
}

/* Check a listener once its section is complete. */
static void
listener_section_finish(struct parse_state *st)
{
	static const char *const unix_only[] = { "mode", "owner", "group" };
	static const char *const tcp_only[] = { "defer_accept", "nodelay", "backlog" };
	struct listener_conf *lc = st->listener;
	const char *kind;
	size_t i;
	int line;

	if (!lc->has_listen) {
		if (seen_line(st, "listen") == 0 && !st->damaged)
			config_msgs_add(st->msgs, true, st->conf->path, lc->line,
			    "listener %s: missing listen = ADDRESS", lc->name);
		return;
	}
	kind = addr_kind_name(lc->addr.kind);
	for (i = 0; i < sizeof(unix_only) / sizeof(unix_only[0]); i++) {
		if ((line = seen_line(st, unix_only[i])) != 0 &&
		    (!addr_is_unix(&lc->addr) || addr_is_abstract(&lc->addr)))
			config_msgs_add(st->msgs, true, st->conf->path, line,
			    "listener %s: %s applies only to unix socket files, "
			    "not to %s", lc->name, unix_only[i], lc->listen);
	}
	for (i = 0; i < sizeof(tcp_only) / sizeof(tcp_only[0]); i++) {
		if ((line = seen_line(st, tcp_only[i])) == 0)
			continue;
		if (lc->addr.kind == ADDR_TCP)
			continue;
		if (strcmp(tcp_only[i], "backlog") == 0 &&
		    lc->addr.kind == ADDR_UNIX_STREAM)
			continue;
		config_msgs_add(st->msgs, true, st->conf->path, line,
		    "listener %s: %s does not apply to %s listeners",
		    lc->name, tcp_only[i], kind);
	}
	if ((line = seen_line(st, "v6only")) != 0 &&
	    lc->addr.ss.ss_family != AF_INET6)
		config_msgs_add(st->msgs, true, st->conf->path, line,
		    "listener %s: v6only applies only to IPv6 addresses", lc->name);
	if (addr_is_unix(&lc->addr)) {
		static const char *const ip_only[] = { "freebind", "interface", "reuseport" };
		for (i = 0; i < sizeof(ip_only) / sizeof(ip_only[0]); i++)
			if ((line = seen_line(st, ip_only[i])) != 0)
				config_msgs_add(st->msgs, true, st->conf->path,
				    line, "listener %s: %s does not apply to "
				    "unix sockets", lc->name, ip_only[i]);
	}
}

/*
 * Not root, the supervisor can start workers only with the ids it has: a
 * user = or group = asking for others fails them when they start (see
 * child.c). A warning, not an error: `handoff check` may run as another
 * user than the supervisor will.
 */
static void
program_ids_check(struct parse_state *st, const struct program_conf *pc)
{
	const char *key = NULL, *value = NULL;
	gid_t gid = pc->group != NULL ? pc->gid : pc->user_gid;

	if (geteuid() == 0)
		return;
	if (pc->user != NULL && (pc->uid != geteuid() || gid != getegid())) {
		key = "user";
		value = pc->user;
	}
	if (pc->group != NULL && pc->gid != getegid()) {
		key = "group";
		value = pc->group;
	}
	if (key != NULL)
		config_msgs_add(st->msgs, false, st->conf->path,
		    seen_line(st, key), "program %s: %s = %s needs the "
		    "supervisor to run as root (it runs as uid %u): its workers "
		    "would fail to start", pc->name, key, value,
		    (unsigned)geteuid());
}

/* Check a program once its section is complete. */
static void
program_section_finish(struct parse_state *st)
{
	struct program_conf *pc = st->program;

	if (pc->argv == NULL && seen_line(st, "command") == 0 && !st->damaged)
		config_msgs_add(st->msgs, true, st->conf->path, pc->line,
		    "program %s: missing command = PATH [ARGS...]", pc->name);
	pc->listeners_lost = pc->listener_names == NULL &&
	    (st->damaged || seen_line(st, "listeners") != 0);
	if (pc->ready == READY_LISTENING && pc->handoff != HANDOFF_SELF &&
	    !pc->preload)
		config_msgs_add(st->msgs, true, st->conf->path,
		    seen_line(st, "ready"), "program %s: ready = listening "
		    "needs handoff = self (the program binds its own socket) "
		    "or preload = yes (the bind() shim says when it listens)",
		    pc->name);
	if (pc->ready == READY_LOG && pc->output == OUTPUT_DISCARD)
		config_msgs_add(st->msgs, true, st->conf->path,
		    seen_line(st, "ready"), "program %s: ready = log needs the "
		    "workers' output, and output = discard throws it away "
		    "(use output = log)", pc->name);
	program_ids_check(st, pc);
}

/*
 * Note where the open section's text ends: at the line read (the next
 * header; once every line is read, line_at is the end of the text).
 */
static void
section_text_end(struct parse_state *st)
{
	size_t end = st->line_at;
	size_t *at = NULL, *len = NULL;

	if (st->kind == SECTION_LISTENER) {
		at = &st->listener->text_at;
		len = &st->listener->text_len;
	} else if (st->kind == SECTION_PROGRAM) {
		at = &st->program->text_at;
		len = &st->program->text_len;
	} else if (st->kind == SECTION_SUPERVISOR) {
		at = &st->conf->supervisor.text_at;
		len = &st->conf->supervisor.text_len;
	}
	if (at != NULL && end >= st->section_at) {
		*at = st->section_at;
		*len = end - st->section_at;
	}
}

/* Close the open section: check what only the whole section can tell. */
static void
section_finish(struct parse_state *st)
{
	section_text_end(st);
	pending_apply(st);
	/* A command's value ends here, and any quote it left open. */
	st->can_continue = false;
	st->quoting = false;
	st->quote = '\0';
	/* A section taken again was checked when it was parsed. */
	if (st->kind == SECTION_LISTENER && !st->reused)
		listener_section_finish(st);
	else if (st->kind == SECTION_PROGRAM)
		program_section_finish(st);
	st->kind = SECTION_NONE;
	st->listener = NULL;
	st->program = NULL;
	st->nseen = 0;
	st->damaged = false;
	st->reused = false;
}

/*
 * The next blank-separated word at *p, cut to size - 1 characters (the
 * rest of a longer one is the next word), as sscanf's %s reads it; false
 * if only blanks are left.
 */
static bool
section_word(const char **p, char *word, size_t size)
{
	size_t n = 0;

	while (isspace((unsigned char)**p))
		(*p)++;
	if (**p == '\0')
		return false;
	while (**p != '\0' && !isspace((unsigned char)**p) && n < size - 1)
		word[n++] = *(*p)++;
	word[n] = '\0';
	return true;
}

/*
 * Split a section header into its kind, its name and anything after (as
 * sscanf(header, "%31s %255s %1s") would, without its cost on a config of
 * thousands of sections): how many of the three it found, 0 if none.
 */
static int
section_words(const char *header, char *kind, size_t kind_size, char *name,
    size_t name_size, char *extra, size_t extra_size)
{
	const char *p = header;

	if (!section_word(&p, kind, kind_size))
		return 0;
	if (!section_word(&p, name, name_size))
		return 1;
	return section_word(&p, extra, extra_size) ? 3 : 2;
}

/*
 * Copy what the parse of a listener section found from old, the same
 * section parsed for the config in force, into lc: its address and
 * options. What config_finish sets (users, index, the slots of a
 * reuseport program) it sets again. -1 if out of memory (lc unchanged).
 */
static int
listener_conf_take_parsed(struct listener_conf *lc,
    const struct listener_conf *old)
{
	char *listen = NULL, *fd_name = NULL;

	if ((old->listen != NULL && (listen = strdup(old->listen)) == NULL) ||
	    (old->fd_name != NULL && old->fd_name != old->name &&
	    (fd_name = strdup(old->fd_name)) == NULL)) {
		free(listen);
		return -1;
	}
	lc->listen = listen;
	lc->fd_name = fd_name;
	lc->has_listen = old->has_listen;
	lc->addr = old->addr;
	lc->opts = old->opts;
	lc->opts.per_slot = false;
	return 0;
}

/*
 * Note every user and group the config in force looked up as looked up by
 * this parse too, once it takes a section of that config again (which
 * may name some): config_reload then checks them before taking the new
 * config again in turn. They held when this parse began.
 */
static void
section_take_lookups(struct parse_state *st)
{
	const struct config_lookup *lk;
	size_t i;

	if (st->lookups_taken)
		return;
	st->lookups_taken = true;
	for (i = 0; i < st->running->nlookups; i++) {
		lk = &st->running->lookups[i];
		if (looked_up(st, lk->name, lk->group) == NULL)
			note_lookup(st, lk->name, lk->group, lk->uid, lk->gid);
	}
}

/*
 * The listener section just opened (its header read) has the very text
 * of the config in force's section of that name: take that section's
 * parse instead of parsing it again, and have the reader pass over its
 * lines. A config that parsed without a warning (st->running) gives the
 * same result for the same text: a section's keys depend on nothing
 * outside it but the users and groups named (checked still to hold
 * before this parse began) and host names (a config that named one is
 * not taken again). The text must end where that section's did: at the
 * end of the file or on a line opening the next section (one that is
 * read as a header: '[' first, no NUL byte).
 */
static void
section_take_listener(struct parse_state *st)
{
	const struct config *running = st->running;
	const struct listener_conf *old;
	const char *next, *nl;
	size_t at = st->section_at, end;

	if (running == NULL || at != st->line_at ||
	    (old = config_find_listener(running, st->listener->name)) == NULL ||
	    old->in_force || old->text_len == 0 ||
	    old->text_at > running->text_len ||
	    old->text_len > running->text_len - old->text_at ||
	    old->text_len > st->textlen - at)
		return;
	end = at + old->text_len;
	if (memcmp(st->text + at, running->text + old->text_at,
	    old->text_len) != 0)
		return;
	if (end < st->textlen) {
		if (st->text[end - 1] != '\n')
			return;
		for (next = st->text + end; next < st->text + st->textlen &&
		    (*next == ' ' || *next == '\t'); next++)
			;
		if (next == st->text + st->textlen || *next != '[')
			return;
		/* A line with a NUL byte is lost, not read as a header. */
		nl = memchr(next, '\n', (size_t)(st->text + st->textlen - next));
		if (memchr(next, '\0', (size_t)((nl != NULL ? nl : st->text +
		    st->textlen) - next)) != NULL)
			return;
	}
	if (listener_conf_take_parsed(st->listener, old) == -1)
		return;		/* parsed as usual */
	section_take_lookups(st);
	st->reused = true;
	st->skip_to = end;
}

/* Open the section whose header text (between [ and ]) is given. */
static void
section_start(struct parse_state *st, const char *header)
{
	char kind[32], name[256], extra[2];
	const char *name_text;
	int n;

	section_finish(st);
	st->section_line = st->lineno;
	st->kind = SECTION_IGNORED;
	/* Its text starts at its header (after a byte order mark). */
	st->section_at = st->line_at;
	if (st->line_at == 0 && st->textlen >= 3 &&
	    memcmp(st->text, "\xEF\xBB\xBF", 3) == 0)
		st->section_at = 3;

	n = section_words(header, kind, sizeof(kind), name, sizeof(name),
	    extra, sizeof(extra));
	if (n <= 0) {
		parse_error(st, "empty section name []");
		return;
	}
	if (strcmp(kind, "supervisor") == 0) {
		if (n != 1) {
			parse_error(st, "[supervisor] takes no name");
			return;
		}
		if (st->seen_supervisor) {
			parse_error(st, "duplicate section [supervisor] (first at line %d)",
			    st->supervisor_line);
			return;
		}
		st->seen_supervisor = true;
		st->supervisor_line = st->lineno;
		st->kind = SECTION_SUPERVISOR;
		return;
	}
	if (strcmp(kind, "listener") != 0 && strcmp(kind, "program") != 0) {
		parse_error(st, "unknown section [%s] (expected [supervisor], "
		    "[listener NAME] or [program NAME])", header);
		return;
	}
	if (n == 1) {
		parse_error(st, "[%s] needs a name: [%s NAME]", kind, kind);
		return;
	}
	if (n == 3 || !config_valid_name(name)) {
		/* The name as written: what follows the kind and its blanks. */
		name_text = header + strspn(header, " \t") + strlen(kind);
		name_text += strspn(name_text, " \t");
		parse_error(st, "bad %s name '%s' (use 1 to 64 of A-Z a-z 0-9 _ . -)",
		    kind, name_text);
		return;
	}
	if (strcmp(kind, "listener") == 0) {
		struct listener_conf *old = config_find_listener(st->conf, name);
		if (old != NULL) {
			parse_error(st, "duplicate section [listener %s] "
			    "(first at line %d)", name, old->line);
			return;
		}
		st->listener = config_add_listener(st->conf, name, st->lineno);
		if (st->listener == NULL) {
			parse_error(st, "[listener %s]: out of memory", name);
			return;
		}
		st->kind = SECTION_LISTENER;
		section_take_listener(st);
	} else {
		struct program_conf *old = config_find_program(st->conf, name);
		if (old != NULL) {
			parse_error(st, "duplicate section [program %s] "
			    "(first at line %d)", name, old->line);
			return;
		}
		st->program = config_add_program(st->conf, name, st->lineno);
		if (st->program == NULL) {
			parse_error(st, "[program %s]: out of memory", name);
			return;
		}
		st->kind = SECTION_PROGRAM;
	}
}

/* The printable "[...]" of the open section, for messages. */
static void
section_label(const struct parse_state *st, char *buf, size_t len)
{
	if (st->kind == SECTION_LISTENER)
		snprintf(buf, len, "[listener %s]", st->listener->name);
	else if (st->kind == SECTION_PROGRAM)
		snprintf(buf, len, "[program %s]", st->program->name);
	else
		snprintf(buf, len, "[supervisor]");
}

/* Tell whether a key's value may hold %-escapes (expand.h). */
static bool
key_expands(const struct key_def *def)
{
	return def->handler == prog_command || def->handler == prog_env ||
	    def->handler == prog_directory;
}

/*
 * Check the %-escapes of one line of a value of def, at the current line;
 * false (and the error recorded) if one is unknown.
 */
static bool
pending_check_escapes(struct parse_state *st, const struct key_def *def,
    const char *text)
{
	char label[128], bad;

	if (!key_expands(def) || expand_check(text, &bad) == 0)
		return true;
	section_label(st, label, sizeof(label));
	if (bad == '\0')
		parse_error(st, "%s in %s: a lone %% at the end (write %%%% for "
		    "a percent sign)", def->name, label);
	else
		parse_error(st, "%s in %s: unknown %%%c (use %%p, %%g, %%w, or "
		    "%%%% for a percent sign)", def->name, label, bad);
	return false;
}

/* Add a line to the pending value: its first (join false) or a next one. */
static void
pending_add(struct parse_state *st, const char *value, bool join)
{
	size_t n = strlen(value);
	char *text;

	if (st->pending.failed)
		return;
	if (!pending_check_escapes(st, st->pending.def, value)) {
		st->pending.failed = true;
		return;
	}
	if ((text = realloc(st->pending.value, st->pending.len + n + 2)) ==
	    NULL) {
		parse_error(st, "%s: out of memory", st->pending.def->name);
		st->pending.failed = true;
		return;
	}
	if (join)
		text[st->pending.len++] = ' ';
	memcpy(text + st->pending.len, value, n + 1);
	st->pending.value = text;
	st->pending.len += n;
}

/*
 * How much of a value a message shows: a value over many lines is cut
 * (at a character's start), so that the message still ends with what is
 * wrong with it.
 */
#define VALUE_SHOWN_MAX	200

static int
value_shown_len(const char *value)
{
	size_t n = strlen(value);

	if (n <= VALUE_SHOWN_MAX)
		return (int)n;
	n = VALUE_SHOWN_MAX;
	while (n > 0 && ((unsigned char)value[n] & 0xC0) == 0x80)
		n--;
	return (int)n;
}

/*
 * Set the pending value, if any, now that it is whole: the key's handler
 * sees it with every protected ';' restored; errors name the key's line.
 */
static void
pending_apply(struct parse_state *st)
{
	const struct key_def *def = st->pending.def;
	const char *cause = NULL;
	char *p;
	int lineno = st->lineno;

	if (def != NULL && !st->pending.failed) {
		for (p = st->pending.value; *p != '\0'; p++)
			if (*p == CONFIG_SEMICOLON_MARK)
				*p = ';';
			else if (*p == CONFIG_HASH_MARK)
				*p = '#';
		if (key_expands(def) && strchr(st->pending.value, '%') != NULL)
			st->program->expand = true;
		st->lineno = st->pending.line;
		if (def->handler(st, st->pending.value, &cause) == -1)
			parse_error(st, "%s = %.*s%s: %s", def->name,
			    value_shown_len(st->pending.value),
			    st->pending.value, strlen(st->pending.value) >
			    VALUE_SHOWN_MAX ? "..." : "", cause);
		st->lineno = lineno;
	}
	free(st->pending.value);
	memset(&st->pending, 0, sizeof(st->pending));
}

/* inih handler: one key = value of the open section, or a next line of it. */
static int
config_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct parse_state *st = user;
	const struct key_def *defs, *def;
	char label[128];
	int first;

	(void)section;	/* sections are tracked by the reader */
	if (st->continuing) {
		/* An indented line: the value of the key above goes on. */
		if (st->pending.def != NULL)
			pending_add(st, value, true);
		return 1;
	}
	pending_apply(st);
	switch (st->kind) {
	case SECTION_NONE:
		parse_error(st, "%s = ... is outside any section (add "
		    "[supervisor], [listener NAME] or [program NAME] above it)",
		    key);
		return 1;
	case SECTION_IGNORED:
		return 1;
	case SECTION_SUPERVISOR:
		defs = supervisor_keys;
		break;
	case SECTION_LISTENER:
		defs = listener_keys;
		break;
	default:
		defs = program_keys;
		break;
	}
	for (def = defs; def->name != NULL; def++)
		if (strcmp(def->name, key) == 0)
			break;
	if (def->name == NULL) {
		section_label(st, label, sizeof(label));
		parse_error(st, "unknown key '%s' in %s", key, label);
		return 1;
	}
	if (!def->repeatable && (first = seen_line(st, def->name)) != 0) {
		section_label(st, label, sizeof(label));
		parse_error(st, "%s is set twice in %s (first at line %d)",
		    key, label, first);
		return 1;
	}
	if (st->nseen < MAX_SEEN_KEYS) {
		st->seen[st->nseen].key = def->name;
		st->seen[st->nseen].line = st->lineno;
		st->nseen++;
	}
	/* Set once its value is whole: indented lines may follow. */
	st->pending.def = def;
	st->pending.line = st->lineno;
	pending_add(st, value, false);
	return 1;
}

/* A header that cannot be read: close the open section, ignore its keys. */
static void
section_ignore(struct parse_state *st)
{
	section_finish(st);
	st->section_line = st->lineno;
	st->kind = SECTION_IGNORED;
}

/*
 * Check the syntax of one line (leading blanks already removed). Opens a
 * section on a header line. Returns false if the line is bad; the error is
 * recorded and the line must not reach inih.
 */
static bool
config_check_line(struct parse_state *st, char *line)
{
	char *end, *p, header[256];
	size_t len;

	if (*line == '\0' || *line == ';' || *line == '#')
		return true;
	if (*line == '[') {
		end = strchr(line, ']');
		if (end == NULL) {
			parse_error(st, "missing ] in section header");
			section_ignore(st);
			return false;
		}
		for (p = end + 1; *p == ' ' || *p == '\t'; p++)
			;
		if (*p != '\0' && *p != ';' && *p != '#') {
			parse_error(st, "unexpected text after ]");
			section_ignore(st);
			return false;
		}
		len = (size_t)(end - line - 1);
		if (len >= sizeof(header))
			len = sizeof(header) - 1;
		memcpy(header, line + 1, len);
		header[len] = '\0';
		section_start(st, header);
		return true;
	}
	/* inih also splits at ':'; only KEY = VALUE is this file's syntax. */
	p = line + strcspn(line, "=");
	if (*p == '\0' || memchr(line, ':', (size_t)(p - line)) != NULL) {
		parse_error(st, "expected KEY = VALUE or [SECTION], got '%.40s%s'",
		    line, strlen(line) > 40 ? "..." : "");
		return false;
	}
	if (p == line) {
		parse_error(st, "missing key before '%c'", *p);
		return false;
	}
	return true;
}

/*
 * Tell whether line (leading blanks removed) is KEY = ..., KEY a word of
 * letters, digits and '_'; if so, whether KEY is "command".
 */
static bool
config_line_key(const char *line, bool *command)
{
	const char *p = line;

	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (p == line)
		return false;
	*command = (size_t)(p - line) == 7 && strncmp(line, "command", 7) == 0;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '=';
}

/*
 * Where a line's comment starts: a ';' after a blank (inih's inline
 * comments); in a command, one outside quotes, the ';' inside quotes
 * marked so that inih keeps them. NULL if the line has none.
 */
static char *
config_comment(struct parse_state *st, char *line)
{
	char *p;

	if (st->quoting)
		return argv_mark_quoted(line, ';', CONFIG_SEMICOLON_MARK,
		    &st->quote);
	for (p = line; (p = strchr(p, ';')) != NULL; p++)
		if (p > line && (p[-1] == ' ' || p[-1] == '\t'))
			return p;
	return NULL;
}

/*
 * A command line that ends in a backslash outside single quotes goes on as
 * a shell's would: the backslash is dropped before the next line is joined,
 * rather than kept to escape the joining blank. An escaped one stays.
 */
static void
pending_drop_backslash(struct parse_state *st)
{
	size_t n = 0;

	if (!st->quoting || st->quote == '\'' || st->pending.value == NULL)
		return;
	while (n < st->pending.len &&
	    st->pending.value[st->pending.len - 1 - n] == '\\')
		n++;
	if (n % 2 == 1)
		st->pending.value[--st->pending.len] = '\0';
}

/* A line lost to an error: what it held of a value is lost too. */
static char *
config_reader_lost(struct parse_state *st, char *buf)
{
	st->damaged = true;
	st->pending.failed = true;
	st->can_continue = true;	/* its indented lines are lost with it */
	st->continuing = false;
	buf[0] = '\0';
	return buf;
}

/*
 * Read the next line into st->line, its newline kept: from the text in
 * memory when there is one (a copy, as getline from fp would make), else
 * from fp. Its length (NUL bytes included), or -1 at the end, or on an
 * error (st->read_error set).
 */
static ssize_t
config_next_line(struct parse_state *st)
{
	const char *p, *nl;
	ssize_t len;
	size_t n;
	char *line;

	if (st->text == NULL) {
		len = getline(&st->line, &st->linecap, st->fp);
		/* Out of memory is no end of file: the rest was not read. */
		if (len == -1 && !feof(st->fp))
			st->read_error = errno != 0 ? errno : EIO;
		return len;
	}
	if (st->pos >= st->textlen)
		return -1;
	st->line_at = st->pos;
	p = st->text + st->pos;
	nl = memchr(p, '\n', st->textlen - st->pos);
	n = nl != NULL ? (size_t)(nl - p) + 1 : st->textlen - st->pos;
	if (n >= st->linecap) {
		if ((line = realloc(st->line, n + 1)) == NULL) {
			st->read_error = ENOMEM;
			return -1;
		}
		st->line = line;
		st->linecap = n + 1;
	}
	memcpy(st->line, p, n);
	st->line[n] = '\0';
	st->pos += n;
	return (ssize_t)n;
}

/*
 * inih reader: hand inih the next line, counting lines. inih's buffer holds
 * num bytes; a longer line is an error, never split. Leading blanks are
 * removed from KEY = VALUE lines; an indented line of any other text after
 * one continues its value, and goes to inih with one blank before it, so
 * that inih passes it on as the next line of that value (its multi-line
 * values). In a command, a ';' inside quotes is protected from inih's
 * comments.
 */
static char *
config_reader(char *buf, int num, void *user)
{
	struct parse_state *st = user;
	bool indented, in_quote, is_key, command = false;
	ssize_t len;
	char *line, *comment, *p;

	/* A line of a section taken again: counted, not read. */
	if (st->pos < st->skip_to) {
		st->line_at = st->pos;
		st->pos = (p = memchr(st->text + st->pos, '\n', st->skip_to -
		    st->pos)) != NULL ? (size_t)(p - st->text) + 1 : st->skip_to;
		st->lineno++;
		memcpy(buf, ";\n", 3);
		return buf;
	}
	if ((len = config_next_line(st)) == -1)
		return NULL;
	st->lineno++;
	line = st->line;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (strlen(line) != (size_t)len) {
		parse_error(st, "line contains a NUL byte");
		return config_reader_lost(st, buf);
	}
	/* A byte order mark, as some editors write, is not part of the text. */
	if (st->lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3;
		len -= 3;
	}
	indented = *line == ' ' || *line == '\t';
	while (*line == ' ' || *line == '\t') {
		line++;
		len--;
	}
	/*
	 * An indented line inside a quote a command left open is text of
	 * the command whatever it starts with (';', '#', '[', KEY = VALUE),
	 * as in a shell.
	 */
	in_quote = indented && st->quoting && st->quote != '\0' &&
	    st->can_continue;
	/*
	 * Other white space that inih skips (a form feed, a CR) goes too,
	 * outside a quote: inih takes a line it sees start with some for the
	 * next line of the last value it read, whatever the section, and
	 * that is inih's state, which a section taken again does not set
	 * (section_take_listener). Indented still means with blanks.
	 */
	while (!in_quote && isspace((unsigned char)*line)) {
		line++;
		len--;
	}
	/*
	 * Blank lines, comments and section headers are handled here and
	 * never reach inih (it sees a comment), so its buffer does not limit
	 * them. A value goes on after blank and comment lines, as in inih.
	 */
	if (*line == '\0' ||
	    (!in_quote && (*line == ';' || *line == '#' || *line == '['))) {
		config_check_line(st, line);
		memcpy(buf, ";\n", 3);
		return buf;
	}
	is_key = !in_quote && config_line_key(line, &command);
	st->continuing = indented && st->can_continue && !is_key;
	if (st->continuing && st->pending.failed)
		return config_reader_lost(st, buf);
	if (st->continuing)
		pending_drop_backslash(st);
	if (!st->continuing) {
		pending_apply(st);
		st->can_continue = false;
		st->quote = '\0';
	}
	/* A lost KEY = VALUE line: do not also report its key as missing. */
	if (len + 2 + st->continuing > num) {
		parse_error(st, "line too long (%zd characters, at most %d)",
		    len, num - 2 - st->continuing);
		return config_reader_lost(st, buf);
	}
	if (memchr(line, CONFIG_SEMICOLON_MARK, (size_t)len) != NULL ||
	    memchr(line, CONFIG_HASH_MARK, (size_t)len) != NULL) {
		parse_error(st, "line contains the control character 0x%02x",
		    memchr(line, CONFIG_SEMICOLON_MARK, (size_t)len) != NULL ?
		    CONFIG_SEMICOLON_MARK : CONFIG_HASH_MARK);
		return config_reader_lost(st, buf);
	}
	if (!st->continuing && !config_check_line(st, line))
		return config_reader_lost(st, buf);
	if (!st->continuing)
		st->quoting = command;
	/* inih does not look for comments in the next lines of a value. */
	comment = config_comment(st, line);
	/*
	 * inih would take the line for a comment (its ';' is marked above):
	 * it skips any isspace() byte, a form feed too, before looking.
	 */
	if (in_quote) {
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '#')
			*p = CONFIG_HASH_MARK;
	}
	if (st->continuing && comment != NULL) {
		*comment = '\0';
		len = (ssize_t)strlen(line);
		while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
	}
	st->can_continue = true;
	/* len + 2 (+ 1) <= num: the line, its newline and the NUL fit. */
	if (st->continuing)
		*buf++ = ' ';
	memcpy(buf, line, (size_t)len);
	memcpy(buf + len, "\n", 2);
	return buf - st->continuing;
}

/* ---- whole-config checks --------------------------------------------- */

/*
 * Classes of listening addresses. Two listeners cannot both be bound when
 * one is in a class the other conflicts with (config_classes_of), unless
 * both are IP listeners with reuseport. Each class remembers its first
 * members, so that finding the first earlier listener an address conflicts
 * with takes a few lookups, however many listeners there are.
 */
enum config_class {
	CONFIG_CLASS_EXACT,	/* one IP address and port of a socket type */
	CONFIG_CLASS_FAMILY,	/* any address of a family, on a port */
	CONFIG_CLASS_WILDCARD,	/* 0.0.0.0 or [::], on a port */
	CONFIG_CLASS_DUAL,	/* [::] taking IPv4 too (v6only not set) */
	CONFIG_CLASS_PATH,	/* a unix socket file, whatever the type */
	CONFIG_CLASS_ABSTRACT,	/* an abstract unix name of a socket type */
};

/* A class, and the family it stands for (IP classes). */
struct config_class_ref {
	enum config_class class;
	int		 family;
};

/* The first members of a class, in config order. */
struct config_class_first {
	const struct listener_conf *any;
	const struct listener_conf *plain;	/* the first without reuseport */
};

/* The classes of the listeners checked so far. */
struct config_classes {
	struct hashmap	*map;		/* class key -> config_class_first */
	struct config_class_first *pool;	/* 4 per listener at most */
	size_t		 used;
};

#define CONFIG_CLASS_KEY_MAX	(2 + sizeof(struct sockaddr_storage))
#define CONFIG_CLASS_REFS_MAX	4

/* Tell whether a listener is on the IPv4 or IPv6 wildcard address. */
static bool
config_is_wildcard(const struct listener_conf *lc)
{
	const struct addr *a = &lc->addr;

	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
	    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

/*
 * The classes lc is a member of (against false) or conflicts with (true),
 * in refs (CONFIG_CLASS_REFS_MAX); returns how many. A port 0 listener
 * gets a port of its own: none.
 */
static size_t
config_classes_of(const struct listener_conf *lc, bool against,
    struct config_class_ref *refs)
{
	const struct addr *a = &lc->addr;
	int family = a->ss.ss_family;
	bool wildcard, dual;
	size_t n = 0;

	if (addr_is_unix(a)) {
		refs[n].class = addr_is_abstract(a) ? CONFIG_CLASS_ABSTRACT :
		    CONFIG_CLASS_PATH;
		refs[n++].family = AF_UNIX;
		return n;
	}
	if (addr_port(a) == 0)
		return 0;
	wildcard = config_is_wildcard(lc);
	dual = family == AF_INET6 && wildcard && lc->opts.v6only != 1;
	if (!against || !wildcard) {
		refs[n].class = CONFIG_CLASS_EXACT;
		refs[n++].family = family;
	}
	if (!against || wildcard) {
		refs[n].class = CONFIG_CLASS_FAMILY;
		refs[n++].family = family;
	}
	if (against ? !wildcard : wildcard) {
		refs[n].class = CONFIG_CLASS_WILDCARD;
		refs[n++].family = family;
	}
	if (!against && dual) {
		refs[n].class = CONFIG_CLASS_DUAL;
		refs[n++].family = AF_INET6;
	}
	/* IPv4 beside IPv6: only a dual-stack [::] wildcard takes both. */
	if (against && dual) {
		refs[n].class = CONFIG_CLASS_FAMILY;
		refs[n++].family = AF_INET;
	}
	if (against && family == AF_INET) {
		refs[n].class = CONFIG_CLASS_DUAL;
		refs[n++].family = AF_INET6;
	}
	return n;
}

/* The key of lc's address under a class, in buf; returns its length. */
static size_t
config_class_key(const struct config_class_ref *ref,
    const struct listener_conf *lc, unsigned char *buf)
{
	const struct addr *a = &lc->addr;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
	uint16_t port;
	size_t n = 0, len;

	buf[n++] = (unsigned char)ref->class;
	if (ref->class == CONFIG_CLASS_PATH) {
		len = strnlen(sun->sun_path, sizeof(sun->sun_path));
		memcpy(buf + n, sun->sun_path, len);
		return n + len;
	}
	buf[n++] = (unsigned char)addr_socktype(a);
	if (ref->class == CONFIG_CLASS_ABSTRACT) {
		len = a->len < sizeof(a->ss) ? a->len : sizeof(a->ss);
		memcpy(buf + n, &a->ss, len);
		return n + len;
	}
	port = (uint16_t)addr_port(a);
	memcpy(buf + n, &port, sizeof(port));
	n += sizeof(port);
	buf[n++] = ref->family == AF_INET ? 4 : 6;
	if (ref->class != CONFIG_CLASS_EXACT)
		return n;
	if (ref->family == AF_INET) {
		memcpy(buf + n, &((const struct sockaddr_in *)&a->ss)->sin_addr,
		    4);
		return n + 4;
	}
	memcpy(buf + n, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
	return n + 16;
}

/*
 * The first listener checked so far that lc cannot be bound beside, or
 * NULL: of the classes lc conflicts with, the earliest member (without
 * reuseport if lc has it: two IP listeners with reuseport share a port).
 */
static const struct listener_conf *
config_classes_conflict(const struct config_classes *cc,
    const struct listener_conf *lc)
{
	struct config_class_ref refs[CONFIG_CLASS_REFS_MAX];
	unsigned char key[CONFIG_CLASS_KEY_MAX];
	const struct config_class_first *first;
	const struct listener_conf *other, *best = NULL;
	size_t n, i;

	n = config_classes_of(lc, true, refs);
	for (i = 0; i < n; i++) {
		first = hashmap_get(cc->map, key, config_class_key(&refs[i], lc,
		    key));
		if (first == NULL)
			continue;
		other = lc->opts.reuseport && !addr_is_unix(&lc->addr) ?
		    first->plain : first->any;
		if (other != NULL && (best == NULL || other->index < best->index))
			best = other;
	}
	return best;
}

/* Add lc to the classes it is a member of; -1 if out of memory. */
static int
config_classes_add(struct config_classes *cc, const struct listener_conf *lc)
{
	struct config_class_ref refs[CONFIG_CLASS_REFS_MAX];
	unsigned char key[CONFIG_CLASS_KEY_MAX];
	struct config_class_first *first;
	size_t n, i, len;

	n = config_classes_of(lc, false, refs);
	for (i = 0; i < n; i++) {
		len = config_class_key(&refs[i], lc, key);
		if ((first = hashmap_get(cc->map, key, len)) == NULL) {
			first = &cc->pool[cc->used++];
			first->any = first->plain = NULL;
			if (hashmap_put(cc->map, key, len, first) == -1)
				return -1;
		}
		if (first->any == NULL)
			first->any = lc;
		if (first->plain == NULL && !lc->opts.reuseport)
			first->plain = lc;
	}
	return 0;
}

/*
 * Report that listener lc's address conflicts with other's, an earlier
 * one. Either may be a listener of the other programs that a reload of
 * one program keeps as in force (in_force): it has no line in the file,
 * and only a reload of every program can rename or move it.
 */
static void
config_conflict_error(const struct config *conf, struct config_msgs *msgs,
    const struct listener_conf *lc, const struct listener_conf *other)
{
	const struct listener_conf *swap;
	char where[32];

	/*
	 * Said at the file's listener, naming the one in force as such: the
	 * file may give the one in force another address, or none.
	 */
	if (lc->in_force && !other->in_force) {
		swap = lc;
		lc = other;
		other = swap;
	}
	if (other->in_force)
		snprintf(where, sizeof(where), "in force");
	else
		snprintf(where, sizeof(where), "line %d", other->line);
	config_msgs_add(msgs, true, conf->path, lc->line, "listener %s: %s "
	    "conflicts with listener %s (%s, %s); two listeners cannot share "
	    "an address%s", lc->name, lc->listen, other->name, other->listen,
	    where, lc->in_force || other->in_force ? ". A reload of one "
	    "program keeps the listeners other programs use as they are in "
	    "force: renaming or replacing one of them needs a reload of every "
	    "program (handoff reload without a program name)" : "");
}

/*
 * Report every listener whose address conflicts with an earlier one's
 * (naming the first of them). -1 if out of memory.
 */
static int
config_check_conflicts(struct config *conf, struct config_msgs *msgs)
{
	struct config_classes cc;
	const struct listener_conf *lc, *other;
	int rc = -1;

	/* Only what is used is touched: listeners on port 0 take no room. */
	cc.used = 0;
	cc.map = hashmap_new(0);
	cc.pool = reallocarray(NULL,
	    conf->nlisteners * CONFIG_CLASS_REFS_MAX + 1, sizeof(*cc.pool));
	if (cc.map == NULL || cc.pool == NULL)
		goto done;
	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (!lc->has_listen)
			continue;
		if ((other = config_classes_conflict(&cc, lc)) != NULL)
			config_conflict_error(conf, msgs, lc, other);
		if (config_classes_add(&cc, lc) == -1)
			goto done;
	}
	rc = 0;
done:
	hashmap_free(cc.map);
	free(cc.pool);
	return rc;
}

/* The first program of conf using lc in self mode (want) or not; or NULL. */
static const struct program_conf *
config_self_user(const struct config *conf, const struct listener_conf *lc,
    bool want)
{
	const struct program_conf *pc;
	size_t i;

	TAILQ_FOREACH(pc, &conf->programs, entry)
		for (i = 0; i < pc->nlisteners; i++)
			if (pc->listeners[i] == lc &&
			    (pc->handoff == HANDOFF_SELF) == want)
				return pc;
	return NULL;
}

/*
 * handoff = self: its programs bind their listeners' addresses themselves
 * (SO_REUSEPORT), so a listener of theirs is no socket of the supervisor:
 * it cannot serve another program's workers too, it must be TCP or UDP on
 * a port known in advance (a unix socket is not shared by SO_REUSEPORT).
 * Marks those listeners self and numbers the others among themselves
 * (listener_set_for finds a listener by that number).
 */
static void
config_check_self(struct config *conf, struct config_msgs *msgs)
{
	const struct program_conf *pc, *other;
	struct listener_conf *lc;
	size_t i, bound = 0;

	TAILQ_FOREACH(pc, &conf->programs, entry) {
		if ((pc->handoff == HANDOFF_SELF || pc->preload) &&
		    pc->ready == READY_LISTENING && pc->nlisteners == 0)
			config_msgs_add(msgs, true, conf->path, pc->line,
			    "program %s: ready = listening needs listeners = "
			    "(the addresses its workers listen on)", pc->name);
		for (i = 0; pc->handoff == HANDOFF_SELF && i < pc->nlisteners;
		    i++) {
			if ((lc = pc->listeners[i]) == NULL)
				continue;
			lc->self = true;
			if (lc->has_listen && addr_is_unix(&lc->addr))
				config_msgs_add(msgs, true, conf->path,
				    pc->listeners_line, "program %s: handoff = "
				    "self needs TCP or UDP listeners, and %s is a "
				    "unix socket (SO_REUSEPORT does not share one; "
				    "use handoff = inherit for it)", pc->name,
				    lc->name);
			else if (lc->has_listen && addr_port(&lc->addr) == 0)
				config_msgs_add(msgs, true, conf->path,
				    pc->listeners_line, "program %s: handoff = "
				    "self needs a fixed port on listener %s (the "
				    "program binds it itself, and handoff looks for "
				    "it there)", pc->name, lc->name);
		}
	}
	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (lc->self && (other = config_self_user(conf, lc,
		    false)) != NULL) {
			pc = config_self_user(conf, lc, true);
			config_msgs_add(msgs, true, conf->path,
			    other->listeners_line ? other->listeners_line :
			    other->line, "program %s: listener %s is bound by "
			    "program %s itself (handoff = self): the supervisor "
			    "has no socket of it for program %s (handoff = %s)",
			    other->name, lc->name, pc->name, other->name,
			    handoff_mode_name(other->handoff));
		}
		lc->index = lc->self ? LISTENER_CONF_UNBOUND : bound++;
	}
}

/*
 * Warn of two listeners of pc that a worker would know by the same name
 * in LISTEN_FDNAMES: a server that picks its sockets by name cannot tell
 * them apart. Of such pairs, the one named is the one whose first
 * listener comes first in the program (then the second), as the
 * listeners = key lists them.
 */
static void
config_check_fd_names(const struct config *conf, const struct program_conf *pc,
    struct config_msgs *msgs)
{
	struct name_table t;
	const struct listener_conf *lc;
	size_t i, earlier, first = SIZE_MAX, second = 0;

	memset(&t, 0, sizeof(t));
	for (i = 0; i < pc->nlisteners && i < MAX_LISTENERS_PER_PROGRAM; i++) {
		if ((lc = pc->listeners[i]) == NULL)
			continue;
		earlier = name_table_add(&t, lc->fd_name, i);
		if (earlier != SIZE_MAX && earlier < first &&
		    pc->listeners[earlier] != lc) {
			first = earlier;
			second = i;
		}
	}
	if (first == SIZE_MAX)
		return;
	config_msgs_add(msgs, false, conf->path,
	    pc->listeners_line ? pc->listeners_line : pc->line,
	    "program %s: listeners %s and %s have the same "
	    "fd_name '%s', so LISTEN_FDNAMES cannot tell them "
	    "apart (give one another fd_name =)", pc->name,
	    pc->listeners[first]->name, pc->listeners[second]->name,
	    pc->listeners[first]->fd_name);
}

/*
 * Check the config as a whole: resolve program listeners, find address
 * conflicts and unused listeners, fill defaults. Used for files and for the
 * command line alike. Returns -1 if any error was found.
 */
int
config_finish(struct config *conf, struct config_msgs *msgs)
{
	struct listener_conf *lc;
	struct program_conf *pc;
	size_t errors = msgs->nerrors, i;
	bool nomem = false, use_unknown = false;

	if (conf->supervisor.name == NULL &&
	    (conf->supervisor.name = strdup("handoff")) == NULL) {
		config_msgs_add(msgs, true, conf->path, 0, "out of memory");
		return -1;
	}
	if (conf->supervisor.control == NULL)
		config_default_paths(conf->supervisor.name,
		    &conf->supervisor.control, NULL);
	if (conf->supervisor.pidfile == NULL)
		config_default_paths(conf->supervisor.name, NULL,
		    &conf->supervisor.pidfile);
	if (conf->supervisor.control == NULL || conf->supervisor.pidfile == NULL) {
		config_msgs_add(msgs, true, conf->path, 0, "out of memory");
		return -1;
	}

	/* A name index is dropped when it cannot be kept whole. */
	if (conf->listener_names == NULL || conf->program_names == NULL)
		nomem = true;
	/* Without fd_name = its name, shared (config_free knows). */
	TAILQ_FOREACH(lc, &conf->listeners, entry)
		if (lc->fd_name == NULL)
			lc->fd_name = lc->name;
	if (config_check_conflicts(conf, msgs) == -1)
		nomem = true;

	if (TAILQ_EMPTY(&conf->programs))
		config_msgs_add(msgs, true, conf->path, 0,
		    "no [program NAME] section: nothing to run");
	TAILQ_FOREACH(pc, &conf->programs, entry) {
		free(pc->listeners);
		pc->listeners = calloc(pc->nlisteners + 1, sizeof(*pc->listeners));
		if (pc->listeners == NULL) {
			nomem = true;
			continue;
		}
		for (i = 0; i < pc->nlisteners; i++) {
			lc = config_find_listener(conf, pc->listener_names[i]);
			if (lc == NULL) {
				config_msgs_add(msgs, true, conf->path,
				    pc->listeners_line ? pc->listeners_line : pc->line,
				    "program %s: unknown listener '%s' (no "
				    "[listener %s] section)", pc->name,
				    pc->listener_names[i], pc->listener_names[i]);
				continue;
			}
			pc->listeners[i] = lc;
			lc->users++;
			/* A unix listener is shared, as in inherit mode. */
			if (pc->handoff == HANDOFF_REUSEPORT && lc->has_listen &&
			    !addr_is_unix(&lc->addr)) {
				lc->opts.per_slot = true;
				lc->slots = pc->workers;
				lc->slot_program = pc->name;
			}
		}
		config_check_fd_names(conf, pc, msgs);
		if (pc->group != NULL)
			continue;
		pc->gid = pc->user_gid;
	}
	/* A program's lost listeners = line may have used any of them. */
	TAILQ_FOREACH(pc, &conf->programs, entry)
		if (pc->listeners_lost)
			use_unknown = true;
	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (lc->users == 0 && !use_unknown)
			config_msgs_add(msgs, false, conf->path, lc->line,
			    "listener %s is not used by any program", lc->name);
		else if (lc->opts.per_slot && lc->users > 1)
			config_msgs_add(msgs, true, conf->path, lc->line,
			    "listener %s is used by %d programs, and program "
			    "%s runs it in reuseport mode: its sockets, one per "
			    "worker, serve that program alone (give each "
			    "program a listener of its own)", lc->name,
			    lc->users, lc->slot_program);
	}
	if (!nomem)
		config_check_self(conf, msgs);
	if (nomem)
		config_msgs_add(msgs, true, conf->path, 0, "out of memory");
	return msgs->nerrors > errors ? -1 : 0;
}

/*
 * Tell whether a program of conf overlaps SO_REUSEPORT sockets (reuseport
 * and self modes): closing one of them loses its queue without migration.
 */
bool
config_needs_migration(const struct config *conf)
{
	const struct program_conf *pc;

	TAILQ_FOREACH(pc, &conf->programs, entry)
		if (pc->handoff != HANDOFF_INHERIT)
			return true;
	return false;
}

/* Tell whether a listener of conf is at a host name (looked up by a parse). */
bool
config_names_hosts(const struct config *conf)
{
	const struct listener_conf *lc;

	TAILQ_FOREACH(lc, &conf->listeners, entry)
		if (lc->addr.named)
			return true;
	return false;
}

/* Tell whether a program of conf runs in mode. */
bool
config_has_mode(const struct config *conf, enum handoff_mode mode)
{
	const struct program_conf *pc;

	TAILQ_FOREACH(pc, &conf->programs, entry)
		if (pc->handoff == mode)
			return true;
	return false;
}

static struct config *config_parse_stream(const char *path, FILE *fp,
		    char *text, size_t len, const struct config *running,
		    struct config_msgs *msgs);

/* Note the file (its device and inode, owner and mode) conf was read from. */
static void
config_set_file(struct config *conf, const struct stat *file)
{
	conf->file_dev = file->st_dev;
	conf->file_ino = file->st_ino;
	conf->file_uid = file->st_uid;
	conf->file_gid = file->st_gid;
	conf->file_mode = file->st_mode;
}

/*
 * Warn if a user other than the supervisor's (or root) can write the
 * config file at path (file: its fstat): whoever writes it chooses the
 * commands the supervisor runs, and as whom. Its owner, its group (unless
 * the supervisor's own or root's) if the mode lets the group write, or
 * anyone if it lets others. True if it warned.
 */
static bool
config_check_file_writers(const char *path, const struct stat *file,
    struct config_msgs *msgs)
{
	uid_t euid = geteuid();
	const char *fix = "whoever writes it chooses the commands the "
	    "supervisor runs";

	if (file->st_mode & S_IWOTH) {
		config_msgs_add(msgs, false, path, 0, "any user can write this "
		    "file (mode %04o): %s (chmod o-w)",
		    (unsigned int)(file->st_mode & 07777), fix);
		return true;
	}
	if (file->st_uid != euid && file->st_uid != 0) {
		config_msgs_add(msgs, false, path, 0, "this file is owned by "
		    "uid %u, neither root nor uid %u reading it: %s (chown "
		    "it)", (unsigned int)file->st_uid, (unsigned int)euid, fix);
		return true;
	}
	if ((file->st_mode & S_IWGRP) && file->st_gid != getegid() &&
	    file->st_gid != 0) {
		config_msgs_add(msgs, false, path, 0, "group %u can write this "
		    "file (mode %04o), not only its owner: %s (chmod g-w)",
		    (unsigned int)file->st_gid,
		    (unsigned int)(file->st_mode & 07777), fix);
		return true;
	}
	return false;
}

/*
 * Load and check a config file. Returns the config, or NULL if there was
 * any error; either way every message is in msgs, in line order.
 */
struct config *
config_load(const char *path, struct config_msgs *msgs)
{
	return config_reload(path, NULL, NULL, msgs);
}

/*
 * Tell whether conf, a config read from a file (running or prepared), can
 * stand for the file's text now (len bytes; file its fstat): read from
 * the same file (by device and inode: the path may be spelled another
 * way, and a config carried across an upgrade has the file's identity
 * too), of the same owner, group and mode (config_check_file_writers
 * may have something to say now), holding the very text, and reusable
 * (config_parse_stream: its parse warned of nothing, as a parse says its
 * warnings each time, and named no host, as a name is looked up afresh).
 * Its users and groups are checked by the caller.
 */
static bool
config_same_text(const struct config *conf, const struct stat *file,
    const char *text, size_t len)
{
	return conf != NULL && conf->reusable && conf->text != NULL &&
	    text != NULL && conf->file_ino == file->st_ino &&
	    conf->file_dev == file->st_dev && conf->file_uid == file->st_uid &&
	    conf->file_gid == file->st_gid &&
	    conf->file_mode == file->st_mode && len == conf->text_len &&
	    memcmp(text, conf->text, len) == 0;
}

/*
 * Load path for a reload. The running config, or else prepared (the file
 * read ahead of the reload, when it was written), is taken again (one
 * more reference) if it stands for the file's text now
 * (config_same_text) and each user and group it names is still what it
 * was. Else, or with both NULL, the file is parsed (errors and warnings
 * in msgs); each listener section of the running config whose text is
 * unchanged is taken again rather than parsed (a reload's cost follows
 * what changed). The config taken again keeps the path it was read
 * under, for its messages.
 */
struct config *
config_reload(const char *path, struct config *running,
    struct config *prepared, struct config_msgs *msgs)
{
	struct config *conf, *same;
	struct stat file;
	char *text, msg[256];
	const char *why;
	size_t len = 0;
	bool unsafe;
	FILE *fp;
	int err;

	fp = config_open(path, &text, &why, &err, &file);
	if (fp == NULL) {
		config_open_error(why, err, msg, sizeof(msg));
		config_msgs_add(msgs, true, path, 0, "%s", msg);
		return NULL;
	}
	if (text != NULL && fseek(fp, 0, SEEK_END) == 0) {
		len = (size_t)ftell(fp);
		rewind(fp);
	}
	/* A config whose lookups changed stands for no text, nor sections. */
	if (running != NULL && (!running->reusable || running->text == NULL ||
	    !config_lookups_hold(running)))
		running = NULL;
	/* The one read ahead only if the one in force does not do. */
	if (config_same_text(running, &file, text, len))
		same = running;
	else if (config_same_text(prepared, &file, text, len) &&
	    config_lookups_hold(prepared))
		same = prepared;
	else
		same = NULL;
	if (same != NULL) {
		fclose(fp);
		free(text);
		return config_ref(same);
	}
	unsafe = config_check_file_writers(path, &file, msgs);
	if ((conf = config_parse_stream(path, fp, text, len, running,
	    msgs)) != NULL) {
		config_set_file(conf, &file);
		/* Said at each reload, as the parse's own warnings are. */
		if (unsafe)
			conf->reusable = false;
	}
	return conf;
}

/*
 * Parse a config from text in memory (the config in force, carried
 * across an upgrade), named path in messages and for reloads.
 */
struct config *
config_load_text(const char *path, const char *text, size_t len,
    struct config_msgs *msgs)
{
	struct config *conf;
	struct stat file;
	char *copy;
	FILE *fp;

	if ((copy = malloc(len + 1)) == NULL) {
		config_msgs_add(msgs, true, path, 0, "out of memory");
		return NULL;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	if ((fp = len == 0 ? fopen("/dev/null", "re") :
	    fmemopen(copy, len, "r")) == NULL) {
		free(copy);
		config_msgs_add(msgs, true, path, 0, "out of memory");
		return NULL;
	}
	conf = config_parse_stream(path, fp, copy, len, NULL, msgs);
	/*
	 * The file it names, for config_reload: its text may differ now; one
	 * that others can write is warned of at the next reload.
	 */
	if (conf != NULL && stat(path, &file) == 0) {
		config_set_file(conf, &file);
		if (config_check_file_writers(path, &file, msgs))
			conf->reusable = false;
	}
	return conf;
}

/*
 * How many headers starting with header ("[listener") text (len bytes)
 * seems to hold, to size a name index once: a header at the start of a
 * line, after blanks. A wrong count costs only the table's growth.
 */
static size_t
config_count_sections(const char *text, size_t len, const char *header)
{
	const char *p, *end = text + len, *q;
	size_t n = 0, hlen = strlen(header);

	/* A '[' is rare but in headers. */
	for (p = text; p < end && (p = memchr(p, '[', (size_t)(end - p))) !=
	    NULL; p++) {
		for (q = p; q > text && (q[-1] == ' ' || q[-1] == '\t'); q--)
			;
		if ((q == text || q[-1] == '\n') && (size_t)(end - p) >= hlen &&
		    memcmp(p, header, hlen) == 0)
			n++;
	}
	return n;
}

/*
 * Parse the config fp reads (over text, len bytes, which the config keeps
 * as the text in force); closes fp and takes text. Listener sections of
 * running (NULL: none) whose text did not change are taken again.
 */
static struct config *
config_parse_stream(const char *path, FILE *fp, char *text, size_t len,
    const struct config *running, struct config_msgs *msgs)
{
	struct parse_state st;
	struct config *conf;
	size_t errors = msgs->nerrors, warnings = msgs->nwarnings;
	int rc;

	memset(&st, 0, sizeof(st));
	st.msgs = msgs;
	st.fp = fp;
	/* Lines come from text straight, not through fp's stdio. */
	if (text != NULL && len > 0) {
		st.text = text;
		st.textlen = len;
		st.running = running;
	}
	if ((conf = config_new_sized(path, text != NULL ?
	    config_count_sections(text, len, "[listener") : 0, text != NULL ?
	    config_count_sections(text, len, "[program") : 0)) == NULL) {
		config_msgs_add(msgs, true, path, 0, "out of memory");
		fclose(st.fp);
		free(text);
		return NULL;
	}
	st.conf = conf;
	rc = ini_parse_stream(config_reader, &st, config_handler, &st);
	if (ferror(st.fp) && st.read_error == 0)
		st.read_error = errno;
	if (st.read_error == ENOMEM || rc == -2)
		config_msgs_add(msgs, true, path, 0, "out of memory");
	else if (st.read_error != 0)
		config_msgs_add(msgs, true, path, 0, "read error: %s",
		    strerror(st.read_error));
	else if (rc > 0 && msgs->nerrors == errors)
		config_msgs_add(msgs, true, path, rc, "syntax error");
	st.line_at = st.textlen;	/* the last section ends with the text */
	section_finish(&st);
	free(st.line);
	fclose(st.fp);
	conf->text = text;
	conf->text_len = text != NULL ? len : 0;

	config_finish(conf, msgs);
	config_msgs_sort(msgs, strlen(path));
	if (msgs->nerrors > errors) {
		config_free(conf);
		return NULL;
	}
	conf->reusable = text != NULL && !st.not_reusable &&
	    msgs->nwarnings == warnings;
	return conf;
}
