# Front door for people and CI: installs dependencies, configures, builds,
# tests.  CMake does the real work; build trees live in build/ (normal) and
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).

JOBS   ?= $(shell nproc)
BUILD  ?= build
ASAN   ?= build-asan
CTEST_FLAGS ?= --output-on-failure -V -j $(JOBS)

.PHONY: all deps build build-asan check check-fast check-asan demo bench clean
.PHONY: build-fuzz check-fuzz fuzz

all: build

deps:
	@./deploy/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DXIEZHI_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

build-asan: deps $(ASAN)/CMakeCache.txt
	cmake --build $(ASAN) -j $(JOBS) -- --no-print-directory

# Every cmocka test (unit and integration) through ctest, then the same
# suite again under ASan+UBSan.
check: check-fast check-asan check-fuzz

check-fast: build
	cd $(BUILD) && ctest $(CTEST_FLAGS)

check-asan: build-asan
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS)

# libFuzzer harnesses (docs/fuzzing.md): clang, ASan+UBSan, own build tree.
# check-fuzz: seeds and recorded crashes once, then every harness for
# CHECK_FUZZ_SECONDS (two at a time); fuzz: every harness for FUZZ_SECONDS.
FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 600
CHECK_FUZZ_SECONDS ?= 20

$(FUZZ)/CMakeCache.txt: | deps
	CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DXIEZHI_SANITIZE=ON -DXIEZHI_FUZZ=ON

build-fuzz: deps $(FUZZ)/CMakeCache.txt
	cmake --build $(FUZZ) -j $(JOBS) --target fuzzers -- --no-print-directory

check-fuzz: build-fuzz
	cd $(FUZZ) && ctest -R '^fuzz_' --output-on-failure
	./tests/fuzz/run.sh $(FUZZ) $(CHECK_FUZZ_SECONDS)

fuzz: build-fuzz
	./tests/fuzz/run.sh $(FUZZ) $(FUZZ_SECONDS)

# DEMO_SIZE: people in the invented population (10^3 to 10^7).
DEMO_SIZE ?= 10000
demo: build
	./deploy/demo.sh $(BUILD) --size $(DEMO_SIZE)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
