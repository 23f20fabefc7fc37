/*
 * config.h: the configuration, as parsed from an INI file (or built from the
 * command line by `handoff run --listen`). No sockets, no processes here.
 */
#ifndef HANDOFF_CONFIG_H
#define HANDOFF_CONFIG_H

#include <net/if.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <regex.h>

#include "addr.h"
#include "log.h"

struct hashmap;

/* Socket options of a listener: plain data, compared field by field. */
struct listener_opts {
	int		backlog;
	bool		reuseport;
	int		v6only;		/* -1 kernel default, 0 off, 1 on */
	bool		freebind;
	bool		defer_accept;
	bool		nodelay;
	char		interface[IF_NAMESIZE];	/* "" for none */
	mode_t		mode;		/* unix socket file; (mode_t)-1 unset */
	uid_t		owner;		/* (uid_t)-1 unset */
	gid_t		group;		/* (gid_t)-1 unset */
	/*
	 * Not a key of its own: set by config_finish for a TCP or UDP
	 * listener of a reuseport program, which gets one SO_REUSEPORT
	 * socket per worker slot.
	 */
	bool		per_slot;
};

/* [listener NAME] */
struct listener_conf {
	TAILQ_ENTRY(listener_conf) entry;
	char		*name;
	char		*fd_name;	/* LISTEN_FDNAMES name (name if not set) */
	char		*listen;	/* the address as written */
	int		 line;		/* of the section header; 0: none */
	/*
	 * Merged from the config in force by a reload of one program (its
	 * other programs' listeners): it has no line in the file read now.
	 */
	bool		 in_force;
	size_t		 text_at;	/* its section in the config's text */
	size_t		 text_len;
	/*
	 * Its position in the config's listeners; once config_finish has
	 * run, among those the supervisor binds (a self listener has
	 * LISTENER_CONF_UNBOUND).
	 */
	size_t		 index;
	bool		 has_listen;
	bool		 self;		/* its programs bind it (handoff = self) */
	struct addr	 addr;
	struct listener_opts opts;
	int		 users;		/* programs naming it */
	int		 slots;		/* per_slot: sockets, one per worker */
	const char	*slot_program;	/* per_slot: the program they serve */
};
TAILQ_HEAD(listener_conf_list, listener_conf);
#define LISTENER_CONF_UNBOUND	((size_t)-1)	/* index of a self listener */

enum handoff_mode {
	HANDOFF_INHERIT = 0,
	HANDOFF_REUSEPORT,
	HANDOFF_SELF,
};

enum ready_mode {
	READY_NOTIFY = 0,
	READY_DELAY,
	READY_LISTENING,
	READY_LOG,
};

enum restart_policy {
	RESTART_ALWAYS = 0,
	RESTART_ON_FAILURE,
	RESTART_NEVER,
};

/* Where a worker's stdout and stderr go. */
enum output_mode {
	OUTPUT_LOG = 0,		/* the supervisor's log, a line at a time */
	OUTPUT_DISCARD,		/* /dev/null */
};

/* [program NAME] */
struct program_conf {
	TAILQ_ENTRY(program_conf) entry;
	char		*name;
	int		 line;		/* of the section header */
	size_t		 text_at;	/* its section in the config's text */
	size_t		 text_len;
	char		*command;	/* as written */
	char		**argv;		/* command split into words */
	char		**listener_names;
	int		 listeners_line;	/* of the listeners key */
	/*
	 * Its listeners = line was lost to an error (or may have been: a
	 * line of the section was): which listeners it uses is not known.
	 */
	bool		 listeners_lost;
	struct listener_conf **listeners;	/* resolved, same order */
	size_t		 nlisteners;
	int		 workers;
	enum handoff_mode handoff;
	enum ready_mode	 ready;
	uint64_t	 ready_delay_ms;	/* READY_DELAY */
	char		*ready_log;	/* READY_LOG: the pattern as written */
	regex_t		*ready_log_re;	/* READY_LOG: compiled (REG_EXTENDED) */
	uint64_t	 ready_timeout_ms;
	int		 stop_signal;
	uint64_t	 drain_timeout_ms;
	uint64_t	 probation_ms;	/* up this long after ready before taking over */
	enum restart_policy restart;
	char		*user;		/* NULL: keep the supervisor's */
	uid_t		 uid;
	gid_t		 user_gid;	/* the user's primary group */
	char		*group;		/* NULL: the user's primary group */
	gid_t		 gid;
	char		*directory;
	char		**env;		/* NAME=VALUE, NULL-terminated */
	size_t		 nenv;
	bool		 expand;	/* command, env or directory has a %-escape */
	bool		 preload;
	enum output_mode output;
};
TAILQ_HEAD(program_conf_list, program_conf);

