/*
 * child.c: what a worker's process is given: its command found, its
 * environment (the systemd, Server::Starter and einhorn protocols, the
 * bind() shim's), its fds and its ids, all prepared before it exists
 * (struct child_spec), for spawn.c to start it with.
 */
#include "autoconf.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "child.h"
#include "config.h"
#include "expand.h"
#include "listener.h"
#include "preload/match.h"

extern char **environ;

#define LISTEN_PID_LEN	(sizeof("LISTEN_PID=") + 24)

/* An environment being built: its entries one after another, each ended by NUL. */
struct child_env {
	char		*text;
	size_t		 len;
	size_t		 cap;
	size_t		 n;		/* entries */
};

/* Append a formatted entry to an environment being built. */
static int
child_env_add(struct child_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
child_env_add(struct child_env *env, const char *fmt, ...)
{
	va_list ap;
	char *grown;
	size_t cap;
	int rc;

	for (;;) {
		va_start(ap, fmt);
		rc = vsnprintf(env->text + env->len, env->cap - env->len, fmt, ap);
		va_end(ap);
		if (rc < 0)
			return -1;
		if ((size_t)rc < env->cap - env->len)
			break;
		cap = env->cap * 2 + (size_t)rc + 1;
		if ((grown = realloc(env->text, cap)) == NULL)
			return -1;
		env->text = grown;
		env->cap = cap;
	}
	env->len += (size_t)rc + 1;
	env->n++;
	return 0;
}

/* Append len bytes to the entry being built in env; -1 if out of memory. */
static int
child_env_put(struct child_env *env, const char *text, size_t len)
{
	char *grown;
	size_t cap;

	if (len + 1 > env->cap - env->len) {
		cap = env->cap * 2 + len + 1;
		if ((grown = realloc(env->text, cap)) == NULL)
			return -1;
		env->text = grown;
		env->cap = cap;
	}
	memcpy(env->text + env->len, text, len);
	env->len += len;
	return 0;
}

/* Append a string to the entry being built in env. */
static int
child_env_put_str(struct child_env *env, const char *text)
{
	return child_env_put(env, text, strlen(text));
}

/* Append a number in decimal to the entry being built in env. */
static int
child_env_put_size(struct child_env *env, size_t value)
{
	char digits[24], *p = digits + sizeof(digits);

	do
		*--p = (char)('0' + value % 10);
	while ((value /= 10) != 0);
	return child_env_put(env, p, (size_t)(digits + sizeof(digits) - p));
}

/* End the entry being built in env (child_env_put made room for its NUL). */
static void
child_env_end(struct child_env *env)
{
	env->text[env->len++] = '\0';
	env->n++;
}

/* Append an entry that is a string as it is. */
static int
child_env_add_str(struct child_env *env, const char *entry)
{
	if (child_env_put_str(env, entry) == -1)
		return -1;
	child_env_end(env);
	return 0;
}

/*
 * The array execve takes, made from env in one allocation (the pointers,
 * then the text): free() frees it all. NULL when out of memory.
 */
static char **
child_env_finish(const struct child_env *env)
{
	char **envp, *text;
	size_t i;

	if ((envp = malloc((env->n + 1) * sizeof(*envp) + env->len)) == NULL)
		return NULL;
	text = (char *)(envp + env->n + 1);
	memcpy(text, env->text, env->len);
	for (i = 0; i < env->n; i++) {
		envp[i] = text;
		text += strlen(text) + 1;
	}
	envp[env->n] = NULL;
	return envp;
}

/* The %-escapes of pc's command, env and directory for one worker. */
static struct expand_vars
child_expand_vars(const struct program_conf *pc, unsigned int generation,
    int worker)
{
	struct expand_vars vars = { pc->name, generation, worker };

	return vars;
}

/* Add an env = entry of pc, its %-escapes expanded. */
static int
child_env_add_conf(struct child_env *env, const struct program_conf *pc,
    const char *entry, unsigned int generation, int worker)
{
	struct expand_vars vars = child_expand_vars(pc, generation, worker);
	char *text;
	int rc;

	if (!pc->expand)
		return child_env_add_str(env, entry);
	if ((text = expand_string(entry, &vars)) == NULL)
		return -1;
	rc = child_env_add_str(env, text);
	free(text);
	return rc;
}

/* Tell whether the program's env = list sets the variable of entry. */
static bool
child_env_overridden(const struct program_conf *pc, const char *entry)
{
	size_t len = strcspn(entry, "=") + 1, i;

	for (i = 0; i < pc->nenv; i++)
		if (strncmp(pc->env[i], entry, len) == 0)
			return true;
	return false;
}

/*
 * The bind() shim's variables (preload = yes, the shim's path in
 * preload): LD_PRELOAD with the shim after any library the user preloads
 * (user_preload, from env = or the supervisor's environment: ASan's
 * runtime must come first), and for the shim alone the self-mode
 * addresses and, with ready = listening, where to say it listens.
 */
static int
child_env_preload(struct child_env *env, const struct program_conf *pc,
    const char *preload, const char *user_preload, const char *notify_socket)
{
	struct match_addr addrs[MAX_LISTENERS_PER_PROGRAM];
	char text[MATCH_ADDRS_TEXT_MAX];
	size_t i;

	if (child_env_put_str(env, "LD_PRELOAD=") == -1 ||
	    (user_preload != NULL && *user_preload != '\0' &&
	    (child_env_put_str(env, user_preload) == -1 ||
	    child_env_put(env, ":", 1) == -1)) ||
	    child_env_put_str(env, preload) == -1)
		return -1;
	child_env_end(env);
	if (notify_socket != NULL && pc->ready == READY_LISTENING &&
	    child_env_add(env, MATCH_ENV_NOTIFY "=%s", notify_socket) == -1)
		return -1;
	if (pc->handoff != HANDOFF_SELF || pc->nlisteners == 0)
		return 0;
	for (i = 0; i < pc->nlisteners && i < MAX_LISTENERS_PER_PROGRAM; i++) {
		addrs[i].index = (int)i;
		addrs[i].type = addr_socktype(&pc->listeners[i]->addr);
		addrs[i].len = pc->listeners[i]->addr.len;
		addrs[i].ss = pc->listeners[i]->addr.ss;
	}
	if (match_encode_addrs(addrs, i, text, sizeof(text)) == -1)
		return -1;
	return child_env_add(env, MATCH_ENV_SELF "=%s", text);
}

/*
 * Build a worker's environment: the supervisor's own, less any protocol
 * variables it inherited; the program's env = entries; then the socket
 * protocols, which no setting overrides:
 *
 *	LISTEN_FDS=2 LISTEN_PID=<pid> LISTEN_FDNAMES=web:admin
 *	SERVER_STARTER_PORT=127.0.0.1:8080=3;/run/admin.sock=4
 *	EINHORN_FD_COUNT=2 EINHORN_FD_0=3 EINHORN_FD_1=4
 *	HANDOFF_GENERATION=7 HANDOFF_WORKER=0 NOTIFY_SOCKET=@...
 *
 * With preload (the shim's path, preload = yes): LD_PRELOAD and the
 * shim's own variables (child_env_preload); notify_socket is then the
 * shim's with ready = listening, NOTIFY_SOCKET only with ready = notify.
 * LISTEN_PID= is left with room for the pid, which the child writes; its
 * index is stored in *listen_pid_slot. The result is one allocation, freed
 * with free(). Returns NULL when out of memory.
 */
char **
child_env_build(const struct program_conf *pc, struct listener **ls,
    size_t nls, unsigned int generation, int worker,
    const char *notify_socket, const char *preload, int *listen_pid_slot)
{
	struct child_env env = { NULL, 0, 0, 0 };
	const char *user_preload = NULL;
	char **envp = NULL;
	size_t i, ports;
	char **var;

	*listen_pid_slot = -1;
	env.cap = 4096;
	if ((env.text = malloc(env.cap)) == NULL)
		return NULL;
	for (var = environ; *var != NULL; var++) {
		if (config_env_is_protocol(*var) || child_env_overridden(pc, *var))
			continue;
		if (preload != NULL && strncmp(*var, "LD_PRELOAD=", 11) == 0) {
			user_preload = *var + 11;
			continue;
		}
		if (child_env_add_str(&env, *var) == -1)
			goto done;
	}
	for (i = 0; i < pc->nenv; i++) {
		if (preload != NULL &&
		    strncmp(pc->env[i], "LD_PRELOAD=", 11) == 0) {
			user_preload = pc->env[i] + 11;
			continue;
		}
		if (child_env_add_conf(&env, pc, pc->env[i], generation,
		    worker) == -1)
			goto done;
	}
	if (preload != NULL && child_env_preload(&env, pc, preload,
	    user_preload, notify_socket) == -1)
		goto done;

	if (nls > 0) {
		if (child_env_add(&env, "LISTEN_FDS=%zu", nls) == -1)
			goto done;
		/* Room for the pid: the child writes it after clone. */
		if (child_env_add(&env, "%-*s", (int)LISTEN_PID_LEN - 1,
		    "LISTEN_PID=") == -1)
			goto done;
		*listen_pid_slot = (int)env.n - 1;
		if (child_env_put_str(&env, "LISTEN_FDNAMES=") == -1)
			goto done;
		for (i = 0; i < nls; i++) {
			/*
			 * The name from this generation's own config: a kept
			 * socket takes a new fd_name only when the reload
			 * that renames it commits, after this spawn.
			 */
			if ((i > 0 && child_env_put(&env, ":", 1) == -1) ||
			    child_env_put_str(&env,
			    pc->listeners[i]->fd_name) == -1)
				goto done;
		}
		child_env_end(&env);
		/* Server::Starter knows stream sockets only. */
		for (i = 0, ports = 0; i < nls; i++) {
			if (addr_socktype(&ls[i]->addr) != SOCK_STREAM ||
			    addr_is_abstract(&ls[i]->addr))
				continue;
			if (child_env_put_str(&env, ports++ == 0 ?
			    "SERVER_STARTER_PORT=" : ";") == -1 ||
			    child_env_put_str(&env, ls[i]->bound) == -1 ||
			    child_env_put(&env, "=", 1) == -1 ||
			    child_env_put_size(&env, 3 + i) == -1)
				goto done;
		}
		if (ports > 0)
			child_env_end(&env);
		if (child_env_add(&env, "EINHORN_FD_COUNT=%zu", nls) == -1)
			goto done;
		for (i = 0; i < nls; i++) {
			if (child_env_put_str(&env, "EINHORN_FD_") == -1 ||
			    child_env_put_size(&env, i) == -1 ||
			    child_env_put(&env, "=", 1) == -1 ||
			    child_env_put_size(&env, 3 + i) == -1)
				goto done;
			child_env_end(&env);
		}
	}
	if (child_env_add(&env, "HANDOFF_GENERATION=%u", generation) == -1 ||
	    child_env_add(&env, "HANDOFF_WORKER=%d", worker) == -1)
		goto done;
	if (notify_socket != NULL && (preload == NULL ||
	    pc->ready == READY_NOTIFY) &&
	    child_env_add(&env, "NOTIFY_SOCKET=%s", notify_socket) == -1)
		goto done;
	envp = child_env_finish(&env);
done:
	free(env.text);
	if (envp == NULL)
		*listen_pid_slot = -1;
	return envp;
}

/*
 * Find argv0: a path (relative ones from directory, if set), or a name
 * looked up in the PATH of envp (or the default path). Malloc'd result.
 */
static char *
child_resolve_path(const char *argv0, const char *directory, char **envp,
    char **cause)
{
	const char *path = "/usr/local/bin:/usr/bin:/bin", *p, *end;
	char candidate[PATH_MAX];
	struct stat st;
	size_t i;

	if (strchr(argv0, '/') != NULL) {
		/* A relative command is relative to where the worker runs. */
		if (argv0[0] != '/' && directory != NULL)
			snprintf(candidate, sizeof(candidate), "%s/%s", directory,
			    argv0);
		else
			snprintf(candidate, sizeof(candidate), "%s", argv0);
		if (stat(candidate, &st) == -1) {
			cause_set(cause, "cannot run %s: %s", candidate,
			    strerror(errno));
			return NULL;
		}
		return strdup(candidate);
	}
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (p = path; ; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		/*
		 * An empty element is the current directory, and relative
		 * elements are relative to it: the worker's directory.
		 */
		if (end == p)
			snprintf(candidate, sizeof(candidate), "%s/%s",
			    directory != NULL ? directory : ".", argv0);
		else if (*p != '/' && directory != NULL)
			snprintf(candidate, sizeof(candidate), "%s/%.*s/%s",
			    directory, (int)(end - p), p, argv0);
		else
			snprintf(candidate, sizeof(candidate), "%.*s/%s",
			    (int)(end - p), p, argv0);
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(candidate, X_OK) == 0)
			return strdup(candidate);
		if (*end == '\0')
			break;
	}
	cause_set(cause, "cannot run %s: not found in PATH (%s)", argv0, path);
	return NULL;
}

