package ddnntf.core

import java.time.Instant
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter
import java.time.temporal.ChronoUnit

/**
 * A depth as the export names it: a number for a standard depth (20), text
 * for a custom sub-net (`depths={"tiny": (1, 1, 1)}`). Kept as the JSON
 * value it was read from, so that it is written back unchanged.
 */
class Depth private constructor(val json: Any) {
    companion object {
        fun of(number: Long) = Depth(number)
        fun of(name: String) = Depth(name)

        fun fromJson(value: Any?, where: String): Depth? = when (value) {
            null -> null
            is Long -> Depth(value)
            is String -> Depth(value)
            else -> throw JsonException("$where must be a whole number, a name or null, got ${JsonFields.describe(value)}")
        }
    }

    override fun equals(other: Any?) = other is Depth && other.json == json
    override fun hashCode() = json.hashCode()
    override fun toString() = json.toString()
}

/** The machine a report was measured on (`device` in docs/benchmark_schema.md). */
data class Device(
    val name: String,
    val kind: String,
    val machine: String?,
    val system: String?,
    val runtime: String?,
    val extra: Map<String, Any?> = emptyMap(),
) {
    fun toJson(): Map<String, Any?> = linkedMapOf<String, Any?>(
        "name" to name, "kind" to kind, "machine" to machine, "system" to system, "runtime" to runtime,
    ).apply { putAll(extra) }

    companion object {
        val KINDS = setOf("host", "android", "edge")
        private val KNOWN = listOf("name", "kind", "machine", "system", "runtime")

        fun fromJson(fields: JsonFields): Device {
            val kind = fields.string("kind")
            if (kind !in KINDS) throw JsonException("device.kind must be one of ${KINDS.sorted().joinToString()}, got \"$kind\"")
            return Device(
                name = fields.string("name"),
                kind = kind,
                machine = fields.stringOrNull("machine"),
                system = fields.stringOrNull("system"),
                runtime = fields.stringOrNull("runtime"),
                extra = fields.extras(KNOWN),
            )
        }
    }
}

/**
 * One file (one signature of a bundle) at one thread count. Times are
 * milliseconds. [timingsMs] holds every timed run where the measuring tool
 * keeps them (the app, the host CLI; not `benchmark_model`); the host computes
 * p90, p99 and mean from them, so the app leaves those null.
 */
data class BenchmarkResult(
    val file: String,
    val signature: String?,
    val depth: Depth?,
    val quantize: String?,
    val threads: Int,
    val initMs: Double,
    val firstRunMs: Double,
    val warmupRuns: Int,
    val runs: Int,
    val medianMs: Double?,
    val p90Ms: Double?,
    val p99Ms: Double?,
    val meanMs: Double?,
    val processPeakRssMb: Double?,
    val fileBytes: Long,
    val multiplyAccumulates: Long?,
    val validatedAccuracy: Double?,
    val accuracy: Double?,
    val timingsMs: List<Double>? = null,
    /** The host's input preparation and output dequantization around each run; the app times the run alone. */
    val ioMs: Double? = null,
    val extra: Map<String, Any?> = emptyMap(),
) {
    /** Measured accuracy when there is one, else the export's validated accuracy (as the host plot does). */
    val bestKnownAccuracy: Double? get() = accuracy ?: validatedAccuracy

    fun toJson(): Map<String, Any?> = linkedMapOf<String, Any?>(
        "file" to file,
        "signature" to signature,
        "depth" to depth?.json,
        "quantize" to quantize,
        "threads" to threads,
        "init_ms" to initMs,
        "first_run_ms" to firstRunMs,
        "warmup_runs" to warmupRuns,
        "runs" to runs,
        "median_ms" to medianMs,
        "p90_ms" to p90Ms,
        "p99_ms" to p99Ms,
        "mean_ms" to meanMs,
        "io_ms" to ioMs,
        "process_peak_rss_mb" to processPeakRssMb,
        "file_bytes" to fileBytes,
        "multiply_accumulates" to multiplyAccumulates,
        "validated_accuracy" to validatedAccuracy,
        "accuracy" to accuracy,
        "timings_ms" to timingsMs,
    ).apply { putAll(extra) }

    companion object {
        private val KNOWN = listOf(
            "file", "signature", "depth", "quantize", "threads", "init_ms", "first_run_ms", "warmup_runs", "runs",
            "median_ms", "p90_ms", "p99_ms", "mean_ms", "io_ms", "process_peak_rss_mb", "file_bytes", "multiply_accumulates",
            "validated_accuracy", "accuracy", "timings_ms",
        )

        fun fromJson(fields: JsonFields, where: String): BenchmarkResult = BenchmarkResult(
            file = fields.string("file"),
            signature = fields.stringOrNull("signature"),
            depth = Depth.fromJson(fields.map["depth"], "$where.depth"),
            quantize = fields.stringOrNull("quantize"),
            threads = fields.int("threads"),
            initMs = fields.double("init_ms"),
            firstRunMs = fields.double("first_run_ms"),
            warmupRuns = fields.int("warmup_runs"),
            runs = fields.int("runs"),
            medianMs = fields.doubleOrNull("median_ms"),
            p90Ms = fields.doubleOrNull("p90_ms"),
            p99Ms = fields.doubleOrNull("p99_ms"),
            meanMs = fields.doubleOrNull("mean_ms"),
            ioMs = fields.doubleOrNull("io_ms"),
            processPeakRssMb = fields.doubleOrNull("process_peak_rss_mb"),
            fileBytes = fields.long("file_bytes"),
            multiplyAccumulates = fields.longOrNull("multiply_accumulates"),
            validatedAccuracy = fields.doubleOrNull("validated_accuracy"),
            accuracy = fields.doubleOrNull("accuracy"),
            timingsMs = fields.doublesOrNull("timings_ms"),
            extra = fields.extras(KNOWN),
        )

        /**
         * A result from a measurement, with the file's export metadata (null for
         * a file without one): the raw timings and their median; p90, p99 and
         * mean are left to the host (`python -m ddnn_tf.merge_reports`).
         */
        fun measured(
            file: String,
            signature: String,
            metadata: ExportMetadata?,
            threads: Int,
            measurement: Measurement,
            processPeakRssMb: Double?,
            fileBytes: Long,
            accuracy: Double?,
        ): BenchmarkResult {
            return BenchmarkResult(
                file = file,
                signature = signature,
                depth = metadata?.depth,
                quantize = metadata?.quantize,
                threads = threads,
                initMs = measurement.initMs,
                firstRunMs = measurement.firstRunMs,
                warmupRuns = measurement.warmupRuns,
                runs = measurement.timingsMs.size,
                medianMs = measurement.medianMs,
                p90Ms = null,
                p99Ms = null,
                meanMs = null,
                processPeakRssMb = processPeakRssMb,
                fileBytes = fileBytes,
                multiplyAccumulates = metadata?.multiplyAccumulates,
                validatedAccuracy = metadata?.tfliteAccuracy,
                accuracy = accuracy,
                timingsMs = measurement.timingsMs,
            )
        }
    }
}

