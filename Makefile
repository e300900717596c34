# Thin front of the CMake build: the README's commands.
#   make run     build and run the demo (the main job)
#   make test    build and pass every test, then the concurrent tests under
#                ASan+UBSan and TSan
#   make bench   benchmarks against the alternatives, one table with ratios
#   make install PREFIX=/usr/local
JOBS   ?= $(shell nproc)
PREFIX ?= /usr/local
CMAKE  := cmake
B      := build

.PHONY: all deps run test bench install clean

all: $(B)/.built

deps:
	@sh scripts/deps.sh build

$(B)/.built: deps FORCE
	@$(CMAKE) -S . -B $(B) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@$(CMAKE) --build $(B) -j $(JOBS)
	@touch $@

build-%/.built: deps FORCE
	@$(CMAKE) -S . -B build-$* -DWOM_SANITIZE=$(if $(filter asan,$*),address,thread) >/dev/null
	@$(CMAKE) --build build-$* -j $(JOBS) --target wom_tests
	@touch $@

run: $(B)/.built
	$(B)/wom demo

test: $(B)/.built build-asan/.built build-tsan/.built
	@sh scripts/test.sh

bench: deps
	@sh scripts/deps.sh bench
	@$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DWOM_BENCH=ON >/dev/null
	@$(CMAKE) --build build-bench -j $(JOBS)
	@sh bench/run.sh build-bench

install: $(B)/.built
	$(CMAKE) --install $(B) --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-bench

FORCE:
