package ddnntf.core

/**
 * What [LatencyMeter.measure] saw: interpreter set-up, the first run, and every timed run.
 *
 * The report carries [timingsMs]; its p90, p99 and mean are computed on the
 * host from them (`ddnn_tf.runtime.timing.summarize`, run by
 * `python -m ddnn_tf.merge_reports`). Only the median is computed here: the
 * phone needs it to choose a depth under a budget and to show it.
 */
class Measurement(
    val initMs: Double,
    val firstRunMs: Double,
    val warmupRuns: Int,
    val timingsMs: List<Double>,
) {
    /** The middle timing, or the mean of the two middle ones (Python's `statistics.median`). */
    val medianMs: Double
        get() {
            val sorted = timingsMs.sorted()
            val n = sorted.size
            return if (n % 2 == 1) sorted[n / 2] else (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        }
}

/**
 * The host benchmark's protocol, for any runtime: time the set-up, time the
 * first run, run [warmupRuns] untimed runs, then time [runs] runs one by one.
 * Returns the open session (the caller closes it); closes it itself, when it
 * is [AutoCloseable], if anything after [open] throws. An [open] that throws
 * returns no session to close: it must free what it had opened itself
 * (`LiteRtSession` does).
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
        try {
            val initMs = (nanoClock() - start) / 1e6
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
            // The caller gets no session to close when this throws: close it here.
            (session as? AutoCloseable)?.close()
            throw error
        }
    }
}
