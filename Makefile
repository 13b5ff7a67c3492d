# Two commands do everything on a fresh machine: `make demo` and `make test`.
.PHONY: demo test setup fixtures bench

demo:
	bash scripts/dev/demo.sh

test:
	bash scripts/dev/test.sh

setup:
	bash scripts/dev/setup.sh

fixtures:
	bash scripts/fixtures/fetch-model.sh all

# Figures, not tests: GPU peak / matmul / calibration throughput, the CPU path against
# torch, pruning memory, and the browser flow's wall time and wasm memory.
bench:
	bash scripts/bench/bench-gpu.sh
	bash scripts/bench/bench-cpu.sh
	bash scripts/bench/bench-prune.sh
	bash scripts/bench/bench-web.sh
