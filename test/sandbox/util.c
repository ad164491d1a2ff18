/*
 * util.c
 *		Allocation, ids, time and JSON value helpers shared by every file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "util.h"

void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
	{
		fprintf(stderr, "zcrm-sandbox: out of memory\n");
		abort();
	}
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "zcrm-sandbox: out of memory\n");
		abort();
	}
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
	{
		fprintf(stderr, "zcrm-sandbox: out of memory\n");
		abort();
	}
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char	   *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

uint64_t
hash64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t
hash_str(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return hash64(h);
}

bool
parse_id(const char *s, size_t len, uint64_t *id)
{
	uint64_t	v = 0;
	size_t		i;

	/* leading zeros do not change the integer */
	while (len > 1 && s[0] == '0')
	{
		s++;
		len--;
	}
	if (len == 0 || len > 19)
		return false;
	for (i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t) (s[i] - '0');
	}
	/* 19 digits fit in uint64; Zoho ids are signed 64-bit and positive */
	if (v == 0 || v > (uint64_t) INT64_MAX)
		return false;
	*id = v;
	return true;
}

bool
json_to_id(const json_t *v, uint64_t *id)
{
	if (json_is_string(v))
		return parse_id(json_string_value(v), json_string_length(v), id);
	if (json_is_integer(v) && json_integer_value(v) > 0)
	{
		*id = (uint64_t) json_integer_value(v);
		return true;
	}
	return false;
}

/*
 * Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm): the
 * mass-update answer formats a time per record, and gmtime/strftime would
 * dominate it.
 */
static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = (int) (yoe + era * 400 + (*m <= 2));
}

static char *
put2(char *p, int v)
{
	p[0] = (char) ('0' + v / 10 % 10);
	p[1] = (char) ('0' + v % 10);
	return p + 2;
}

void
format_time(time_t t, char *buf)
{
	int64_t		days = (int64_t) t / 86400;
	int64_t		secs = (int64_t) t % 86400;
	int			y,
				m,
				d;
	char	   *p = buf;

	if (secs < 0)
	{
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
	{
		strcpy(buf, "1970-01-01T00:00:00+00:00");
		return;
	}
	p = put2(p, y / 100);
	p = put2(p, y % 100);
	*p++ = '-';
	p = put2(p, m);
	*p++ = '-';
	p = put2(p, d);
	*p++ = 'T';
	p = put2(p, (int) (secs / 3600));
	*p++ = ':';
	p = put2(p, (int) (secs / 60 % 60));
	*p++ = ':';
	p = put2(p, (int) (secs % 60));
	strcpy(p, "+00:00");
}

void
format_date(time_t t, char *buf)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%d", &tm);
}

static bool
digits(const char *s, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool
valid_ymd(int y, int m, int d)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			max;

	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

bool
parse_date(const char *s, time_t *t)
{
	int			y,
				m,
				d;
	struct tm	tm;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
		!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d) ||
		!valid_ymd(y, m, d))
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*t = timegm(&tm);
	return true;
}

bool
parse_datetime(const char *s, time_t *t)
{
	int			hh,
				mi,
				ss,
				oh,
				om;
	char		date[11];

	/* YYYY-MM-DDTHH:MM:SS+HH:MM, exactly 25 characters */
	if (strlen(s) != 25 || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
		(s[19] != '+' && s[19] != '-') || s[22] != ':')
		return false;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!parse_date(date, t) ||
		!digits(s + 11, 2, &hh) || !digits(s + 14, 2, &mi) ||
		!digits(s + 17, 2, &ss) || !digits(s + 20, 2, &oh) ||
		!digits(s + 23, 2, &om) ||
		hh > 23 || mi > 59 || ss > 59 || oh > 14 || om > 59)
		return false;
	*t += hh * 3600 + mi * 60 + ss;
	*t -= (s[19] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	return true;
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pthread_mutex_t shutdown_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t shutdown_cond = PTHREAD_COND_INITIALIZER;
static bool shutdown_flag = false;

void
shutdown_begin(void)
{
	pthread_mutex_lock(&shutdown_lock);
	shutdown_flag = true;
	pthread_cond_broadcast(&shutdown_cond);
	pthread_mutex_unlock(&shutdown_lock);
}

bool
shutting_down(void)
{
	bool		v;

	pthread_mutex_lock(&shutdown_lock);
	v = shutdown_flag;
	pthread_mutex_unlock(&shutdown_lock);
	return v;
}

void
sleep_ms(int64_t ms)
{
	struct timespec until;

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000)
	{
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&shutdown_lock);
	while (!shutdown_flag)
	{
		if (pthread_cond_timedwait(&shutdown_cond, &shutdown_lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&shutdown_lock);
}

static void
append_real(StrBuf *sb, double d)
{
	char		buf[40];

	/* the shortest of %.15g .. %.17g that reads back to d */
	for (int prec = 15; prec <= 17; prec++)
	{
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	sb_puts(sb, buf);
	if (strpbrk(buf, ".eEn") == NULL)
		sb_puts(sb, ".0");
}

static void
append_value(StrBuf *sb, const json_t *v)
{
	switch (json_typeof(v))
	{
		case JSON_OBJECT:
			{
				const char *key;
				json_t	   *item;
				bool		first = true;

				sb_putc(sb, '{');
				json_object_foreach((json_t *) v, key, item)
				{
					if (!first)
						sb_putc(sb, ',');
					first = false;
					sb_json_cstring(sb, key);
					sb_putc(sb, ':');
					append_value(sb, item);
				}
				sb_putc(sb, '}');
				break;
			}
		case JSON_ARRAY:
			{
				size_t		i;
				json_t	   *item;

				sb_putc(sb, '[');
				json_array_foreach(v, i, item)
				{
					if (i > 0)
						sb_putc(sb, ',');
					append_value(sb, item);
				}
				sb_putc(sb, ']');
				break;
			}
		case JSON_STRING:
			sb_json_string(sb, json_string_value(v), json_string_length(v));
			break;
		case JSON_INTEGER:
			sb_printf(sb, "%lld", (long long) json_integer_value(v));
			break;
		case JSON_REAL:
			append_real(sb, json_real_value(v));
			break;
		case JSON_TRUE:
			sb_puts(sb, "true");
			break;
		case JSON_FALSE:
			sb_puts(sb, "false");
			break;
		case JSON_NULL:
			sb_puts(sb, "null");
			break;
	}
}

char *
value_to_text(const json_t *v, size_t *len)
{
	StrBuf		sb;

	sb_init(&sb, 64);
	append_value(&sb, v);
	return sb_steal(&sb, len);
}
