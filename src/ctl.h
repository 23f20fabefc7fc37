/* ctl.h: the client side of the control socket: reload, status, stop. */
#ifndef HANDOFF_CTL_H
#define HANDOFF_CTL_H

/* What a line of the supervisor's answer is. */
enum ctl_answer {
	CTL_ANSWER_DATA = 0,	/* a line of the result */
	CTL_ANSWER_PROGRESS,	/* a reload's progress */
	CTL_ANSWER_OK,		/* success; the last line */
	CTL_ANSWER_ERROR,	/* failure; the last line */
	CTL_ANSWER_AGAIN,	/* not served, ask again; the last line */
	CTL_ANSWER_UNKNOWN,	/* none of these */
};

enum ctl_answer ctl_parse_answer(const char *line, const char **text,
	    int *code);
int	ctl_reload_main(int argc, char **argv);
int	ctl_status_main(int argc, char **argv);
int	ctl_stop_main(int argc, char **argv);
int	ctl_upgrade_main(int argc, char **argv);

#endif
