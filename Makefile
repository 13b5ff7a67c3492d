# Two commands do everything on a fresh machine: `make demo` and `make test`.
.PHONY: demo test setup fixtures bench

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

fixtures:
	bash scripts/fetch-model.sh all

# Figures, not tests: GPU peak / matmul / calibration throughput, pruning memory, and
# the browser flow's wall time and wasm memory.
bench:
	bash scripts/bench-gpu.sh
	bash scripts/bench-prune.sh
	bash scripts/bench-web.sh
