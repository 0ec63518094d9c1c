# sstp-lb — one Makefile for the whole tree.
#
# Sources are found by folder (see architecture: one folder per part), so a
# new file needs no Makefile change:
#   sstp/ core/ lb/          static libraries
#   backend/ proxy/          a library of everything but main.c, plus the daemon
#   tools/<name>.c           one tool per file (sstpctl)
#   tools/<name>/*.c         one tool per folder (sstp-bench)
#   backend/pppd-plugin/     the pppd plugin .so
#   tests/unit/test_*.c      one cmocka binary each
#   tests/fuzz/fuzz_*.c      one libFuzzer target each (corpus in tests/fuzz/corpus/<name>/)
#
#   make            build/ : daemons, tools, plugin
#   make test       deps, then unit tests under ASan+UBSan, integration, e2e
#   make fuzz       each fuzz target for FUZZ_SECONDS (default 60)
#   make run        the whole stack on one host, or in User-Mode Linux where the
#                   kernel has no PPP (scripts/run.sh)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= gcc
B       ?= build
SAN     ?=
FUZZ_SECONDS ?= 60

WARN    = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
CPPFLAGS_ALL = -D_GNU_SOURCE -I. $(CPPFLAGS)
CFLAGS_ALL   = -std=c11 $(WARN) $(CFLAGS) -fno-strict-aliasing
LDLIBS_ALL   = -lev -lhiredis -linih -lssl -lcrypto -lutil $(LDLIBS)
ifeq ($(SAN),1)
CFLAGS_ALL  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS     += -fsanitize=address,undefined
endif

src_of  = $(wildcard $(1)/*.c)
objs_of = $(patsubst %.c,$(B)/obj/%.o,$(1))

SSTP_SRC    := $(call src_of,sstp)
CORE_SRC    := $(call src_of,core)
LB_SRC      := $(call src_of,lb)
BACKEND_SRC := $(filter-out backend/main.c,$(call src_of,backend))
PROXY_SRC   := $(filter-out proxy/main.c,$(call src_of,proxy))
TOOL_SRC    := $(call src_of,tools)
TOOL_DIRS   := $(patsubst tools/%/,%,$(sort $(dir $(wildcard tools/*/*.c))))
PLUGIN_SRC  := $(call src_of,backend/pppd-plugin)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_HELPER_SRC := $(filter-out $(UNIT_SRC),$(call src_of,tests/unit))
# Test vectors are computed at build time by independent Python scripts
# (hashlib/hmac), never printed by the code under test.
VECTOR_HDRS := $(patsubst tests/vectors/%.py,$(B)/vectors/%.h,$(wildcard tests/vectors/*.py))
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)

# Each binary links only the libraries it needs, so a wrong dependency fails
# the build. Lists are in link order: each library depends only on those after it.
SSTP_LIBS    := $(B)/libsstp.a
CORE_LIBS    := $(B)/libcore.a $(SSTP_LIBS)
LB_LIBS      := $(B)/liblb.a $(CORE_LIBS)
PROXY_LIBS   := $(B)/libproxy.a $(LB_LIBS)
BACKEND_LIBS := $(B)/libbackend.a $(LB_LIBS)

# A tool's libraries: libs_<tool>.
libs_sstpctl    := $(LB_LIBS)
libs_sstp-bench := $(CORE_LIBS)

# A unit test links the part it tests (its name says which) and what lies below.
# test_lb_redis_config checks both daemons' [redis] converters.
unit_libs = $(strip \
    $(if $(filter test_lb_redis_config,$(1)),$(B)/libproxy.a $(BACKEND_LIBS), \
    $(if $(filter test_backend_% test_plugin_%,$(1)),$(BACKEND_LIBS), \
    $(if $(filter test_proxy_%,$(1)),$(PROXY_LIBS), \
    $(if $(filter test_lb%,$(1)),$(LB_LIBS), \
    $(if $(filter test_core% test_ratelimit test_srclimit,$(1)),$(CORE_LIBS), \
    $(SSTP_LIBS)))))))

DAEMONS := $(if $(wildcard backend/main.c),$(B)/sstp-backend) \
           $(if $(wildcard proxy/main.c),$(B)/sstp-proxy)
TOOLS   := $(patsubst tools/%.c,$(B)/%,$(TOOL_SRC)) $(addprefix $(B)/,$(TOOL_DIRS))
PLUGIN  := $(if $(PLUGIN_SRC),$(B)/sstp-lb-pppd.so)
UNITS   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
FUZZERS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))

.PHONY: all test unit fuzz fuzz-build run install clean deps
# Second expansion lets a binary's prerequisites name its own library list
# ($$(libs_$$*), $$(call unit_libs,$$*)).
.SECONDEXPANSION:
all: $(DAEMONS) $(TOOLS) $(PLUGIN)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(B)/libsstp.a:    $(call objs_of,$(SSTP_SRC))
$(B)/libcore.a:    $(call objs_of,$(CORE_SRC))
$(B)/liblb.a:      $(call objs_of,$(LB_SRC))
$(B)/libbackend.a: $(call objs_of,$(BACKEND_SRC))
$(B)/libproxy.a:   $(call objs_of,$(PROXY_SRC))
$(B)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/sstp-backend: $(B)/obj/backend/main.o $(BACKEND_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
$(B)/sstp-proxy: $(B)/obj/proxy/main.o $(PROXY_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
$(patsubst tools/%.c,$(B)/%,$(TOOL_SRC)): $(B)/%: $(B)/obj/tools/%.o $$(libs_$$*)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
$(addprefix $(B)/,$(TOOL_DIRS)): $(B)/%: $$(call objs_of,$$(wildcard tools/$$*/*.c)) $$(libs_$$*)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)
# sstpctl serve's page is assembled into the binary (.incbin), unseen by -MMD.
$(B)/obj/tools/sstpctl.o: tools/dashboard/index.html

