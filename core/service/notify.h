/* SPDX-License-Identifier: MIT */
/*
 * notify.h - systemd's readiness protocol (sd_notify), spoken directly: one
 * datagram to $NOTIFY_SOCKET. Nothing happens when the variable is unset
 * (not run by systemd, or Type= is not notify).
 */
#ifndef RC_NOTIFY_H
#define RC_NOTIFY_H

/* Send state, e.g. "READY=1\nSTATUS=first run done". 1 sent, 0 no socket, -1 error. */
int notify_send(const char *state);

#endif
