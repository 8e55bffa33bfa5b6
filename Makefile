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
	libeigen3-dev libopenblas-pthread-dev libonnx-dev libprotobuf-dev protobuf-compiler \
	doctest-dev libcli11-dev libfmt-dev libspdlog-dev libbenchmark-dev libtomlplusplus-dev \
	libzmq3-dev cppzmq-dev capnproto libcapnp-dev libsodium-dev \
	libonnx-testdata dataset-fashion-mnist python3 python3-numpy python3-onnx python3-torch python3-torchvision
# Extra packages for `make bench` (ONNX Runtime comes from npm as onnxruntime-node).
BENCH_DEB_PACKAGES := nodejs npm

.PHONY: all deps bench-deps build test bench demo clean

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

bench: bench-deps build
	./bench/run_runtime_bench.sh $(BUILD_DIR)
	./bench/run_planner_bench.sh $(BUILD_DIR)
	./bench/run_transport_bench.sh $(BUILD_DIR)
	./bench/run_adaptive_bench.sh $(BUILD_DIR)

demo: build
	./tools/demo.sh $(BUILD_DIR) $(DEMO_ARGS)

clean:
	rm -rf $(BUILD_DIR)
