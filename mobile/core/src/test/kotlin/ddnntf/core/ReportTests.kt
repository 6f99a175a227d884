package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import java.time.Instant

class ReportTests {
    companion object {
        fun result(
            file: String,
            depth: Depth?,
            threads: Int,
            medianMs: Double?,
            macs: Long?,
            quantize: String? = "int8",
        ) = BenchmarkResult(
            file = file, signature = "serving_default", depth = depth, quantize = quantize, threads = threads,
            initMs = 0.4, firstRunMs = 1.9, warmupRuns = 5, runs = 50,
            medianMs = medianMs, p90Ms = medianMs?.let { it * 1.2 }, p99Ms = medianMs?.let { it * 1.5 }, meanMs = medianMs,
            processPeakRssMb = 812.5, fileBytes = 307528, multiplyAccumulates = macs,
            validatedAccuracy = 0.945, accuracy = null,
        )
    }

    @Test
    fun `reads the host CLI's benchmark json and writes the same text back`() {
        val text = testdata("benchmark_host.json").readText()
        val report = BenchmarkReport.parse(text)
        assertEquals("host", report.device.kind)
        assertEquals("results", 4, report.results.size)
        val first = report.results[0]
        assertEquals("resnet32_depth20_int8.tflite", first.file)
        assertEquals("depth", Depth.of(20), first.depth)
        assertEquals("multiply-accumulates", 40551040L, first.multiplyAccumulates)
        assertEquals("accuracy", null, first.accuracy)
        assertEquals("budget thread counts", listOf(1, 2), report.budget!!.map { it.threads })
        // Python's repr and Kotlin's toString print the same digits for numbers from 1e-3 to 1e7,
        // and both indent by two spaces in the same key order, so the whole text comes back.
        assertEquals("text written back", text, report.toJsonText())
    }

    @Test
    fun `nulls, a named depth, an absent budget and unknown fields survive a round trip`() {
        val report = BenchmarkReport(
            created = "2026-11-25T03:20:00Z",
            device = Device("Pixel 8 \"Pro\" é", "android", "arm64-v8a", "Android 15 (API 35)", null, mapOf("soc" to "Tensor G3")),
            results = listOf(
                result("a_depth20_int8.tflite", Depth.of(20), 1, 0.52, 40551040),
                result("custom_tiny.tflite", Depth.of("tiny"), 2, null, null, quantize = null)
                    .copy(extra = mapOf("delegate" to "gpu")),
            ),
            budget = null,
            extra = mapOf("notes" to listOf("cold phone")),
        )
        val back = BenchmarkReport.parse(report.toJsonText())
        assertEquals("report", report, back)
        assertFalse("no budget key without a budget", "budget" in (Json.parse(report.toJsonText()) as Map<*, *>))
        val withBudget = report.copy(budget = listOf(BudgetChoice(2.0, 1, Depth.of(20), "a_depth20_int8.tflite"), BudgetChoice(0.1, 2, null, null)))
        assertEquals("report with budget", withBudget, BenchmarkReport.parse(withBudget.toJsonText()))
    }

    @Test
    fun `other schemas and malformed results are refused with a clear message`() {
        assertFailsWith<JsonException>("not a ddnn_tf.benchmark/1 report: its schema is the string \"other/2\"") {
            BenchmarkReport.parse("""{"schema": "other/2", "results": []}""")
        }
        assertFailsWith<JsonException>("its schema is null") { BenchmarkReport.parse("""{"results": []}""") }
        assertFailsWith<JsonException>("report must be a JSON object") { BenchmarkReport.parse("[]") }
        val base = Json.parse(testdata("benchmark_host.json").readText()) as Map<*, *>
        fun broken(change: (MutableMap<String, Any?>) -> Unit): String {
            @Suppress("UNCHECKED_CAST")
            val results = (base["results"] as List<Map<String, Any?>>).map { LinkedHashMap(it) }
            change(results[1])
            return Json.write(LinkedHashMap(base as Map<String, Any?>).apply { put("results", results) })
        }
        assertFailsWith<JsonException>("results[1].median_ms must be a number or null, got the string \"fast\"") {
            BenchmarkReport.parse(broken { it["median_ms"] = "fast" })
        }
        assertFailsWith<JsonException>("results[1].threads is missing") { BenchmarkReport.parse(broken { it.remove("threads") }) }
        assertFailsWith<JsonException>("results[1].depth must be a whole number, a name or null") {
            BenchmarkReport.parse(broken { it["depth"] = 2.5 })
        }
        assertFailsWith<JsonException>("device.kind must be one of android, edge, host") {
            BenchmarkReport.parse(Json.write(LinkedHashMap(base as Map<String, Any?>).apply {
                put("device", mapOf("name" to "x", "kind" to "phone"))
            }))
        }
    }

    @Test
    fun `a measured result carries the raw timings and their median, filled from the metadata`() {
        val metadata = ExportFileMetadata.parse(testdata("resnet32_depth20_int8.json").readText()).forSignature("serving_default")!!
        val measurement = Measurement(0.123456, 1.98765, 5, listOf(0.51234, 0.5, 0.6, 0.55))
        val result = BenchmarkResult.measured(
            "resnet32_depth20_int8.tflite", "serving_default", metadata, 2, measurement, 101.5, 307912, 0.25,
        )
        assertEquals("init", 0.123456, result.initMs, 0.0)
        assertEquals("first run", 1.98765, result.firstRunMs, 0.0)
        assertEquals(4, result.runs)
        assertEquals("every timed run, in order", listOf(0.51234, 0.5, 0.6, 0.55), result.timingsMs)
        assertEquals("median: the mean of the two middle runs", (0.51234 + 0.55) / 2, result.medianMs)
        assertEquals("p90, p99 and mean are the host's to compute", listOf(null, null, null),
            listOf(result.p90Ms, result.p99Ms, result.meanMs))
        assertEquals(Depth.of(20), result.depth)
        assertEquals("int8", result.quantize)
        assertEquals(40551040L, result.multiplyAccumulates)
        assertEquals("validated accuracy is the export's tflite_accuracy", 0.09, result.validatedAccuracy)
        assertEquals("measured accuracy first", 0.25, result.bestKnownAccuracy)
        val bare = BenchmarkResult.measured("x.tflite", "serving_default", null, 1, measurement, null, 10, null)
        assertEquals(null, bare.depth)
        assertEquals(null, bare.bestKnownAccuracy)
    }

    @Test
    fun `timestamps have the host's format`() {
        assertEquals("2026-11-25T03:20:00Z", BenchmarkReport.timestamp(Instant.parse("2026-11-25T03:20:00.987Z")))
    }

    @Test
    fun `the report table has one line per result, dashes for unknown values`() {
        val rows = listOf(
            TableRow(result("a.tflite", Depth.of(20), 1, 0.52, 1), null),
            TableRow(result("b.tflite", Depth.of("tiny"), 2, null, 1), AccuracyResult(3, 4, intArrayOf(0, 1, 2, 3), 0.75)),
        )
        val lines = ReportTable.format(rows).lines()
        assertEquals("header, two rows, legend", 4, lines.size)
        assertTrue(lines[0], lines[0].startsWith("depth") && "median" in lines[0])
        assertTrue(lines[1], lines[1].startsWith("20 ") && " 0.520 " in lines[1] && "94.50" in lines[1])
        assertTrue(lines[2], lines[2].startsWith("tiny") && "75.00" in lines[2] && " - " in lines[2])
        assertEquals("columns line up", lines[0].length, lines[1].length)
    }
}
