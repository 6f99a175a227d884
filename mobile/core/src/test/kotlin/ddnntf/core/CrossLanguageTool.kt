package ddnntf.core

import java.io.File
import kotlin.system.exitProcess

/*
 * The Kotlin side of tests/mobile/test_kotlin_core.py: Python writes a file, this tool
 * answers with what the core module makes of it, and Python compares.
 *
 *   roundtrip REPORT.json OUT.json      read a benchmark report, write it back
 *   measured TIMINGS.json               the report result the app writes for each array of timed runs (ms)
 *   images TEST_IMAGES.json META.json   labels and model inputs (the pixels) of the app's test images
 *   deepest REPORT.json QUERIES.json    for each [budget_ms, threads], the result DepthSelection picks, or null
 *   decode CASES.json                   logits and top-1 of each case's raw int8 output
 *   cascade CASCADE.json CASES.json     each case's exit scores, and the stage and label the cascade stops at
 *
 * Bad input prints "error: ..." and exits 2.
 */
object CrossLanguageTool {
    @JvmStatic
    fun main(args: Array<String>) {
        try {
            println(Json.write(run(args.toList())))
        } catch (error: JsonException) {
            System.err.println("error: ${error.message}")
            exitProcess(2)
        }
    }

    private fun run(args: List<String>): Any? = when (args.firstOrNull()) {
        "roundtrip" -> {
            val report = BenchmarkReport.parse(File(args[1]).readText())
            File(args[2]).writeText(report.toJsonText())
            mapOf("results" to report.results.size)
        }
        "measured" -> (Json.parse(File(args[1]).readText()) as List<*>).mapIndexed { i, series ->
            val timings = (series as List<*>).map { (it as Number).toDouble() }
            val measurement = Measurement(initMs = 1.5, firstRunMs = 2.5, warmupRuns = 3, timingsMs = timings)
            BenchmarkResult.measured("f$i.tflite", "serving_default", null, 1, measurement, null, 1000, null).toJson()
        }
        "images" -> {
            val description = File(args[1])
            val images = TestImages.read(description.readText()) { name -> File(description.parentFile, name).readBytes() }
            val metadata = ExportFileMetadata.parse(File(args[2]).readText()).forSignature("serving_default")!!
            if (!images.fits(metadata)) throw JsonException("the test images do not fit the model's input")
            val encoder = InputEncoder(metadata)
            mapOf(
                "labels" to images.labels.toList(),
                "label_names" to images.labelNames,
                "inputs" to (0 until images.count).map { i -> encoder.encode(images.image(i)).map { it.toLong() } },
            )
        }
        "deepest" -> {
            val report = BenchmarkReport.parse(File(args[1]).readText())
            (Json.parse(File(args[2]).readText()) as List<*>).map { query ->
                val (budget, threads) = query as List<*>
                DepthSelection.deepestWithin(report.results, (budget as Number).toDouble(), (threads as Number).toInt())?.let {
                    mapOf("file" to it.file, "signature" to it.signature, "depth" to it.depth?.json, "median_ms" to it.medianMs)
                }
            }
        }
        "decode" -> {
            val cases = JsonFields.of(Json.parse(File(args[1]).readText()), "cases file").list("cases")
            cases.mapIndexed { i, item ->
                val case = JsonFields.of(item, "cases[$i]")
                val rawOutput = case.longs("raw_output").map { it.toByte() }.toByteArray()
                val decoder = OutputDecoder(testMetadata(1, 1, TensorQuantization.fromJson(case.obj("output")), rawOutput.size))
                mapOf(
                    "name" to case.string("name"),
                    "logits" to decoder.logits(rawOutput).map { it.toDouble() },
                    "top1" to decoder.top1(rawOutput),
                )
            }
        }
        "cascade" -> {
            val cascade = Cascade.parse(File(args[1]).readText())
            val cases = JsonFields.of(Json.parse(File(args[2]).readText()), "cases file").list("cases")
            cases.mapIndexed { i, item ->
                val logits = JsonFields.of(item, "cases[$i]").list("logits").map { stage ->
                    (stage as List<*>).map { (it as Number).toFloat() }.toFloatArray()
                }
                val decision = cascade.decide { stage -> logits[stage] }
                mapOf("scores" to logits.map { cascade.rule.score(it) }, "stage" to decision.stage, "label" to decision.label)
            }
        }
        else -> throw JsonException(
            "usage: roundtrip IN OUT | measured TIMINGS | deepest REPORT QUERIES | decode CASES | images DESCRIPTION META" +
                " | cascade CASCADE CASES",
        )
    }
}
