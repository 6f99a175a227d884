package ddnntf.app

import ddnntf.core.AccuracyResult
import ddnntf.core.BenchmarkReport
import ddnntf.core.BenchmarkResult
import ddnntf.core.BenchmarkSettings
import ddnntf.core.DepthSelection
import ddnntf.core.Device
import ddnntf.core.ExportFileMetadata
import ddnntf.core.HostPredictions
import ddnntf.core.InputEncoder
import ddnntf.core.LatencyMeter
import ddnntf.core.OutputDecoder
import ddnntf.core.TableRow
import ddnntf.core.TestImages
import java.io.File

/** The report, the table rows and what went wrong, of one benchmark of every file. */
data class Outcome(
    val report: BenchmarkReport,
    val rows: List<TableRow>,
    val budgetLines: List<String>,
    val problems: List<String>,
)

/**
 * Benchmarks every exported file as `python -m ddnn_tf.benchmark` does on a
 * host: every signature and thread count, interpreter set-up, first run,
 * warm-up, timed runs of a zero image; then, when the test images fit, top-1
 * accuracy on them and agreement with the host's predictions.
 */
class DeviceBenchmark(
    private val files: ModelFiles,
    private val settings: BenchmarkSettings,
    private val device: Device,
    private val progress: (String) -> Unit,
) {
    fun run(): Outcome {
        val problems = mutableListOf<String>()
        val images = readTestImages(problems)
        val hostPredictions = readHostPredictions(problems)
        val rows = mutableListOf<TableRow>()
        if (files.models.isEmpty()) {
            problems.add("no .tflite file in ${files.sources.joinToString(" or ") { it.description }}")
        }
        for (model in files.models) {
            try {
                rows += benchmarkFile(model, images, hostPredictions, problems)
            } catch (error: Exception) {
                problems.add("${model.name}: ${error.message ?: error.javaClass.simpleName}")
            }
        }
        val results = rows.map { it.result }
        val budget = settings.budgetMs?.let { DepthSelection.budgetChoices(results, it, settings.threads) }
        val report = BenchmarkReport(BenchmarkReport.timestamp(), device, results, budget)
        return Outcome(report, rows, budget.orEmpty().map { DepthSelection.describe(it, results) }, problems)
    }

    private fun readTestImages(problems: MutableList<String>): TestImages? {
        val source = files.find(TestImages.DESCRIPTION_FILE) ?: return null.also {
            problems.add("no ${TestImages.DESCRIPTION_FILE}: accuracy is not measured (mobile/write_test_images.py writes it)")
        }
        return try {
            TestImages.read(String(source.read(TestImages.DESCRIPTION_FILE))) { name -> source.read(name) }
        } catch (error: Exception) {
            problems.add("test images unusable: ${error.message}")
            null
        }
    }

    private fun readHostPredictions(problems: MutableList<String>): HostPredictions? {
        val source = files.find(TestImages.PREDICTIONS_FILE) ?: return null
        return try {
            HostPredictions.parse(String(source.read(TestImages.PREDICTIONS_FILE)))
        } catch (error: Exception) {
            problems.add("host predictions unusable: ${error.message}")
            null
        }
    }

    private fun benchmarkFile(
        model: ModelFile,
        images: TestImages?,
        hostPredictions: HostPredictions?,
        problems: MutableList<String>,
    ): List<TableRow> {
        val bytes = model.source.read(model.name)
        val metadata = if (model.metadataName in model.source.names()) {
            ExportFileMetadata.parse(String(model.source.read(model.metadataName))).also {
                // Its output scale and zero point would decode another file's logits.
                check(it.describes(bytes)) {
                    "${model.metadataName} describes another file (its sha256 differs): an export was interrupted " +
                        "or the files were mixed; export them again"
                }
            }
        } else {
            problems.add("${model.name}: no ${model.metadataName}; depth, cost and accuracy are unknown")
            null
        }
        val buffer = LiteRtSession.modelBuffer(bytes)
        val signatures: List<String?> = LiteRtSession.signatureKeys(buffer).ifEmpty { listOf(null) }
        val rows = mutableListOf<TableRow>()
        for (signature in signatures) {
            // A single-depth file's metadata serves its one signature; a bundle's, each depth_N.
            val meta = metadata?.forSignature(signature ?: "serving_default")
            val encoder = meta?.let { InputEncoder(it) }
            val decoder = meta?.let { OutputDecoder(it) }
            // The host benchmark times a zero image: all-black pixels, as the file takes them.
            val zeroImage = meta?.let { ByteArray(it.pixelsPerImage) }
            if (images != null && meta != null && !images.fits(meta)) {
                problems.add(
                    "${model.name}: the test images are ${images.height}x${images.width}x${images.channels}, the model takes " +
                        "${meta.height}x${meta.width}x${meta.channels}; accuracy is not measured",
                )
            }
            for (threads in settings.threads) {
                val what = "${model.name}${signature?.let { " [$it]" } ?: ""}, $threads thread(s), ${settings.accelerator}"
                progress("$what ...")
                try {
                    val (session, measurement) = LatencyMeter.measure(
                        open = { LiteRtSession(buffer, signature, threads, settings.useGpu, zeroImage) },
                        run = { it.run() },
                        warmupRuns = settings.warmupRuns,
                        runs = settings.runs,
                    )
                    val accuracy = session.use {
                        if (decoder != null && decoder.outputBytes != it.outputBytes) {
                            throw IllegalStateException("the metadata describes ${decoder.outputBytes} output bytes, the model has ${it.outputBytes}")
                        }
                        if (images != null && meta != null && encoder != null && decoder != null && images.fits(meta)) {
                            // The latency is measured by now: a stale test_predictions.json costs the accuracy only.
                            try {
                                val host = hostPredictions?.of(model.name, it.signatureKey ?: "")
                                AccuracyResult.evaluate(images, encoder, decoder, host) { input -> it.infer(input) }
                            } catch (error: Exception) {
                                problems.add("$what: latency kept, accuracy not measured: ${error.message ?: error.javaClass.simpleName}")
                                null
                            }
                        } else {
                            null
                        }
                    }
                    val result = BenchmarkResult.measured(
                        file = model.name,
                        signature = signature ?: "serving_default",
                        metadata = meta,
                        threads = threads,
                        measurement = measurement,
                        processPeakRssMb = peakResidentMb(),
                        fileBytes = bytes.size.toLong(),
                        accuracy = accuracy?.accuracy,
                    )
                    rows.add(TableRow(result, accuracy))
                    progress("$what: median ${result.medianMs} ms" + (accuracy?.let { ", accuracy ${it.correct}/${it.total}" } ?: ""))
                } catch (error: Exception) {
                    problems.add("$what: ${error.message ?: error.javaClass.simpleName}")
                }
            }
        }
        return rows
    }

    companion object {
        /**
         * The process's peak resident memory so far (VmHWM, which only rises), as the host report has it: the
         * largest of every file measured before too, not one file's own; null where unreadable.
         */
        fun peakResidentMb(): Double? = runCatching {
            File("/proc/self/status").readLines().firstOrNull { it.startsWith("VmHWM:") }
                ?.split(Regex("\\s+"))?.get(1)?.toDouble()?.div(1024)
        }.getOrNull()
    }
}
