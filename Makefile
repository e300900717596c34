# Thin front of the CMake build: the README's commands.
#   make run     build and run the demo (the main job)
#   make cluster-demo  the demo's processes on a local 3-member etcd cluster
#                whose leader is SIGKILLed and restarted mid-run
#   make test    build and pass every test, then the concurrent tests under
#                ASan+UBSan and TSan
#   make bench   benchmarks against the alternatives, one table with ratios,
#                and charts of it (build-bench/bench/bench-*.svg, .png)
#   make bench-chart  the README's charts, docs/img/bench-*.svg, from the
#                last make bench (build-bench/bench/results.tsv)
#   make fuzz    build the libFuzzer targets (clang) in build-fuzz and run each
#                for FUZZ_SECONDS from its seed corpus (fuzz/README.md)
#   make install PREFIX=/usr/local
MAKEFLAGS += --no-print-directory
JOBS   ?= $(shell nproc)
PREFIX ?= /usr/local
CMAKE  := cmake
B      := build
FUZZ_SECONDS ?= 60

.PHONY: all deps run cluster-demo test bench bench-chart fuzz soak install clean

all: $(B)/.built

# The etcd group is optional: without it the build leaves the etcd scope out.
deps:
	@sh scripts/deps.sh build
	@sh scripts/deps.sh etcd || echo "make: gRPC or protobuf-c missing, the etcd scope is left out"

$(B)/.built: deps FORCE
	@$(CMAKE) -S . -B $(B) -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@$(CMAKE) --build $(B) -j $(JOBS)
	@touch $@

build-%/.built: deps FORCE
	@$(CMAKE) -S . -B build-$* -DWOM_SANITIZE=$(if $(filter asan,$*),address,thread) >/dev/null
	@$(CMAKE) --build build-$* -j $(JOBS) --target wom_tests
	@touch $@

# The main job: producer and consumer processes over a shm: space in build/.
run: $(B)/.built
	@rm -f $(B)/demo.wom
	$(B)/wom demo --procs --uri shm:$(B)/demo.wom

# The same processes over etcd:// on a 3-member cluster in $(B)/cluster-demo
# (data on /dev/shm), the leader SIGKILLed and restarted mid-run, every
# message checked; the cluster goes however the run ends.
cluster-demo: $(B)/.built
	@sh scripts/deps.sh cluster || { echo "make cluster-demo: needs etcd-server (above)"; exit 1; }
	@sh scripts/cluster-demo.sh $(B)

test: $(B)/.built build-asan/.built build-tsan/.built
	@sh scripts/deps.sh test
	@sh scripts/deps.sh cluster || echo "make test: etcd missing, the cluster tests are skipped"
	@sh scripts/deps.sh fuzz || echo "make test: clang missing, the fuzz step is skipped"
	@sh scripts/test.sh

bench: deps
	@sh scripts/deps.sh bench
	@sh scripts/deps.sh cluster || echo "make bench: etcd missing, the cluster part is skipped"
	@$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DWOM_BENCH=ON >/dev/null
	@$(CMAKE) --build build-bench -j $(JOBS)
	@sh bench/run.sh build-bench

# The charts the README shows, from the last make bench. A scope that run
# left out keeps its old chart (plot.sh draws no chart without rows).
bench-chart:
	@test -s build-bench/bench/results.tsv || { echo "make bench-chart: no build-bench/bench/results.tsv: run make bench first"; exit 1; }
	@sh bench/plot.sh build-bench/bench/results.tsv build-bench/bench/chart
	@mkdir -p docs/img
	@for s in threads processes python cluster; do \
	  f=build-bench/bench/chart/bench-$$s.svg; \
	  if [ -s "$$f" ]; then cp "$$f" docs/img/ && echo "make bench-chart: docs/img/bench-$$s.svg"; fi; \
	done

# Not a build-%/.built stamp: that pattern configures a sanitizer build.
fuzz: deps
	@sh scripts/deps.sh fuzz
	@sh fuzz/run.sh $(FUZZ_SECONDS) build-fuzz

# Longer than make test: the demo's processes over shm: for SOAK_SECONDS
# (a third each at 64 B, 4 KiB and 64 KiB messages), every message checked,
# the space trimmed behind the consumers; the file's allocated size and the
# processes' resident size, sampled and printed, must stay flat within one
# arena chunk after a warm-up (scripts/soak.sh).
SOAK_SECONDS ?= 600
soak: $(B)/.built
	@sh scripts/soak.sh $(B) $(SOAK_SECONDS)

install: $(B)/.built
	$(CMAKE) --install $(B) --prefix $(PREFIX)

clean:
	rm -rf build build-asan build-tsan build-bench build-fuzz

FORCE:
