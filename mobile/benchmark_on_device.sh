#!/usr/bin/env bash
# Benchmarks exported .tflite files on an Android device with TFLite's official
# benchmark_model and writes a ddnn_tf.benchmark/1 report (docs/benchmark_schema.md).
# Run with --help for the usage.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: mobile/benchmark_on_device.sh [options] FILE.tflite [FILE.tflite ...]

Pushes each file (and the .json metadata beside it) to an Android device with
adb, runs TFLite's official benchmark_model on it at every thread count (every
depth_N signature of a bundle), and writes one report in the ddnn_tf.benchmark/1
schema, which `python -m ddnn_tf.merge_reports` merges with other devices'.

Options:
  --threads LIST     comma list of thread counts (default: 1,2)
  --runs N           timed runs per file and thread count (default: 50)
  --warmup N         untimed runs after the first (default: 5)
  --gpu              run on the GPU delegate (default: the CPU, with XNNPACK)
  --binary PATH      push this benchmark_model binary to the device first
                     (default: use the one already in the device directory)
  --device_dir DIR   where files go on the device (default: /data/local/tmp/ddnn_tf)
  --serial SERIAL    which device, when several are connected (adb -s SERIAL)
  --out FILE         the report to write (default: ./benchmark_<model>_<cpu|gpu>.json)
  -h, --help         show this help and exit

Environment: ADB (default: adb), PYTHON (default: python3; the parser needs
only its standard library).

benchmark_model prints no p90 or p99 and, in most builds, no median: the
report has them null (see mobile/parse_benchmark_model.py); the Android app in
mobile/android keeps every timed run, and python -m ddnn_tf.merge_reports
computes every percentile from them. Each run's full output is kept in
<report name>_logs/.
EOF
}

fail() {
    echo "error: $*" >&2
    exit 2
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ADB="${ADB:-adb}"
PYTHON="${PYTHON:-python3}"
threads="1,2"
runs=50
warmup=5
gpu=false
binary=""
device_dir="/data/local/tmp/ddnn_tf"
serial=""
out=""
files=()

while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --threads) threads="${2:-}"; shift 2 || fail "--threads needs a value" ;;
        --runs) runs="${2:-}"; shift 2 || fail "--runs needs a value" ;;
        --warmup) warmup="${2:-}"; shift 2 || fail "--warmup needs a value" ;;
        --gpu) gpu=true; shift ;;
        --binary) binary="${2:-}"; shift 2 || fail "--binary needs a value" ;;
        --device_dir) device_dir="${2:-}"; shift 2 || fail "--device_dir needs a value" ;;
        --serial) serial="${2:-}"; shift 2 || fail "--serial needs a value" ;;
        --out) out="${2:-}"; shift 2 || fail "--out needs a value" ;;
        --) shift; files+=("$@"); break ;;
        -*) fail "unknown option $1; run with --help for the usage" ;;
        *) files+=("$1"); shift ;;
    esac
done

