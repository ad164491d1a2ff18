# asan.sh: helpers of `test/regress.sh --asan`.  Source it BEFORE common.sh.
#
# The extension is built with -fsanitize=address,undefined from a scratch
# copy of the sources (so that the checkout's plain objects stay as they
# are) and installed into a private PostgreSQL copy made for this run only
# (so that no plain run, here or in another checkout, loads it).  Debian's
# postgres is not instrumented: libasan is preloaded into the server through
# the environment of pg_ctl, together with asan_preload.so (see
# asan_preload.c for why it deadlocks without it).  What is checked: the
# extension's own code (stack, globals, and every malloc'd buffer: its own,
# libcurl's and jansson's; palloc'd memory inside PostgreSQL's blocks is not
# poisoned, so overflows inside a palloc chunk go unseen) and UBSan's checks
# on the extension.

ZCRM_ASAN_DIR=$(mktemp -d /tmp/massupdate-asan.XXXXXX)
chmod 755 "$ZCRM_ASAN_DIR"	# postgres runs the server from the copy in it
export ZCRM_PG_COPY=$ZCRM_ASAN_DIR/pg
ZCRM_ASAN_FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined"

# zcrm_asan_build_install: the sandbox (plain, from the checkout), the
# instrumented extension into the private copy, and asan_preload.so.
zcrm_asan_build_install() {
	local b=$ZCRM_ASAN_DIR/build
	make -C "$ZCRM_ROOT" -s sandbox >/dev/null || return 1
	mkdir -p "$b/test" &&
		cp -a "$ZCRM_ROOT/Makefile" "$ZCRM_ROOT/massupdate.control" "$ZCRM_ROOT/src" "$ZCRM_ROOT/sql" "$b/" &&
		cp -a "$ZCRM_ROOT/test/sandbox" "$b/test/" || return 1
	# the checkout's plain objects are newer than the sources: rebuild all
	find "$b" \( -name '*.o' -o -name '*.so' -o -name '*.bc' \) -delete
	# COPT goes into PGXS's CFLAGS and LDFLAGS: the .so then needs libasan and libubsan
	make -C "$b" -s -j2 COPT="$ZCRM_ASAN_FLAGS" >/dev/null &&
		make -C "$b" -s install COPT="$ZCRM_ASAN_FLAGS" >/dev/null || return 1
	ldd "$(zcrm_pg_config --pkglibdir)/massupdate.so" | grep -q libasan ||
		{ echo "massupdate.so is not instrumented" >&2; return 1; }
	gcc -O1 -g -shared -fPIC -Wl,-z,initfirst -o "$ZCRM_ASAN_DIR/asan_preload.so" "$ZCRM_ROOT/test/lib/asan_preload.c" || return 1
	# the server's environment (common.sh passes it to pg_ctl start).
	# detect_leaks=0: backends exit without freeing what PostgreSQL and its
	# libraries keep to the end.  quarantine_size_mb=32 (default 256): freed
	# blocks held back to catch use after free count in the backend's RSS,
	# and 10_mass_update checks that a 100,000-id call grows it < 100 MB.
	# Reports go to the server log (stderr); ASan ends the process.
	ZCRM_SERVER_ENV="LD_PRELOAD=$(gcc -print-file-name=libasan.so):$ZCRM_ASAN_DIR/asan_preload.so"
	ZCRM_SERVER_ENV+=" ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=32:abort_on_error=0:print_summary=1"
	ZCRM_SERVER_ENV+=" UBSAN_OPTIONS=print_stacktrace=1"
}

# zcrm_asan_reports LOG: print the sanitizer reports in a server log; true if any
zcrm_asan_reports() {
	grep -E -A 40 'ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|Undefined)' "$1"
}

# zcrm_asan_cleanup: remove the private copy and the build
zcrm_asan_cleanup() { rm -rf "$ZCRM_ASAN_DIR"; }
