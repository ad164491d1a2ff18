/*
 * sandbox_bench.c
 *		Throughput, memory and start/stop figures of zcrm-sandbox.
 *
 * usage: sandbox_bench SANDBOX_BINARY [SECONDS [CLIENTS]]
 *
 * Starts the sandbox with --port 0 (timing the first stdout line), takes a
 * token, runs CLIENTS threads (default 8), each with its own keep-alive
 * libcurl easy handle, sending immediate mass-update calls of 500 Lead ids for
 * SECONDS (default 5), then creates 1,000,000 Leads through
 * POST /__sandbox/records and reads the sandbox's VmRSS, and finally sends
 * SIGTERM and times the exit.  Exit status 0 when every measurement could be
 * taken (targets missed are reported, not fatal), 1 otherwise.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define IDS_PER_CALL	500
#define FIRST_LEAD		4150868000000224000ULL	/* + n: the n-th fixture Lead */
#define BULK_COUNT		1000000
#define BULK_FIRST_ID	"4150868100000000001"

static char base_url[128];
static char auth_header[512];
static double run_seconds = 5.0;

typedef struct Buf
{
	char	   *data;
	size_t		len;
} Buf;

typedef struct Client
{
	pthread_t	thread;
	int			index;
	long		ok;				/* HTTP 200 answers */
	long		other;			/* any other answer or transport error */
	long		last_status;
	char		last_error[CURL_ERROR_SIZE];
} Client;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Buf		   *b = userdata;
	size_t		n = size * nmemb;
	char	   *p = realloc(b->data, b->len + n + 1);

	if (p == NULL)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

/* One request on a fresh handle; returns the HTTP status (0 on transport error). */
static long
simple_request(const char *method, const char *path, const char *body,
			   const char *content_type, int with_token, Buf *out, long timeout_s)
{
	CURL	   *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char		url[512];
	char		ct[128];
	long		status = 0;

	if (h == NULL)
		return 0;
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	if (content_type != NULL)
	{
		snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		hdrs = curl_slist_append(hdrs, ct);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (with_token)
		hdrs = curl_slist_append(hdrs, auth_header);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (out != NULL)
	{
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	}
	else
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return status;
}

/* The body of client i: 500 distinct fixture Leads, away from the special ones. */
static char *
make_body(int i)
{
	size_t		cap = 64 + IDS_PER_CALL * 24;
	char	   *body = malloc(cap);
	size_t		len;
	int			k;

	if (body == NULL)
		return NULL;
	len = snprintf(body, cap, "{\"data\":[{\"City\":\"Bench %d\"}],\"ids\":[", i);
	for (k = 0; k < IDS_PER_CALL; k++)
	{
		unsigned long long id = FIRST_LEAD + 11 + (unsigned long long) (i % 9) * IDS_PER_CALL + k;

		len += snprintf(body + len, cap - len, "%s\"%llu\"", k ? "," : "", id);
	}
	snprintf(body + len, cap - len, "]}");
	return body;
}

static void *
client_main(void *arg)
{
	Client	   *c = arg;
	char	   *body = make_body(c->index);
	CURL	   *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char		url[512];
	double		deadline;

	if (body == NULL || h == NULL)
	{
		c->other++;
		snprintf(c->last_error, sizeof(c->last_error), "out of memory");
		free(body);
		if (h)
			curl_easy_cleanup(h);
		return NULL;
	}
	snprintf(url, sizeof(url), "%s/crm/v8/Leads/actions/mass_update", base_url);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, auth_header);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->last_error);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);

	deadline = now_s() + run_seconds;
	while (now_s() < deadline)
	{
		long		status = 0;

		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		c->last_status = status;
		if (status == 200)
			c->ok++;
		else
			c->other++;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(body);
	return NULL;
}

