/*
 * outstore.h: the workers' output pipes kept in the service manager's fd
 * store, so that a worker outliving a crash of the supervisor can go on
 * writing, and the next supervisor reads what it wrote.
 */
#ifndef HANDOFF_OUTSTORE_H
#define HANDOFF_OUTSTORE_H

#include <stdbool.h>
#include <sys/types.h>

#define OUTSTORE_PREFIX	"output."

void	outstore_enable(bool on);
void	outstore_put(pid_t pid, int fd);
void	outstore_remove(pid_t pid);
bool	outstore_parse_name(const char *name, pid_t *pid);
int	outstore_adopt(int fd, pid_t pid);
int	outstore_take(pid_t pid);
void	outstore_finish(void);
size_t	outstore_pending(void);

#endif
