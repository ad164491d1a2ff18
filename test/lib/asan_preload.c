/*
 * asan_preload.c
 *		asan_preload.so: preloaded after libasan into the server of
 *		`test/regress.sh --asan`, and linked with -z initfirst, so that
 *		AddressSanitizer starts before any other library constructor runs.
 *
 * Why: a preloaded libasan is initialised late, after the constructors of
 * the libraries the program needs, and ASan starts lazily on the first
 * malloc() instead.  Some of those constructors malloc while holding one of
 * glibc's locale rwlocks for writing: libgpg-error's (postgres gets it from
 * libsystemd -> libgcrypt) calls bindtextdomain(), which holds
 * _nl_state_lock; libp11-kit's (curl, which the tests run from the server)
 * calls newlocale(), which holds __libc_setlocale_lock.  ASan's start calls
 * dlerror(), which calls dcgettext(), which takes both locks for reading from
 * the same thread.  glibc refuses that (EDEADLK, unchecked by dcgettext) and
 * the two unlocks that follow leave the lock with a reader count of -1, so
 * the next writer (postgres's main() calling bindtextdomain(), curl's
 * setlocale()) waits forever: even `postgres -V` hangs.
 *
 * DF_1_INITFIRST makes ld.so run this constructor before every other one
 * (libc's included; libc's early set-up is done before any constructor).
 * __asan_init() may be called any number of times.
 */
void		__asan_init(void);

__attribute__((constructor))
static void
start_asan_first(void)
{
	__asan_init();
}