static long
vmrss_kib(pid_t pid)
{
	char		path[64];
	char		line[256];
	long		kib = -1;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static void *
drain_main(void *arg)
{
	int			fd = (int) (intptr_t) arg;
	char		sink[4096];

	while (read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	return NULL;
}

/* Starts the sandbox; fills base_url; returns its pid, or -1. */
static pid_t
start_sandbox(const char *binary, double *first_line_s)
{
	int			fds[2];
	pid_t		pid;
	char		line[120];
	size_t		len = 0;
	double		t0;
	const char *prefix = "zcrm-sandbox listening on ";

	if (pipe(fds) != 0)
		return -1;
	t0 = now_s();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
	{
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		setsid();
		execl(binary, binary, "--port", "0", (char *) NULL);
		perror(binary);
		_exit(127);
	}
	close(fds[1]);
	while (len < sizeof(line) - 1)
	{
		struct pollfd pfd = {fds[0], POLLIN, 0};
		ssize_t		n;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		n = read(fds[0], line + len, 1);
		if (n <= 0)
			break;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	*first_line_s = now_s() - t0;
	if (strncmp(line, prefix, strlen(prefix)) != 0)
	{
		fprintf(stderr, "sandbox_bench: unexpected first line \"%s\"\n", line);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	snprintf(base_url, sizeof(base_url), "%s", line + strlen(prefix));
	{
		/* the sandbox's later stdout is read and dropped, so it never blocks */
		pthread_t	drain;

		pthread_create(&drain, NULL, drain_main, (void *) (intptr_t) fds[0]);
		pthread_detach(drain);
	}
	return pid;
}

/* SIGTERM, then waits up to 10 s; returns seconds to exit (-1: killed). */
static double
stop_sandbox(pid_t pid, int *status)
{
	double		t0 = now_s();

	kill(pid, SIGTERM);
	while (now_s() - t0 < 10.0)
	{
		struct timespec ms = {0, 1000000};

		if (waitpid(pid, status, WNOHANG) == pid)
			return now_s() - t0;
		nanosleep(&ms, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

int
main(int argc, char **argv)
{
	const char *binary;
	int			nclients = 8;
	double		first_line_s;
	double		t0,
				elapsed,
				stop_s;
	pid_t		pid;
	Buf			buf = {NULL, 0};
	char	   *tok,
			   *end;
	Client	   *clients;
	long		ok = 0,
				other = 0,
				rss;
	long		status;
	int			i,
				exit_status = 0,
				failed = 0;
	char		body[256];

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s SANDBOX_BINARY [SECONDS [CLIENTS]]\n", argv[0]);
		return 2;
	}
	binary = argv[1];
	if (argc > 2)
		run_seconds = atof(argv[2]);
	if (argc > 3)
		nclients = atoi(argv[3]);
	if (run_seconds <= 0 || nclients < 1 || nclients > 64)
	{
		fprintf(stderr, "sandbox_bench: bad SECONDS or CLIENTS\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	pid = start_sandbox(binary, &first_line_s);
	if (pid < 0)
		return 1;

	/* token */
	status = simple_request("POST", "/oauth/v2/token",
							"grant_type=refresh_token&client_id=1000.SANDBOX"
							"&client_secret=sandbox-secret&refresh_token=1000.sandbox.refresh",
							"application/x-www-form-urlencoded", 0, &buf, 10);
	tok = buf.data ? strstr(buf.data, "\"access_token\"") : NULL;
	if (status != 200 || tok == NULL || (tok = strchr(tok + 14, '"')) == NULL ||
		(end = strchr(tok + 1, '"')) == NULL)
	{
		fprintf(stderr, "sandbox_bench: token request failed (HTTP %ld): %s\n",
				status, buf.data ? buf.data : "");
		stop_sandbox(pid, &exit_status);
		return 1;
	}
	snprintf(auth_header, sizeof(auth_header), "Authorization: Zoho-oauthtoken %.*s",
			 (int) (end - tok - 1), tok + 1);
	free(buf.data);

	/* 8 clients, keep-alive, 500 ids per call */
	clients = calloc(nclients, sizeof(Client));
	if (clients == NULL)
		return 1;
	t0 = now_s();
	for (i = 0; i < nclients; i++)
	{
		clients[i].index = i;
		pthread_create(&clients[i].thread, NULL, client_main, &clients[i]);
	}
	for (i = 0; i < nclients; i++)
	{
		pthread_join(clients[i].thread, NULL);
		ok += clients[i].ok;
		other += clients[i].other;
	}
	elapsed = now_s() - t0;
	printf("sandbox: %.0f calls/s with %d ids, %d clients (target >= 1000)\n",
		   ok / elapsed, IDS_PER_CALL, nclients);
	if (other > 0)
	{
		for (i = 0; i < nclients; i++)
			if (clients[i].other > 0)
				fprintf(stderr, "sandbox_bench: client %d: %ld calls not answered 200 "
						"(last status %ld %s)\n", i, clients[i].other,
						clients[i].last_status, clients[i].last_error);
		failed = 1;
	}
	free(clients);

	/* 1,000,000 records in one module */
	snprintf(body, sizeof(body),
			 "{\"module\":\"Leads\",\"count\":%d,\"first_id\":\"%s\","
			 "\"values\":{\"City\":\"Bulk\"}}", BULK_COUNT, BULK_FIRST_ID);
	t0 = now_s();
	buf.data = NULL;
	buf.len = 0;
	status = simple_request("POST", "/__sandbox/records", body, "application/json", 0,
							&buf, 300);
	elapsed = now_s() - t0;
	if (status != 200)
	{
		fprintf(stderr, "sandbox_bench: POST /__sandbox/records answered %ld: %s\n",
				status, buf.data ? buf.data : "");
		failed = 1;
	}
	free(buf.data);
	rss = vmrss_kib(pid);
	printf("sandbox: RSS with 1,000,000 records: %.0f MiB (target < 1024)\n", rss / 1024.0);
	printf("sandbox: creating 1,000,000 records took %.2f s\n", elapsed);

	stop_s = stop_sandbox(pid, &exit_status);
	printf("sandbox: start to first line %.0f ms, SIGTERM to exit %.0f ms "
		   "(exit status %d; target < 1000 ms each)\n",
		   first_line_s * 1000.0, stop_s * 1000.0,
		   WIFEXITED(exit_status) ? WEXITSTATUS(exit_status) : 128 + WTERMSIG(exit_status));
	if (stop_s < 0 || !WIFEXITED(exit_status) || WEXITSTATUS(exit_status) != 0)
		failed = 1;
	curl_global_cleanup();
	return failed;
}
