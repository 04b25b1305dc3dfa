# Thin wrapper over CMake for the README's commands.
#   make run    - the main job, end to end on the embedded defaults
#                 (TEACHER=CKPT: distil its student from that teacher)
#   make test   - build everything and run every test
#   make bench  - benchmarks (results go in docs/benchmarks.md)
# Each first installs missing Debian packages (scripts/install-deps.sh).

BUILD ?= build
JOBS ?= $(shell nproc)
SHARED ?= $(abspath ../shared)
FUZZ_SECONDS ?= 30

.PHONY: all deps build run test test-sanitize fuzz bench bench-accuracy bench-teacher bench-distill bench-densify bench-learning bench-offload clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DTL_WERROR=ON -DTL_SHARED_DIR=$(SHARED) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/main-job.sh $(BUILD) $(SHARED) $(TEACHER)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
test-sanitize: deps
	cmake -S . -B $(BUILD)-sanitize -DCMAKE_BUILD_TYPE=Debug -DTL_SANITIZE=ON -DTL_WERROR=ON \
	      -DTL_FIRMWARE=OFF -DTL_SHARED_DIR=$(SHARED) >/dev/null
	cmake --build $(BUILD)-sanitize -j $(JOBS)
	cd $(BUILD)-sanitize && ctest --output-on-failure -j $(JOBS)

# libFuzzer on the loader, the importer, the update path and what the edge
# reads off the network, FUZZ_SECONDS each.
fuzz: deps
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTL_SANITIZE=ON \
	      -DTL_FUZZ=ON -DTL_FIRMWARE=OFF -DTL_SHARED_DIR=$(SHARED) >/dev/null
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzz_loader fuzz_import fuzz_update fuzz_edge fuzz_seed
	mkdir -p $(BUILD)-fuzz/corpus-loader $(BUILD)-fuzz/corpus-import $(BUILD)-fuzz/corpus-update \
	      $(BUILD)-fuzz/corpus-edge
	$(BUILD)-fuzz/tests/fuzz/fuzz_seed $(BUILD)-fuzz/corpus-loader $(BUILD)-fuzz/corpus-update \
	      $(BUILD)-fuzz/corpus-edge
	-cp $(SHARED)/models/mlperf-tiny/kws_ref_model.tflite $(BUILD)-fuzz/corpus-import/ 2>/dev/null
	-find $(SHARED)/models/tflm-examples -name '*.tflite' -size -200k -exec cp {} $(BUILD)-fuzz/corpus-import/ \; 2>/dev/null
	$(BUILD)-fuzz/tests/fuzz/fuzz_loader -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	      $(BUILD)-fuzz/corpus-loader
	$(BUILD)-fuzz/tests/fuzz/fuzz_import -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	      $(BUILD)-fuzz/corpus-import
	$(BUILD)-fuzz/tests/fuzz/fuzz_update -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 \
	      $(BUILD)-fuzz/corpus-update
	$(BUILD)-fuzz/tests/fuzz/fuzz_edge -max_total_time=$(FUZZ_SECONDS) -max_len=2048 -print_final_stats=1 \
	      $(BUILD)-fuzz/corpus-edge

bench: build
	@bench/run.sh $(BUILD) $(SHARED)
	@bench/pipeline.sh $(BUILD)
	@if [ -f $(BUILD)/main-job/catalogue-hall/e0-s00-int8.tlm ]; then bench/progressive.sh $(BUILD); \
	else echo "bench: the progressive orders need make run's catalogues (make run first)"; fi
	@bench/run-training.sh $(BUILD)
	@bench/edge.sh $(BUILD)
	@bench/hostile.sh $(BUILD)

# The compression results on the full test split (trains a student: ~1 hour).
bench-accuracy: build
	@bench/accuracy.sh $(BUILD)

# The teacher, distillation and the teacher compressed (trains the teacher:
# about 75 minutes on 2 cores; pass checkpoints to bench/teacher.sh to reuse them).
bench-teacher: build
	@bench/teacher.sh $(BUILD)

# What distillation adds over three seeds, cached and on fixed views
# (needs a trained teacher: make bench-distill TEACHER=teacher.tlc).
# Packed variants installed dense on the Cortex-M4 (needs `make run`'s catalogue).
bench-densify: build
	@bench/densify.sh $(BUILD)

bench-distill: build
	@test -n "$(TEACHER)" || { echo "bench-distill: give TEACHER=teacher.tlc (see bench-teacher)"; exit 2; }
	@bench/distill.sh $(BUILD) $(TEACHER)

# Learning back: on-device learning, then federated learning (about 4.5
# hours on 2 cores; bench/federated.sh SECTION... runs a part).
bench-learning: build
	@bench/learn.sh $(BUILD)
	@bench/federated.sh $(BUILD)

# Device and edge together (needs `make run`'s outputs; EDGE=teacher.tlc
# puts the teacher on the edge).
bench-offload: build
	@bench/offload.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-sanitize $(BUILD)-fuzz
