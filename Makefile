# massupdate: PGXS build of the extension, plus the sandbox and the test,
# demo and benchmark entry points.  See README.md.

EXTENSION = massupdate
MODULE_big = massupdate
EXTVERSION = 1.0

SRCS = $(sort $(wildcard src/*.c))
OBJS = $(SRCS:.c=.o)

DATA_built = $(EXTENSION)--$(EXTVERSION).sql
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))

PG_CPPFLAGS = -Isrc
SHLIB_LINK = -lcurl -ljansson
PG_CFLAGS = -Wall -Wmissing-prototypes -Werror=implicit-function-declaration

EXTRA_CLEAN = $(DATA_built) results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
# A fresh machine: `make test` and `make demo` install the packages first.
all install installcheck:
	@echo "PostgreSQL 15 server headers are missing: run 'make test' or 'make demo'," >&2
	@echo "which install them as root, or: sudo apt-get install -y postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev curl python3" >&2
	@exit 1
clean:
	rm -f $(OBJS) $(DATA_built)
endif

all: sandbox

$(DATA_built): $(INSTALL_PARTS)
	cat $^ > $@

.PHONY: sandbox sandbox-asan test demo bench unit regress-asan

sandbox:
	$(MAKE) -C test/sandbox

sandbox-asan:
	$(MAKE) -C test/sandbox asan

test:
	bash test/run

demo:
	bash test/demo.sh

regress-asan:
	bash test/regress.sh --asan

bench:
	bash test/bench/run.sh

clean: clean-sandbox
clean-sandbox:
	-$(MAKE) -C test/sandbox clean
