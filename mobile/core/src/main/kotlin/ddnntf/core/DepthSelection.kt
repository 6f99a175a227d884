package ddnntf.core

/** Which depth to run under a latency budget: the rule of `ddnn_tf.runtime.timing.deepest_within`. */
object DepthSelection {
    /**
     * The result of the deepest depth (most multiply-accumulates, a missing
     * count taken as 0) whose median fits in [budgetMs] at [threads] threads;
     * between two results of the same cost, the one with the lower median;
     * null when none fits. A result without a median (a tool that does not
     * report one) never fits: its latency is unknown. A cascade's row is no depth and is never picked.
     */
    fun deepestWithin(results: List<BenchmarkResult>, budgetMs: Double, threads: Int): BenchmarkResult? {
        var best: BenchmarkResult? = null
        for (result in results) {
            val median = result.medianMs ?: continue
            if (result.threads != threads || median > budgetMs || result.extra["cascade"] != null) continue
            // Python's max() keeps the first of equal keys: replace only on a strictly better one.
            if (best == null || isBetter(result, best)) best = result
        }
        return best
    }

    private fun isBetter(candidate: BenchmarkResult, current: BenchmarkResult): Boolean {
        val candidateCost = candidate.multiplyAccumulates ?: 0
        val currentCost = current.multiplyAccumulates ?: 0
        if (candidateCost != currentCost) return candidateCost > currentCost
        return candidate.medianMs!! < current.medianMs!!
    }

    /** One choice per thread count, in the order given, as the host CLI writes `budget`. */
    fun budgetChoices(results: List<BenchmarkResult>, budgetMs: Double, threadCounts: List<Int>): List<BudgetChoice> =
        threadCounts.map { threads ->
            val best = deepestWithin(results, budgetMs, threads)
            BudgetChoice(budgetMs, threads, best?.depth, best?.file)
        }

    /** The line the host CLI prints for a budget. */
    fun describe(choice: BudgetChoice, results: List<BenchmarkResult>): String {
        val prefix = "Budget ${choice.budgetMs} ms, ${choice.threads} thread(s): "
        val best = deepestWithin(results, choice.budgetMs, choice.threads) ?: return prefix + "no depth fits"
        return prefix + "deepest depth ${best.depth} (${best.file}, median ${"%.3f".format(java.util.Locale.ROOT, best.medianMs)} ms)"
    }
}