/* [supervisor] */
struct supervisor_conf {
	char		*name;
	char		*control;	/* control socket path */
	char		*pidfile;	/* NULL: none */
	enum log_level	 log_level;
	size_t		 text_at;	/* its section in the config's text */
	size_t		 text_len;	/* 0: the file has none */
};

/*
 * A user or group a parse looked up (user =, group =, owner =) and what
 * it found: config_reload looks each up again before it takes a config
 * again for an unchanged file.
 */
struct config_lookup {
	char		*name;
	bool		 group;		/* a group's name; else a user's */
	uid_t		 uid;		/* a user's */
	gid_t		 gid;		/* a group's, or a user's own group */
};

struct config {
	int		 refs;		/* config_new gives 1 */
	char		*path;		/* file it came from, or "(command line)" */
	struct supervisor_conf supervisor;
	struct listener_conf_list listeners;
	struct program_conf_list programs;
	size_t		 nlisteners;
	size_t		 nprograms;
	struct hashmap	*listener_names;	/* name -> listener_conf */
	struct hashmap	*program_names;		/* name -> program_conf */
	/*
	 * The text in force, or NULL: the file's as parsed, or after a
	 * reload of one program the sections of the configs merged.
	 */
	char		*text;
	size_t		 text_len;
	struct config_lookup *lookups;	/* the users and groups it named */
	size_t		 nlookups;
	bool		 reusable;	/* config_reload may take it again */
	dev_t		 file_dev;	/* the file it was read from, if any */
	ino_t		 file_ino;
	uid_t		 file_uid;	/* ... its owner, group and mode then */
	gid_t		 file_gid;
	mode_t		 file_mode;
};

/*
 * Messages found while loading: "FILE:LINE: message", errors and warnings.
 * A message that memory could not be found for is not in lines, but is
 * counted in nerrors: memory running out fails the parse.
 */
struct config_msgs {
	char		**lines;
	bool		 *is_error;
	size_t		 count;
	size_t		 nerrors;
	size_t		 nwarnings;
};

struct config	*config_load(const char *path, struct config_msgs *msgs);
struct config	*config_reload(const char *path, struct config *running,
		    struct config *prepared, struct config_msgs *msgs);
struct config	*config_load_text(const char *path, const char *text,
		    size_t len, struct config_msgs *msgs);
struct config	*config_new(const char *path);
int		 config_finish(struct config *conf, struct config_msgs *msgs);
void		 config_free(struct config *conf);
struct config	*config_ref(struct config *conf);
void		 config_unref(struct config *conf);
struct listener_conf *config_find_listener(const struct config *conf,
		    const char *name);
struct program_conf *config_find_program(const struct config *conf,
		    const char *name);
struct listener_conf *config_add_listener(struct config *conf,
		    const char *name, int line);
void		 config_append_listener(struct config *conf,
		    struct listener_conf *lc);
struct program_conf *config_add_program(struct config *conf,
		    const char *name, int line);
void		 config_index_program(struct config *conf,
		    struct program_conf *pc);
bool		 config_env_is_protocol(const char *var);

void		 config_msgs_init(struct config_msgs *msgs);
void		 config_msgs_add(struct config_msgs *msgs, bool is_error,
		    const char *file, int line, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));
void		 config_msgs_print(const struct config_msgs *msgs, FILE *fp);
void		 config_msgs_free(struct config_msgs *msgs);

const char	*handoff_mode_name(enum handoff_mode mode);
bool		 config_needs_migration(const struct config *conf);
bool		 config_has_mode(const struct config *conf, enum handoff_mode mode);
bool		 config_names_hosts(const struct config *conf);
int		 program_conf_set_ready(struct program_conf *pc, const char *value,
		    char **cause);
const char	*ready_mode_name(enum ready_mode mode);
const char	*restart_policy_name(enum restart_policy policy);

/* Defaults, shared with the command line. */
#define DEFAULT_BACKLOG		4096
#define DEFAULT_WORKERS		1
#define DEFAULT_READY_TIMEOUT_MS	(30 * 1000)
#define DEFAULT_DRAIN_TIMEOUT_MS	(30 * 1000)
#define MAX_PROBATION_MS	(60 * 60 * 1000)
#define MAX_WORKERS		1024
#define MAX_LISTENERS_PER_PROGRAM	64

#endif
