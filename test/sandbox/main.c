/*
 * main.c
 *		zcrm-sandbox: a local emulator of Zoho CRM's Mass Update API.
 *
 * Parses the command line (DESIGN section 7, defaults in 8.12), loads the
 * fixture, starts the server and the job runner, prints
 * "zcrm-sandbox listening on http://127.0.0.1:PORT" and waits for SIGTERM
 * or SIGINT, then stops everything, frees everything and exits 0.
 */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"
#include "limits.h"
#include "model.h"
#include "oauth.h"
#include "options.h"
#include "records.h"
#include "reqlog.h"
#include "server.h"
#include "store.h"
#include "util.h"

Options		g_opts = {
	.port = 0,
	.fixture = NULL,
	.token_ttl = 3600,
	.job_rate = 1000,
	.concurrency_limit = 10,
	.daily_credits = 0,
	.latency_ms = 0,
	.dc = "com",
	.seed = 1,
};

static const char *const data_centres[] = {
	"com", "eu", "in", "com.au", "jp", "com.cn", "ca", "sa", NULL
};

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: zcrm-sandbox [--port N] [--fixture FILE] [--token-ttl SECONDS]\n"
			"                    [--job-rate RECORDS_PER_S] [--concurrency-limit N]\n"
			"                    [--daily-credits N] [--latency-ms N] [--dc NAME] [--seed N]\n"
			"defaults: --port 0 (any free port), --fixture ../fixtures/sandbox.json beside\n"
			"the executable, --token-ttl 3600, --job-rate 1000, --concurrency-limit 10,\n"
			"--daily-credits 0 (unlimited), --latency-ms 0, --dc com, --seed 1\n");
}

static bool
parse_long(const char *s, long lo, long hi, long *out)
{
	char	   *end;
	long		v;

	if (s == NULL || *s == '\0')
		return false;
	v = strtol(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool
valid_dc(const char *dc)
{
	for (int i = 0; data_centres[i]; i++)
		if (strcmp(dc, data_centres[i]) == 0)
			return true;
	return false;
}

/* Returns false (after printing why) on a bad command line. */
static bool
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"fixture", required_argument, NULL, 'f'},
		{"token-ttl", required_argument, NULL, 't'},
		{"job-rate", required_argument, NULL, 'j'},
		{"concurrency-limit", required_argument, NULL, 'c'},
		{"daily-credits", required_argument, NULL, 'd'},
		{"latency-ms", required_argument, NULL, 'l'},
		{"dc", required_argument, NULL, 'D'},
		{"seed", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	long		v;
	char	   *end;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		bool		ok = true;

		switch (c)
		{
			case 'p':
				ok = parse_long(optarg, 0, 65535, &v);
				g_opts.port = (int) v;
				break;
			case 'f':
				g_opts.fixture = optarg;
				break;
			case 't':
				ok = parse_long(optarg, 1, 100000000, &v);
				g_opts.token_ttl = (int) v;
				break;
			case 'j':
				g_opts.job_rate = strtod(optarg, &end);
				ok = *optarg && *end == '\0' && g_opts.job_rate > 0 && g_opts.job_rate <= 1e9;
				break;
			case 'c':
				ok = parse_long(optarg, 1, 100000, &v);
				g_opts.concurrency_limit = (int) v;
				break;
			case 'd':
				ok = parse_long(optarg, 0, LONG_MAX, &v);
				g_opts.daily_credits = v;
				break;
			case 'l':
				ok = parse_long(optarg, 0, 3600000, &v);
				g_opts.latency_ms = (int) v;
				break;
			case 'D':
				g_opts.dc = optarg;
				ok = valid_dc(optarg);
				break;
			case 's':
				g_opts.seed = strtoull(optarg, &end, 10);
				ok = *optarg && *end == '\0';
				break;
			case 'h':
				usage(stdout);
				exit(0);
			default:
				usage(stderr);
				return false;
		}
		if (!ok)
		{
			const char *name = "?";

			for (int i = 0; longopts[i].name; i++)
				if (longopts[i].val == c)
					name = longopts[i].name;
			fprintf(stderr, "zcrm-sandbox: invalid value for --%s: %s\n", name, optarg);
			usage(stderr);
			return false;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "zcrm-sandbox: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return false;
	}
	return true;
}

/* ../fixtures/sandbox.json relative to the directory of the executable. */
static char *
default_fixture(void)
{
	char		exe[PATH_MAX];
	ssize_t		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char	   *path;

	if (n <= 0)
		return xstrdup("../fixtures/sandbox.json");
	exe[n] = '\0';
	path = xmalloc(strlen(exe) + 32);
	sprintf(path, "%s/../fixtures/sandbox.json", dirname(exe));
	return path;
}

static void
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
	sigset_t	set;
	char	   *fixture;
	char		err[512];
	Faults		cli;
	int			sig;

	if (!parse_args(argc, argv))
		return 2;
	/* answers of ~200 kB: keep them off mmap/munmap (page faults each time) */
	mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	/* every thread started from here on inherits the blocked signals */
	block_signals(&set);

	fixture = g_opts.fixture ? xstrdup(g_opts.fixture) : default_fixture();
	if (org_load(fixture, err, sizeof(err)) == NULL)
	{
		fprintf(stderr, "zcrm-sandbox: %s\n", err);
		free(fixture);
		return 1;
	}
	free(fixture);

	memset(&cli, 0, sizeof(cli));
	cli.latency_ms = g_opts.latency_ms;
	cli.error_status = 500;
	cli.token_ttl = g_opts.token_ttl;
	cli.concurrency_limit = g_opts.concurrency_limit;
	cli.daily_credits = g_opts.daily_credits;
	cli.job_rate = g_opts.job_rate;
	limits_init(&cli);
	store_init(g_org->nmodules);
	records_init();
	records_load_fixture(g_opts.seed);
	oauth_init(g_opts.dc);
	reqlog_init();
	jobs_start();
	if (!server_start(g_opts.port, err, sizeof(err)))
	{
		fprintf(stderr, "zcrm-sandbox: %s\n", err);
		jobs_stop();
		reqlog_free();
		oauth_free();
		store_free();
		records_free();
		org_free(g_org);
		return 1;
	}
	printf("zcrm-sandbox listening on %s\n", g_base_url);
	fflush(stdout);

	while (sigwait(&set, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
		;

	shutdown_begin();
	server_stop();
	jobs_stop();
	reqlog_free();
	oauth_free();
	store_free();
	records_free();
	org_free(g_org);
	g_org = NULL;
	return 0;
}
