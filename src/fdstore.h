/*
 * fdstore.h: the listeners' sockets kept in the service manager's fd store
 * (systemd FDSTORE=1), so that a restart or a crash finds them again.
 */
#ifndef HANDOFF_FDSTORE_H
#define HANDOFF_FDSTORE_H

#include <stdbool.h>

struct listener_set;
struct state;
struct state_writer;

void	fdstore_init(void);
bool	fdstore_enabled(void);
void	fdstore_sync(const struct listener_set *set);
void	fdstore_keep_files(struct listener_set *set);
void	fdstore_free(void);
void	fdstore_save(struct state_writer *w);
void	fdstore_restore(const struct state *st);

#endif