/*
 * Where a worker of pc finds the command name (its argv[0], or a name its
 * script runs): as the worker's exec would, in the PATH the worker gets.
 * Malloc'd, or NULL with *cause.
 */
char *
child_find_command(const struct program_conf *pc, const char *name,
    char **cause)
{
	char *envp[2] = { NULL, NULL };
	size_t i;

	for (i = 0; i < pc->nenv; i++)
		if (strncmp(pc->env[i], "PATH=", 5) == 0)
			envp[0] = pc->env[i];
	for (i = 0; envp[0] == NULL && environ[i] != NULL; i++)
		if (strncmp(environ[i], "PATH=", 5) == 0)
			envp[0] = environ[i];
	return child_resolve_path(name, pc->directory, envp, cause);
}

/*
 * Prepare everything a worker needs before clone. preload is the bind()
 * shim's path for preload = yes, else NULL.
 */
int
child_spec_init(struct child_spec *spec, const struct program_conf *pc,
    struct listener **ls, size_t nls, unsigned int generation, int worker,
    const char *notify_socket, const char *preload, char **cause)
{
	struct expand_vars vars;
	struct passwd *pw;
	size_t i;
	int n;

	memset(spec, 0, sizeof(*spec));
	spec->cgroup_fd = -1;
	spec->cgroup_dir_fd = -1;
	spec->argv = pc->argv;
	spec->directory = pc->directory;
	spec->discard_output = pc->output == OUTPUT_DISCARD;
	spec->envp = child_env_build(pc, ls, nls, generation, worker,
	    notify_socket, preload, &spec->listen_pid_slot);
	if (spec->envp == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	if (pc->expand) {
		vars = child_expand_vars(pc, generation, worker);
		if ((spec->own_argv = expand_argv(pc->argv, &vars)) == NULL ||
		    (pc->directory != NULL && (spec->own_directory =
		    expand_string(pc->directory, &vars)) == NULL))
			goto nomem;
		spec->argv = spec->own_argv;
		if (spec->own_directory != NULL)
			spec->directory = spec->own_directory;
	}
	if ((spec->path = child_resolve_path(spec->argv[0], spec->directory,
	    spec->envp, cause)) == NULL)
		goto fail;
	if ((spec->fds = calloc(nls + 1, sizeof(*spec->fds))) == NULL)
		goto nomem;
	for (i = 0; i < nls; i++)
		spec->fds[i] = listener_slot_fd(ls[i], (unsigned int)worker);
	spec->nfds = nls;

	if (pc->user != NULL) {
		spec->set_ids = true;
		spec->uid = pc->uid;
		spec->gid = pc->gid;
		/* Supplementary groups of the user, computed now (not after clone). */
		pw = getpwuid(pc->uid);
		n = 64;
		for (;;) {
			gid_t *groups = reallocarray(spec->groups, (size_t)n, sizeof(gid_t));
			int want = n;
			if (groups == NULL)
				goto nomem;
			spec->groups = groups;
			if (pw == NULL) {
				spec->groups[0] = pc->gid;
				spec->ngroups = 1;
				break;
			}
			if (getgrouplist(pw->pw_name, pc->gid, spec->groups, &want) != -1) {
				spec->ngroups = want;
				break;
			}
			n = want > n ? want : n * 2;
		}
		/*
		 * Checked in the child once it is the user: a socket out of
		 * its reach would otherwise only show as a ready_timeout.
		 */
		spec->notify_socket = notify_socket;
		if (notify_socket != NULL && asprintf(&spec->notify_unreachable,
		    "uid %u cannot reach NOTIFY_SOCKET %s (every directory "
		    "above it must let that user through)", (unsigned)pc->uid,
		    notify_socket) == -1) {
			spec->notify_unreachable = NULL;
			goto nomem;
		}
		/* ld.so would run the program without a shim it cannot read. */
		spec->preload = preload;
		if (preload != NULL && asprintf(&spec->preload_unreadable,
		    "uid %u cannot read the preload shim %s (the dynamic loader "
		    "would run the program without it; make it and every "
		    "directory above it readable by that user)",
		    (unsigned)pc->uid, preload) == -1) {
			spec->preload_unreadable = NULL;
			goto nomem;
		}
	} else if (pc->group != NULL) {
		spec->set_gid_only = true;
		spec->gid = pc->gid;
	}
	if (geteuid() != 0 && (spec->set_ids || spec->set_gid_only)) {
		/* Not root: only the ids it already has can be asked for. */
		if ((spec->set_ids && (spec->uid != geteuid() ||
		    spec->gid != getegid())) ||
		    (spec->set_gid_only && spec->gid != getegid())) {
			cause_set(cause, "user = and group = need the supervisor "
			    "to run as root (it runs as uid %u)",
			    (unsigned)geteuid());
			goto fail;
		}
		spec->set_ids = spec->set_gid_only = false;
	}
	return 0;
nomem:
	*cause = strdup("out of memory");
fail:
	child_spec_free(spec);
	return -1;
}

/* Free what child_spec_init allocated. */
void
child_spec_free(struct child_spec *spec)
{
	free(spec->envp);
	free(spec->own_argv);
	free(spec->own_directory);
	free(spec->path);
	free(spec->fds);
	free(spec->groups);
	free(spec->notify_unreachable);
	free(spec->preload_unreadable);
	memset(spec, 0, sizeof(*spec));
}

