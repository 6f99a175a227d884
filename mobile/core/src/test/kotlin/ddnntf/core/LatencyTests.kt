package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class LatencyTests {
    private fun medianOf(timings: List<Double>) = Measurement(0.0, 0.0, 0, timings).medianMs

    // Expected values printed by Python's statistics.median; a delta of 0.0: exactly equal.
    @Test
    fun `median is Python's statistics median, in any order`() {
        assertEquals(2.5, medianOf(listOf(4.0, 1.0, 3.0, 2.0)), 0.0)
        assertEquals(0.55, medianOf(listOf(0.52, 0.61, 0.9, 0.48, 0.55)), 0.0)
        assertEquals(5.0, medianOf(listOf(5.0)), 0.0)
        assertEquals(0.30000000000000004, medianOf(listOf(0.1, 0.5, 0.2, 0.4)), 0.0)
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

    @Test
    fun `meter closes the session when anything after open fails, and opens nothing more`() {
        var closed = 0
        var readings = 0
        // The clock fails at its second reading: the one that ends the set-up's timing, after open.
        val clock = { if (++readings == 2) throw IllegalStateException("clock failed") else 0L }
        assertFailsWith<IllegalStateException>("clock failed") {
            LatencyMeter.measure({ AutoCloseable { closed++ } }, {}, 0, 1, clock)
        }
        assertEquals("closed once", 1, closed)
    }
}