# The plugin is built against Debian's ppp-dev (pppd 2.4.9); MPPE exposes the
# mppe_*_key globals in chap_ms.h. pppd's headers are not -Wextra clean.
$(B)/sstp-lb-pppd.so: $(PLUGIN_SRC) $(wildcard backend/pppd-plugin/*.h) sstp/slice.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Werror -fPIC -shared -DMPPE=1 -I. -o $@ $(filter %.c,$^)

$(B)/vectors/%.h: tests/vectors/%.py
	@mkdir -p $(dir $@)
	python3 $< > $@.tmp && mv $@.tmp $@
# A static pattern rule, so make cannot fall back to the generic object rule
# before the vector headers exist.
UNIT_OBJS := $(call objs_of,$(UNIT_SRC) $(UNIT_HELPER_SRC))
$(UNIT_OBJS): CPPFLAGS_ALL += -I$(B)/vectors
$(UNIT_OBJS): $(B)/obj/%.o: %.c | $(VECTOR_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<
.SECONDARY:

$(UNITS): $(B)/tests/%: $(B)/obj/tests/unit/%.o $(call objs_of,$(UNIT_HELPER_SRC)) $$(call unit_libs,$$*)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS_ALL)

unit: $(UNITS)

# libFuzzer targets: clang with the fuzzer, ASan and UBSan runtimes, over sstp/ only.
$(B)/fuzz/%: tests/fuzz/%.c $(SSTP_SRC) $(wildcard sstp/*.h) tests/unit/pp_same.h
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -I. -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $< $(SSTP_SRC) -lcrypto
fuzz-build: $(FUZZERS)
fuzz: $(FUZZERS)
	FUZZ_DIR=$(B)/fuzz tests/fuzz/run.sh $(FUZZ_SECONDS)

deps:
	scripts/deps.sh test

# The README's test command. Everything it needs is installed first.
test: deps
	$(MAKE) all
	$(MAKE) B=build/asan SAN=1 all unit
	$(MAKE) fuzz-build
	tests/run.sh

run:
	scripts/deps.sh
	$(MAKE) all
	scripts/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/sstp-lb
	$(if $(DAEMONS),install -m 755 $(DAEMONS) $(DESTDIR)$(PREFIX)/sbin/)
	$(if $(TOOLS),install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/)
	$(if $(PLUGIN),install -m 644 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/sstp-lb/)
	install -d $(DESTDIR)/etc/sstp-lb
	install -m 644 $(wildcard conf/*.conf conf/*.options) $(DESTDIR)/etc/sstp-lb/
	$(if $(wildcard conf/systemd/*.service),install -d $(DESTDIR)/lib/systemd/system && \
	    install -m 644 conf/systemd/*.service $(DESTDIR)/lib/systemd/system/)

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
