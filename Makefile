# CareCommons: the two commands are `make run` and `make test`. Everything else is set up on the way.
BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test stop asan bench fuzz format clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Serve on CARECOMMONS_LISTEN (default 127.0.0.1:8080). Without CARECOMMONS_DATABASE_URL a private
# PostgreSQL is started under ./var/pg and reused by later runs.
run: build
	@BUILD=$(BUILD) scripts/run.sh

stop:
	@scripts/stop.sh

# ctest shows a test's output only when it fails; the Check summary of every test is printed after it.
test: build
	@cd $(BUILD) && { ctest --output-on-failure -j2 --timeout 900; rc=$$?; \
		grep -h '^[0-9]*%: Checks: ' Testing/Temporary/LastTest.log; \
		pkill -f '[p]ostgres -D /tmp/cc-test-' 2>/dev/null; exit $$rc; }

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCC_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && { ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j2 --timeout 1800; rc=$$?; \
		grep -h '^[0-9]*%: Checks: ' Testing/Temporary/LastTest.log; \
		pkill -f '[p]ostgres -D /tmp/cc-test-' 2>/dev/null; exit $$rc; }

bench: build
	@CC_BENCH_DEPS=1 scripts/deps.sh
	@BUILD=$(BUILD) bench/run.sh

fuzz:
	@tests/fuzz/run.sh $(or $(FUZZ_SECONDS),600)

format:
	@clang-format -i service/*.[ch] consent/*.[ch] stats/*.[ch] tests/*/*.[ch] bench/*.[ch]

clean:
	rm -rf $(BUILD) build-asan
