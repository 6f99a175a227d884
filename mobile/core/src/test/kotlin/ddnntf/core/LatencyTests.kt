package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class LatencyTests {
    // Expected values printed by Python: statistics.median, np.percentile(x, 90 / 99), statistics.fmean.
    private class Case(val timings: List<Double>, val median: Double, val p90: Double, val p99: Double, val mean: Double)

    private val cases = listOf(
        Case(listOf(1.0, 2.0, 3.0, 4.0), 2.5, 3.7, 3.9699999999999998, 2.5),
        Case(listOf(0.52, 0.61, 0.9, 0.48, 0.55), 0.55, 0.784, 0.8884, 0.612),
        Case(listOf(5.0), 5.0, 5.0, 5.0, 5.0),
        // fmean sums exactly: a plain left-to-right sum would give 0.20000000000000004.
        Case(listOf(0.1, 0.2, 0.3), 0.2, 0.28, 0.298, 0.19999999999999998),
        Case(listOf(3.1, 1.2, 2.7, 9.9, 4.4, 0.3, 7.7, 6.1, 5.5, 8.8, 2.2), 4.4, 8.8, 9.790000000000001, 4.718181818181818),
    )

    // A delta of 0.0: exactly equal.
    @Test
    fun `median, p90, p99 and mean equal Python's to the last bit`() {
        for (case in cases) {
            assertEquals("median of ${case.timings}", case.median, LatencyStats.median(case.timings), 0.0)
            assertEquals("p90 of ${case.timings}", case.p90, LatencyStats.percentile(case.timings, 90.0), 0.0)
            assertEquals("p99 of ${case.timings}", case.p99, LatencyStats.percentile(case.timings, 99.0), 0.0)
            assertEquals("mean of ${case.timings}", case.mean, LatencyStats.mean(case.timings), 0.0)
        }
    }

    @Test
    fun `percentile ends and order do not matter`() {
        val values = listOf(9.0, 1.0, 5.0, 3.0)
        assertEquals("p0", 1.0, LatencyStats.percentile(values, 0.0), 0.0)
        assertEquals("p100", 9.0, LatencyStats.percentile(values, 100.0), 0.0)
        assertEquals("p50", 4.0, LatencyStats.percentile(values, 50.0), 0.0)
        assertFailsWith<IllegalArgumentException>("no values") { LatencyStats.percentile(emptyList(), 50.0) }
        assertFailsWith<IllegalArgumentException>("outside") { LatencyStats.percentile(values, 101.0) }
    }

    @Test
    fun `rounding is Python's round(x, n), half-even on the exact binary value`() {
        assertEquals("0.12345 is stored a little above", 0.1235, LatencyStats.round(0.12345, 4), 0.0)
        assertEquals("2.00005 is stored a little below", 2.0, LatencyStats.round(2.00005, 4), 0.0)
        assertEquals(0.0001, LatencyStats.round(0.00015, 4), 0.0)
        assertEquals(1.235, LatencyStats.round(1.23456789, 3), 0.0)
    }

    @Test
    fun `summary rounds to 4 decimals like the host report`() {
        val summary = LatencySummary.of(listOf(0.123456, 0.2, 0.3))
        assertEquals(LatencySummary(0.2, 0.28, 0.298, 0.2078), summary)
    }

    @Test
    fun `meter times set-up, first run, warm-up and each run on the given clock`() {
        var now = 0L
        val calls = mutableListOf<String>()
        // Every clock reading advances 1 ms; each run adds 2 ms more.
        val clock = { now += 1_000_000; now }
        val (session, measurement) = LatencyMeter.measure(
            open = { calls.add("open"); now += 5_000_000; "session" },
            run = { s: String -> calls.add("run $s"); now += 2_000_000 },
            warmupRuns = 2, runs = 3, nanoClock = clock,
        )
        assertEquals("session", session)
        assertEquals("calls", listOf("open") + List(6) { "run session" }, calls)
        assertEquals("init", 6.0, measurement.initMs, 0.0)
        assertEquals("first run", 3.0, measurement.firstRunMs, 0.0)
        assertEquals(2, measurement.warmupRuns)
        assertEquals("timed runs", listOf(3.0, 3.0, 3.0), measurement.timingsMs)
        assertFailsWith<IllegalArgumentException>("at least 1") { LatencyMeter.measure({ 0 }, {}, 0, 0) }
    }

    @Test
    fun `meter closes the session when a run fails`() {
        var closed = false
        val session = AutoCloseable { closed = true }
        assertFailsWith<IllegalStateException>("interpreter failed") {
            LatencyMeter.measure({ session }, { throw IllegalStateException("interpreter failed") }, 1, 1)
        }
        assertTrue("the session was closed", closed)
    }
}