/** The deepest depth within a latency budget at one thread count; depth and file are null when none fits. */
data class BudgetChoice(val budgetMs: Double, val threads: Int, val depth: Depth?, val file: String?) {
    fun toJson(): Map<String, Any?> =
        linkedMapOf("budget_ms" to budgetMs, "threads" to threads, "depth" to depth?.json, "file" to file)

    companion object {
        fun fromJson(fields: JsonFields, where: String) = BudgetChoice(
            budgetMs = fields.double("budget_ms"),
            threads = fields.int("threads"),
            depth = Depth.fromJson(fields.map["depth"], "$where.depth"),
            file = fields.stringOrNull("file"),
        )
    }
}

/** A `benchmark.json` of schema `ddnn_tf.benchmark/1` (docs/benchmark_schema.md). */
data class BenchmarkReport(
    val created: String,
    val device: Device,
    val results: List<BenchmarkResult>,
    /** Null when no budget was asked for: the key is then absent, as the host CLI writes it. */
    val budget: List<BudgetChoice>? = null,
    val extra: Map<String, Any?> = emptyMap(),
) {
    fun toJson(): Map<String, Any?> = linkedMapOf<String, Any?>(
        "schema" to SCHEMA,
        "created" to created,
        "device" to device.toJson(),
        "results" to results.map { it.toJson() },
    ).apply {
        if (budget != null) put("budget", budget.map { it.toJson() })
        putAll(extra)
    }

    /** The file's text: two-space indent and a final newline, as `ddnn_tf.files.write_json` writes. */
    fun toJsonText(): String = Json.write(toJson()) + "\n"

    companion object {
        const val SCHEMA = "ddnn_tf.benchmark/1"
        private val KNOWN = listOf("schema", "created", "device", "results", "budget")

        /** The UTC time in the host report's format, e.g. 2026-11-25T03:20:00Z. */
        fun timestamp(now: Instant = Instant.now()): String =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'").withZone(ZoneOffset.UTC)
                .format(now.truncatedTo(ChronoUnit.SECONDS))

        fun parse(text: String): BenchmarkReport = fromJson(Json.parse(text))

        fun fromJson(value: Any?): BenchmarkReport {
            val fields = JsonFields.of(value, "report")
            val schema = fields.map["schema"]
            if (schema != SCHEMA) {
                throw JsonException("not a $SCHEMA report: its schema is ${JsonFields.describe(schema)}")
            }
            val results = fields.list("results").mapIndexed { i, item ->
                val where = "results[$i]"
                BenchmarkResult.fromJson(JsonFields.of(item, where), where)
            }
            val budget = fields.listOrNull("budget")?.mapIndexed { i, item ->
                val where = "budget[$i]"
                BudgetChoice.fromJson(JsonFields.of(item, where), where)
            }
            return BenchmarkReport(
                created = fields.string("created"),
                device = Device.fromJson(fields.obj("device")),
                results = results,
                budget = budget,
                extra = fields.extras(KNOWN),
            )
        }
    }
}