((${#files[@]})) || fail "pass one or more exported .tflite files, e.g. runs/mnist_resnet34/export/*.tflite"
[[ "$threads" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || fail "--threads takes a comma list of whole numbers of 1 or more, got '$threads'"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || fail "--runs must be a whole number of 1 or more, got '$runs'"
[[ "$warmup" =~ ^[0-9]+$ ]] || fail "--warmup must be a whole number, got '$warmup'"
for file in "${files[@]}"; do
    [[ "$file" == *.tflite ]] || fail "$file is not a .tflite file"
    [[ -f "$file" ]] || fail "$file does not exist"
done
[[ -z "$binary" || -f "$binary" ]] || fail "benchmark_model binary $binary does not exist"
command -v "$PYTHON" >/dev/null 2>&1 || fail "$PYTHON not found: set PYTHON to a Python 3 interpreter"
# Each file against the sha256 its .json names, before the device is asked for anything.
"$PYTHON" "$here/parse_benchmark_model.py" --check "${files[@]}" || exit 2
command -v "$ADB" >/dev/null 2>&1 ||
    fail "adb not found (ADB=$ADB): install Android SDK platform-tools and put adb on PATH, or set ADB"

adb_() {
    if [[ -n "$serial" ]]; then "$ADB" -s "$serial" "$@"; else "$ADB" "$@"; fi
}

# Single-quotes a word for the device's shell: adb shell joins its arguments into one command line.
quote() {
    printf "'%s'" "${1//\'/\'\\\'\'}"
}

prop() {
    adb_ shell getprop "$1" | tr -d '\r'
}

state="$(adb_ get-state 2>&1 | tr -d '\r' || true)"
[[ "$state" == "device" ]] || fail "no device ready for adb (adb get-state: ${state:-nothing}); connect one and allow USB debugging"

model="$(prop ro.product.model)"
abi="$(prop ro.product.cpu.abi)"
system="Android $(prop ro.build.version.release) (API $(prop ro.build.version.sdk))"
accelerator=$([[ "$gpu" == true ]] && echo gpu || echo cpu)
if [[ -z "$out" ]]; then
    out="benchmark_$(printf '%s' "${model:-android}" | tr -c 'A-Za-z0-9._-' '_')_${accelerator}.json"
fi
logs="${out%.json}_logs"
mkdir -p "$logs"
runs_tsv="$logs/runs.tsv"
: >"$runs_tsv"

remote_dir="$(quote "$device_dir")"
adb_ shell "mkdir -p $remote_dir" >/dev/null
if [[ -n "$binary" ]]; then
    adb_ push "$binary" "$device_dir/benchmark_model" >/dev/null
    adb_ shell "chmod 755 $remote_dir/benchmark_model" >/dev/null
fi
ready="$(adb_ shell "test -x $remote_dir/benchmark_model && echo ready" | tr -d '\r' || true)"
[[ "$ready" == "ready" ]] ||
    fail "no benchmark_model in $device_dir on the device; pass --binary PATH (the android_aarch64 build of TFLite's benchmark tool, see mobile/README.md)"

if [[ "$gpu" == true ]]; then
    delegate_flags="--use_gpu=true"
    runtime="benchmark_model (TFLite benchmark tool), GPU delegate"
else
    delegate_flags="--use_gpu=false --use_xnnpack=true"
    runtime="benchmark_model (TFLite benchmark tool), CPU (XNNPACK)"
fi

IFS=',' read -r -a thread_counts <<<"$threads"
for file in "${files[@]}"; do
    name="$(basename "$file")"
    metadata="${file%.tflite}.json"
    adb_ push "$file" "$device_dir/$name" >/dev/null
    signatures=("")
    if [[ -f "$metadata" ]]; then
        adb_ push "$metadata" "$device_dir/$(basename "$metadata")" >/dev/null
        # A bundle's metadata lists its depth_N signatures; a single-depth file has one and needs no flag.
        listed="$("$PYTHON" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1])).get("signatures", {})))' \
            "$metadata" 2>&1)" || fail "cannot read the metadata $metadata: ${listed##*$'\n'}"
        if [[ -n "$listed" ]]; then
            mapfile -t signatures <<<"$listed"
        fi
    fi
    for signature in "${signatures[@]}"; do
        for count in "${thread_counts[@]}"; do
            log="$logs/${name%.tflite}${signature:+_$signature}_t${count}_${accelerator}.txt"
            # benchmark_model counts the first run among its warm-up runs; the schema does not.
            command="$remote_dir/benchmark_model --graph=$(quote "$device_dir/$name") --num_threads=$count"
            command+=" --num_runs=$runs --min_secs=0 --warmup_runs=$((warmup + 1)) --warmup_min_secs=0"
            command+=" $delegate_flags --report_peak_memory_footprint=true"
            if [[ -n "$signature" ]]; then
                command+=" --signature_to_run_for=$(quote "$signature")"
            fi
            echo "$name${signature:+ [$signature]}, $count thread(s), $accelerator ..."
            status=0
            adb_ shell "$command 2>&1" | tr -d '\r' >"$log" || status=$?
            if ! grep -q "Inference timings in us" "$log"; then
                reason="$(grep 'ERROR' "$log" | tail -n 1 || true)"
                fail "benchmark_model failed on $name${signature:+ [$signature]} with $count thread(s) (status $status):" \
                    "${reason:-$(tail -n 1 "$log")}; full output in $log"
            fi
            printf '%s\t%s\t%s\t%s\n' "$log" "$file" "$signature" "$count" >>"$runs_tsv"
        done
    done
done

"$PYTHON" "$here/parse_benchmark_model.py" --runs "$runs_tsv" --out "$out" --device_name "${model:-android}" \
    --kind android --machine "$abi" --system "$system" --runtime "$runtime"
