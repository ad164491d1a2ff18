/*
 * asan_options.c
 *		Default sanitizer options of zcrm-sandbox-asan (linked only there).
 *
 * UBSan aborts with a stack trace on the first report; ASan reports leaks at
 * exit, which makes the exit status non-zero.
 */
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

const char *
__asan_default_options(void)
{
	return "detect_leaks=1:abort_on_error=1:halt_on_error=1";
}

const char *
__ubsan_default_options(void)
{
	return "print_stacktrace=1:halt_on_error=1:abort_on_error=1";
}
