/*
 * server.h
 *		The HTTP server (libmicrohttpd, a thread per connection, so that a
 *		request sleeping for latency never holds up another).
 */
#ifndef SANDBOX_SERVER_H
#define SANDBOX_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/* Listens on 127.0.0.1:port (0: any free port) and sets g_base_url. */
extern bool server_start(int port, char *err, size_t errlen);
extern void server_stop(void);

#endif
