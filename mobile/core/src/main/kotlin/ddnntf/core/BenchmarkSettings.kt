package ddnntf.core

/** What to measure: the host benchmark's options (`--threads`, `--runs`, `--warmup`, `--budget_ms`) and the delegate. */
data class BenchmarkSettings(
    val threads: List<Int>,
    val runs: Int,
    val warmupRuns: Int,
    val useGpu: Boolean,
    val budgetMs: Double?,
) {
    val accelerator: String get() = if (useGpu) "gpu" else "cpu"

    companion object {
        /** Settings from the text the user typed (or an intent extra); a message names the bad field. */
        fun parse(threads: String, runs: String, warmup: String, budgetMs: String, useGpu: Boolean): BenchmarkSettings {
            val threadCounts = threads.split(",").map { it.trim() }.filter { it.isNotEmpty() }.map {
                it.toIntOrNull()?.takeIf { n -> n >= 1 } ?: throw IllegalArgumentException("threads: '$it' is not a whole number of 1 or more")
            }
            require(threadCounts.isNotEmpty()) { "threads: give one or more thread counts, e.g. 1,2" }
            val runCount = runs.trim().toIntOrNull()?.takeIf { it >= 1 } ?: throw IllegalArgumentException("runs: '$runs' is not a whole number of 1 or more")
            val warmupCount = warmup.trim().toIntOrNull()?.takeIf { it >= 0 } ?: throw IllegalArgumentException("warm-up: '$warmup' is not a whole number")
            val budget = budgetMs.trim().takeIf { it.isNotEmpty() }?.let {
                it.toDoubleOrNull()?.takeIf { b -> b > 0 && b.isFinite() } ?: throw IllegalArgumentException("budget: '$it' is not a positive number of milliseconds")
            }
            return BenchmarkSettings(threadCounts.distinct(), runCount, warmupCount, useGpu, budget)
        }
    }
}
