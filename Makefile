# cleave: `make demo` and `make test` each work as the only command on a fresh Debian machine:
# they install what is missing (apt), build, then run.

BUILD_DIR ?= build
MAKEFLAGS += --no-print-directory
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
# CI (which sets CI=true) builds with -Werror; local builds only warn.
WERROR ?= $(if $(filter true,$(CI)),ON,OFF)



# Debian packages the build, the tests and the example models need.
DEB_PACKAGES := build-essential cmake pkg-config \
	libeigen3-dev libopenblas-pthread-dev libxnnpack-dev libpthreadpool-dev libcpuinfo-dev \
	libonnx-dev libprotobuf-dev protobuf-compiler libgemmlowp-dev \
	doctest-dev libcli11-dev libfmt-dev libspdlog-dev libbenchmark-dev libtomlplusplus-dev nlohmann-json3-dev \
	libzmq3-dev cppzmq-dev capnproto libcapnp-dev libsodium-dev \
	libonnx-testdata dataset-fashion-mnist python3 python3-numpy python3-onnx python3-torch python3-torchvision
# Extra packages for `make bench` (ONNX Runtime comes from npm as onnxruntime-node).
BENCH_DEB_PACKAGES := nodejs npm

.PHONY: all deps bench-deps build test test-asan test-tsan test-aarch64 bench demo soak clean

all: build

deps:
	@./tools/install-deps.sh $(DEB_PACKAGES)

bench-deps: deps
	@./tools/install-deps.sh $(filter-out $(if $(shell command -v npm),nodejs npm),$(BENCH_DEB_PACKAGES))
	@cd bench && npm ls onnxruntime-node >/dev/null 2>&1 || \
		npm install --no-audit --no-fund --ignore-scripts >/dev/null

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCLEAVE_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

# The whole suite under sanitizers, each in its own build folder (the fleet tests start the
# sanitized cleaved and cleave-agent too). Any report fails the test that caused it.
# Warnings stay warnings here: GCC 12 reports false -Wmaybe-uninitialized inside std::regex and
# std::function once the sanitizers instrument them.
SANITIZER_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLEAVE_WERROR=OFF
test-asan: deps
	cmake -S . -B build-asan $(SANITIZER_FLAGS) -DCLEAVE_SANITIZE=ON >/dev/null
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# TSan slows everything 5-15x: the fleet harness's timeouts are scaled (CLEAVE_TEST_TIME_SCALE).
# Every received ZeroMQ frame is a suppressed race (tests/tsan.supp says why). Two TSan defaults
# break that at this volume: each report searches a list of every racy address seen so far
# (suppress_equal_addresses), which made the fleet tests' processes slower by the minute until
# heartbeats went unanswered for seconds; and with the default history libzmq's side of a race
# often cannot be restored, so the report cannot be matched to its suppression and fails the
# process (history_size=7). Reports are still deduplicated by stack. Tests run
# one at a time: beside fmnist_accuracy_test (minutes under TSan) the fleet tests' processes
# would share the two cores with it and the time scale would have to grow.
test-tsan: deps
	cmake -S . -B build-tsan $(SANITIZER_FLAGS) -DCLEAVE_TSAN=ON >/dev/null
	cmake --build build-tsan -j$(JOBS)
	cd build-tsan && CLEAVE_TEST_TIME_SCALE=5 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppress_equal_addresses=0:history_size=7:suppressions=$(CURDIR)/tests/tsan.supp \
		ctest --output-on-failure -j1 $(CTEST_ARGS)

# The runtime cross-built for aarch64 (Raspberry Pi 3/4/5) with Debian's cross compiler and arm64
# libraries, its unit, ONNX conformance and torchvision tests run under qemu-aarch64. Speed under
# emulation means nothing; the results must match as on x86.
AARCH64_DEB_PACKAGES := g++-aarch64-linux-gnu qemu-user
test-aarch64: deps
	@./tools/install-deps.sh $(AARCH64_DEB_PACKAGES)
	./tools/cross/aarch64-sysroot.sh build-aarch64/sysroot
	cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=tools/cross/aarch64.cmake \
		-DCLEAVE_AARCH64_SYSROOT=$(CURDIR)/build-aarch64/sysroot -DCLEAVE_RUNTIME_ONLY=ON -DCLEAVE_NATIVE=OFF \
		-DCLEAVE_OPENBLAS=OFF -DCMAKE_BUILD_TYPE=Release -DCLEAVE_WERROR=$(WERROR) >/dev/null
	cmake --build build-aarch64 -j$(JOBS)
	cd build-aarch64 && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

bench: bench-deps build
	./bench/run_runtime_bench.sh $(BUILD_DIR)
	./bench/run_planner_bench.sh $(BUILD_DIR)
	./bench/run_transport_bench.sh $(BUILD_DIR)
	./bench/run_adaptive_bench.sh $(BUILD_DIR)
	./bench/run_nonn_bench.sh $(BUILD_DIR)
	./bench/run_early_exit_bench.sh $(BUILD_DIR)
	./bench/run_quantisation_bench.sh $(BUILD_DIR)

demo: build
	./tools/demo.sh $(BUILD_DIR) $(DEMO_ARGS)

# Soak test (not in CI): four agents under steady load for SOAK_MINUTES while agents are killed
# and restarted; builds only what it runs. Extra flags: SOAK_ARGS="--rate 50 --kill-every 1".
SOAK_MINUTES ?= 30
soak: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCLEAVE_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD_DIR) -j$(JOBS) --target cleave-soak
	@mkdir -p $(BUILD_DIR)/soak
	$(BUILD_DIR)/tools/soak/cleave-soak --minutes $(SOAK_MINUTES) --report $(BUILD_DIR)/soak/report.md $(SOAK_ARGS)

clean:
	rm -rf $(BUILD_DIR)

# libFuzzer targets (fuzz/): clang with ASan/UBSan in build-fuzz, each target run FUZZ_SECONDS
# from a copy of its seed corpus; the table goes to fuzz/results.md. -O1 -g without -DNDEBUG:
# fast enough to fuzz, readable stacks, and our own asserts stay armed.
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_DEB_PACKAGES := clang libfuzzer-14-dev
.PHONY: fuzz
fuzz: deps
	@./tools/install-deps.sh $(FUZZ_DEB_PACKAGES)
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD_DIR) -DCLEAVE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
	cmake --build $(FUZZ_BUILD_DIR) -j$(JOBS) --target fuzz_targets
	./fuzz/run_fuzzers.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)
