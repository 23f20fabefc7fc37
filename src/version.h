/*
 * version.h: the version this image of handoff reports (status, the
 * control socket's version request, `handoff version`, upgrades).
 */
#ifndef HANDOFF_VERSION_H
#define HANDOFF_VERSION_H

const char	*version_text(void);

#endif
