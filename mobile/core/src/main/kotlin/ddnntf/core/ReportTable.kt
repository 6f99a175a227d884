package ddnntf.core

import java.util.Locale

/** One row of the on-device table: a result and, when measured, its accuracy on the test images. */
data class TableRow(val result: BenchmarkResult, val accuracy: AccuracyResult?)

/** The on-device results as a fixed-width text table, narrow enough for a phone held sideways. */
object ReportTable {
    private const val COLUMNS = "%-8s %-7s %4s %7s %7s %7s %5s %6s %6s %7s"

    const val LEGEND =
        "(ms; acc% measured here, host% the export's validation on the host, agree% same top-1 as the host; " +
            "p90 and p99: python -m ddnn_tf.merge_reports on the report)"

    fun format(rows: List<TableRow>): String {
        val header = String.format(
            Locale.ROOT, COLUMNS, "depth", "quant", "thr", "init", "first", "median", "runs", "acc%", "host%", "agree%",
        )
        val lines = mutableListOf(header)
        for ((result, accuracy) in rows) {
            val depth = (result.depth?.toString() ?: result.file).take(8)
            lines.add(
                String.format(
                    Locale.ROOT, COLUMNS,
                    depth, (result.quantize ?: "-").take(7), result.threads.toString(),
                    number(result.initMs, 2), number(result.firstRunMs, 2),
                    number(result.medianMs, 3), result.runs.toString(),
                    percent(result.accuracy), percent(result.validatedAccuracy), percent(accuracy?.agreement),
                ),
            )
        }
        lines.add(LEGEND)
        return lines.joinToString("\n")
    }

    private fun number(value: Double?, digits: Int) =
        if (value == null) "-" else String.format(Locale.ROOT, "%.${digits}f", value)

    private fun percent(fraction: Double?) =
        if (fraction == null) "-" else String.format(Locale.ROOT, "%.2f", 100 * fraction)
}
