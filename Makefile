# Front door for people and CI: installs dependencies, configures, builds,
# tests.  CMake does the real work; build trees live in build/ (normal) and
# build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).

JOBS   ?= $(shell nproc)
BUILD  ?= build
ASAN   ?= build-asan
CTEST_FLAGS ?= --output-on-failure -V -j $(JOBS)

.PHONY: all deps build build-asan check check-fast check-asan demo bench clean

all: build

deps:
	@./deploy/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DXIEZHI_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN)/CMakeCache.txt
	cmake --build $(ASAN) -j $(JOBS)

# Every cmocka test (unit and integration) through ctest, then the same
# suite again under ASan+UBSan.
check: check-fast check-asan

check-fast: build
	cd $(BUILD) && ctest $(CTEST_FLAGS)

check-asan: build-asan
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS)

demo: build
	./deploy/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN)
