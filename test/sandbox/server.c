/*
 * server.c
 *		The HTTP server: receives requests, sorts them into control, token
 *		and CRM requests, and answers them.
 *
 * For a CRM request, in this order: it is counted and logged when its
 * headers arrive (which gives its number n for the fault draws) and enters
 * the concurrency count; once its body is in, it is refused with 429 when
 * it was over the concurrency limit, answered with the injected error
 * status when n draws an error (before any effect), or else processed; a
 * drawn drop then closes the connection unanswered; otherwise the latency
 * is slept and the answer queued, which ends its time in flight.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "crm.h"
#include "limits.h"
#include "oauth.h"
#include "options.h"
#include "reqlog.h"
#include "server.h"
#include "stats.h"
#include "util.h"

#define MAX_BODY_BYTES		((size_t) 64 * 1024 * 1024)
#define CONNECTION_TIMEOUT_S 300

typedef enum ReqKind
{
	RK_CONTROL, RK_TOKEN, RK_CRM
} ReqKind;

typedef struct RequestCtx
{
	char	   *uri;			/* as received, with the query string */
	bool		started;
	ReqKind		kind;
	Endpoint	ep;
	StrBuf		body;
	bool		body_too_large;
	ReqTicket	ticket;
	bool		in_flight;		/* counted toward the concurrency limit */
	bool		over_limit;
} RequestCtx;

static struct MHD_Daemon *daemon_handle = NULL;

char		g_base_url[64];

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	RequestCtx *ctx = xcalloc(1, sizeof(RequestCtx));

	ctx->uri = xstrdup(uri ? uri : "");
	return ctx;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	RequestCtx *ctx = *con_cls;

	if (ctx == NULL)
		return;
	if (ctx->in_flight)
		limits_leave();
	if (ctx->started)
		sb_free(&ctx->body);
	free(ctx->uri);
	free(ctx);
	*con_cls = NULL;
}

static const char *
query_of(const RequestCtx *ctx)
{
	const char *q = strchr(ctx->uri, '?');

	return q ? q + 1 : "";
}

static void
begin(RequestCtx *ctx, const char *url, const char *method)
{
	ctx->started = true;
	sb_init(&ctx->body, 256);
	if (strncmp(url, "/__sandbox/", 11) == 0)
		ctx->kind = RK_CONTROL;
	else if (strcmp(url, "/oauth/v2/token") == 0)
	{
		ctx->kind = RK_TOKEN;
		ctx->ep = EP_TOKEN;
		stats_request(EP_TOKEN);
	}
	else
	{
		ctx->kind = RK_CRM;
		ctx->ep = crm_classify(method, url);
		stats_request(ctx->ep);
		ctx->ticket = reqlog_begin(method, url, query_of(ctx));
		ctx->in_flight = true;
		ctx->over_limit = !limits_enter();
	}
}

static void
too_many_requests(Response *r)
{
	resp_error(r, 429, "TOO_MANY_REQUESTS",
			   "Number of API requests for the 24 hour period is exceeded or the concurrency limit of the user for the app is exceeded.",
			   NULL);
}

/* The answer of an injected error status. */
static void
injected_error(Response *r, int status)
{
	switch (status)
	{
		case 400:
			resp_error(r, status, "INVALID_DATA", "invalid data", NULL);
			break;
		case 401:
			resp_error(r, status, "INVALID_TOKEN", "invalid oauth token", NULL);
			break;
		case 403:
			resp_error(r, status, "NO_PERMISSION", "permission denied", NULL);
			break;
		case 404:
			resp_error(r, status, "INVALID_URL_PATTERN",
					   "Please check if the URL trying to access is a correct one", NULL);
			break;
		case 429:
			too_many_requests(r);
			break;
		default:
			resp_error(r, status, "INTERNAL_ERROR", "Internal Server Error", NULL);
			break;
	}
}

static enum MHD_Result
add_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	params_add((Params *) cls, key, value);
	return MHD_YES;
}

