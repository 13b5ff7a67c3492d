# Two commands do everything on a fresh machine: `make demo` and `make test`.
.PHONY: demo test setup fixtures

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

fixtures:
	bash scripts/fetch-model.sh all
