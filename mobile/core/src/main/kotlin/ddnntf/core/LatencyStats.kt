package ddnntf.core

import java.math.BigDecimal
import java.math.RoundingMode

/**
 * Latency statistics computed with exactly the arithmetic of the host
 * benchmark (`ddnn_tf.runtime.timing.time_file`), so that a phone and a
 * laptop given the same timings report the same numbers to the last bit:
 * the median as Python's `statistics.median`, percentiles as numpy's
 * default (linear) `np.percentile`, the mean as `statistics.fmean`.
 */
object LatencyStats {
    /** numpy's `np.percentile(values, q)` with `method="linear"`, including its interpolation formula. */
    fun percentile(values: List<Double>, q: Double): Double {
        require(values.isNotEmpty()) { "percentile of no values" }
        require(q in 0.0..100.0) { "percentile $q is outside 0..100" }
        val sorted = values.sorted()
        val n = sorted.size
        val virtualIndex = (n - 1) * (q / 100)
        if (virtualIndex >= n - 1) return sorted[n - 1]
        val previous = kotlin.math.floor(virtualIndex).toInt()
        val gamma = virtualIndex - previous
        val a = sorted[previous]
        val b = sorted[previous + 1]
        val difference = b - a
        // numpy's _lerp interpolates from the nearer end, which changes the last bit of some results.
        return if (gamma >= 0.5) b - difference * (1 - gamma) else a + difference * gamma
    }

    /** Python's `statistics.median`: the middle value, or the mean of the two middle values. */
    fun median(values: List<Double>): Double {
        require(values.isNotEmpty()) { "median of no values" }
        val sorted = values.sorted()
        val n = sorted.size
        return if (n % 2 == 1) sorted[n / 2] else (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }

    /** Python's `statistics.fmean`: the exactly rounded sum (as `math.fsum`) divided by the count. */
    fun mean(values: List<Double>): Double {
        require(values.isNotEmpty()) { "mean of no values" }
        var exactSum = BigDecimal.ZERO
        for (v in values) exactSum = exactSum.add(BigDecimal(v))
        return exactSum.toDouble() / values.size
    }

    /** Python's `round(value, digits)`: half-even on the exact binary value. */
    fun round(value: Double, digits: Int): Double =
        BigDecimal(value).setScale(digits, RoundingMode.HALF_EVEN).toDouble()
}

/** The latency figures of a set of timed runs, in milliseconds, rounded as the host report rounds them. */
data class LatencySummary(val medianMs: Double, val p90Ms: Double, val p99Ms: Double, val meanMs: Double) {
    companion object {
        const val DIGITS = 4

        fun of(timingsMs: List<Double>) = LatencySummary(
            medianMs = LatencyStats.round(LatencyStats.median(timingsMs), DIGITS),
            p90Ms = LatencyStats.round(LatencyStats.percentile(timingsMs, 90.0), DIGITS),
            p99Ms = LatencyStats.round(LatencyStats.percentile(timingsMs, 99.0), DIGITS),
            meanMs = LatencyStats.round(LatencyStats.mean(timingsMs), DIGITS),
        )
    }
}

/** What [LatencyMeter.measure] saw: interpreter set-up, the first run, and every timed run. */
class Measurement(
    val initMs: Double,
    val firstRunMs: Double,
    val warmupRuns: Int,
    val timingsMs: List<Double>,
) {
    val summary: LatencySummary get() = LatencySummary.of(timingsMs)
}

/**
 * The host benchmark's protocol, for any runtime: time the set-up, time the
 * first run, run [warmupRuns] untimed runs, then time [runs] runs one by one.
 * Returns the open session (the caller closes it); closes it itself, when it
 * is [AutoCloseable], if a run throws.
 */
object LatencyMeter {
    fun <S> measure(
        open: () -> S,
        run: (S) -> Unit,
        warmupRuns: Int,
        runs: Int,
        nanoClock: () -> Long = System::nanoTime,
    ): Pair<S, Measurement> {
        require(warmupRuns >= 0) { "warm-up runs must be 0 or more, got $warmupRuns" }
        require(runs >= 1) { "timed runs must be at least 1, got $runs" }
        var start = nanoClock()
        val session = open()
        val initMs = (nanoClock() - start) / 1e6
        try {
            start = nanoClock()
            run(session)
            val firstRunMs = (nanoClock() - start) / 1e6
            repeat(warmupRuns) { run(session) }
            val timings = ArrayList<Double>(runs)
            repeat(runs) {
                start = nanoClock()
                run(session)
                timings.add((nanoClock() - start) / 1e6)
            }
            return session to Measurement(initMs, firstRunMs, warmupRuns, timings)
        } catch (error: Throwable) {
            // The caller gets no session to close when a run fails: close it here.
            (session as? AutoCloseable)?.close()
            throw error
        }
    }
}