static enum MHD_Result
queue(struct MHD_Connection *conn, Response *r)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;

	mr = MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *) "",
										 r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	r->body = NULL;				/* MHD owns it now */
	MHD_add_response_header(mr, "Content-Type", "application/json;charset=UTF-8");
	if (r->credits_remaining >= 0)
	{
		char		buf[32];

		snprintf(buf, sizeof(buf), "%ld", r->credits_remaining);
		MHD_add_response_header(mr, "X-API-CREDITS-REMAINING", buf);
	}
	ret = MHD_queue_response(conn, (unsigned int) r->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result
finish_crm(RequestCtx *ctx, struct MHD_Connection *conn, const char *url,
		   const char *method, Params *query, Response *r)
{
	Faults		f = limits_get();
	const char *client_id = NULL;
	enum MHD_Result ret;

	if (ctx->over_limit)
		too_many_requests(r);
	else if (fault_hits(f.error_rate, ctx->ticket.seq))
		injected_error(r, f.error_status);
	else if (ctx->body_too_large)
		resp_error(r, 400, "INVALID_DATA", "the request body is too large", NULL);
	else
	{
		CrmRequest	req;

		memset(&req, 0, sizeof(req));
		req.method = method;
		req.path = url;
		req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		req.query = query;
		req.body = ctx->body.data;
		req.body_len = ctx->body.len;
		crm_handle(&req, r);
		if (req.client >= 0)
			client_id = g_org->clients[req.client].client_id;
		r->drop = fault_hits(f.drop_rate, ctx->ticket.seq);
	}
	if (r->status == 0)
		resp_error(r, 500, "INTERNAL_ERROR", "Internal Server Error", NULL);
	reqlog_finish(ctx->ticket, ctx->body.data, ctx->body.len, r->status, client_id, r->drop);
	if (r->drop)
	{
		stats_dropped(ctx->ep);
		ctx->in_flight = false;
		limits_leave();
		return MHD_NO;
	}
	sleep_ms(f.latency_ms);
	stats_response(ctx->ep, r->status);
	ret = queue(conn, r);
	ctx->in_flight = false;
	limits_leave();
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
		   const char *method, const char *version, const char *upload_data,
		   size_t *upload_data_size, void **con_cls)
{
	RequestCtx *ctx = *con_cls;
	Params		query;
	Response	r;
	enum MHD_Result ret;

	if (ctx == NULL)
		*con_cls = ctx = on_uri(NULL, url, conn);
	if (!ctx->started)
	{
		begin(ctx, url, method);
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		if (ctx->body.len + *upload_data_size > MAX_BODY_BYTES)
			ctx->body_too_large = true;
		else
			sb_append(&ctx->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	memset(&query, 0, sizeof(query));
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_param, &query);
	resp_init(&r);
	switch (ctx->kind)
	{
		case RK_CONTROL:
			control_handle(method, url, &query, ctx->body.data, ctx->body.len, &r);
			ret = queue(conn, &r);
			break;
		case RK_TOKEN:
			if (strcmp(method, "POST") != 0)
				resp_json(&r, 400, json_pack("{s:s}", "error", "invalid_request"));
			else
			{
				params_parse_form(&query, ctx->body.data, ctx->body.len);
				oauth_token_request(&query, &r);
			}
			stats_response(EP_TOKEN, r.status);
			ret = queue(conn, &r);
			break;
		default:
			ret = finish_crm(ctx, conn, url, method, &query, &r);
			break;
	}
	resp_free(&r);
	params_free(&query);
	return ret;
}

/*
 * Binds 127.0.0.1:port before the daemon's threads exist, so that the base
 * URL (the api_domain of tokens) is known before any request can arrive.
 */
static int
listen_socket(int port, char *err, size_t errlen)
{
	struct sockaddr_in addr;
	socklen_t	len = sizeof(addr);
	int			one = 1;
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
	{
		snprintf(err, errlen, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0 ||
		listen(fd, 1024) != 0 ||
		getsockname(fd, (struct sockaddr *) &addr, &len) != 0)
	{
		snprintf(err, errlen, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	snprintf(g_base_url, sizeof(g_base_url), "http://127.0.0.1:%u",
			 (unsigned) ntohs(addr.sin_port));
	return fd;
}

bool
server_start(int port, char *err, size_t errlen)
{
	int			fd = listen_socket(port, err, errlen);

	if (fd < 0)
		return false;
	daemon_handle = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
									 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
									 0, NULL, NULL, on_request, NULL,
									 MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
									 MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
									 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
									 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) CONNECTION_TIMEOUT_S,
									 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 4000,
									 MHD_OPTION_END);
	if (daemon_handle == NULL)
	{
		snprintf(err, errlen, "cannot start the HTTP server");
		close(fd);
		return false;
	}
	return true;
}

void
server_stop(void)
{
	if (daemon_handle)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
}
