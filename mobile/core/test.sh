#!/usr/bin/env bash
# Compiles the Kotlin core module with its JVM tests and runs them with JUnit 4;
# the last lines printed are "OK (N tests)", or the failures. Needs java, kotlinc
# ($KOTLINC, else kotlinc on PATH, else the npm package in mobile/node_modules,
# installed with `npm install --prefix mobile kotlin-compiler@2.4.20`) and the
# jars of Gson, JUnit 4 and Hamcrest in mobile/jars, which
#   make mobile/jars/gson.jar mobile/jars/junit4.jar mobile/jars/hamcrest.jar
# fetches (make test does both).
# Usage: mobile/core/test.sh [TEST CLASS ...]   (e.g. ReportTests; default: every *Tests.kt)
set -euo pipefail

core="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mobile="$(dirname "$core")"

find_kotlinc() {
    if [[ -n "${KOTLINC:-}" ]]; then
        echo "$KOTLINC"
    elif command -v kotlinc >/dev/null 2>&1; then
        command -v kotlinc
    else
        local candidate
        for candidate in "$mobile/node_modules/kotlin-compiler/bin/kotlinc" "$mobile/node_modules/.bin/kotlinc"; do
            if [[ -x "$candidate" ]]; then
                echo "$candidate"
                return
            fi
        done
    fi
}

kotlinc="$(find_kotlinc)"
if [[ -z "$kotlinc" ]]; then
    echo "error: kotlinc not found: set KOTLINC, put kotlinc on PATH, or run: npm install --prefix mobile kotlin-compiler@2.4.20" >&2
    exit 2
fi
if ! command -v java >/dev/null 2>&1; then
    echo "error: java not found: install a JDK 17 or newer" >&2
    exit 2
fi

jars=""
for jar in gson junit4 hamcrest; do
    if [[ ! -f "$mobile/jars/$jar.jar" ]]; then
        echo "error: $mobile/jars/$jar.jar not found: run make mobile/jars/gson.jar mobile/jars/junit4.jar mobile/jars/hamcrest.jar" >&2
        exit 2
    fi
    jars="$jars:$mobile/jars/$jar.jar"
done
jars="${jars#:}"

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
    for file in "$core"/src/test/kotlin/ddnntf/core/*Tests.kt; do
        names+=("$(basename "$file" .kt)")
    done
fi

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
# -include-runtime puts the Kotlin standard library in the jar, so plain java runs it.
"$kotlinc" -nowarn -include-runtime -cp "$jars" -d "$build/core-tests.jar" "$core/src/main/kotlin" "$core/src/test/kotlin"
DDNN_TESTDATA="$mobile/testdata" java -cp "$build/core-tests.jar:$jars" org.junit.runner.JUnitCore "${names[@]/#/ddnntf.core.}"
