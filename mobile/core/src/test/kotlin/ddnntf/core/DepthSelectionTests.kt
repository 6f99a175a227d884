package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Test

class DepthSelectionTests {
    private fun r(file: String, depth: Long, threads: Int, median: Double?, macs: Long?) =
        ReportTests.result(file, Depth.of(depth), threads, median, macs)

    private val results = listOf(
        r("d20_int8", 20, 1, 0.50, 40_000_000),
        r("d32_int8", 32, 1, 0.80, 68_000_000),
        r("d56_int8", 56, 1, 1.40, 125_000_000),
        r("d20_int8", 20, 2, 0.30, 40_000_000),
        r("d32_int8", 32, 2, 0.45, 68_000_000),
        r("d56_int8", 56, 2, 0.79, 125_000_000),
    )

    @Test
    fun `the deepest depth whose median fits, per thread count`() {
        assertEquals("1 thread, 1 ms", "d32_int8", DepthSelection.deepestWithin(results, 1.0, 1)?.file)
        assertEquals("2 threads, 1 ms", "d56_int8", DepthSelection.deepestWithin(results, 1.0, 2)?.file)
        assertEquals("a median equal to the budget fits", "d56_int8", DepthSelection.deepestWithin(results, 1.4, 1)?.file)
    }

    @Test
    fun `no depth fits, or no result at that thread count`() {
        assertEquals("budget below every median", null, DepthSelection.deepestWithin(results, 0.29, 2))
        assertEquals("no 4-thread results", null, DepthSelection.deepestWithin(results, 100.0, 4))
        assertEquals("no results", null, DepthSelection.deepestWithin(emptyList(), 1.0, 1))
    }

    @Test
    fun `two files of the same depth, the faster wins`() {
        val tied = results + r("d32_float16", 32, 1, 0.70, 68_000_000) + r("d32_float32", 32, 1, 0.95, 68_000_000)
        assertEquals("d32_float16", DepthSelection.deepestWithin(tied, 1.0, 1)?.file)
        assertEquals("order does not matter", "d32_float16", DepthSelection.deepestWithin(tied.reversed(), 1.0, 1)?.file)
    }

    @Test
    fun `a full tie keeps the first, as Python's max does`() {
        val twins = listOf(r("first", 20, 1, 0.5, 40), r("second", 20, 1, 0.5, 40))
        assertEquals("first", DepthSelection.deepestWithin(twins, 1.0, 1)?.file)
    }

    @Test
    fun `unknown medians never fit, unknown cost counts as zero`() {
        val mixed = listOf(r("no_median", 56, 1, null, 125_000_000), r("no_macs", 32, 1, 0.4, null), r("cheap", 8, 1, 0.9, 1))
        assertEquals("1 MAC beats an unknown count", "cheap", DepthSelection.deepestWithin(mixed, 1.0, 1)?.file)
        assertEquals("no_macs", DepthSelection.deepestWithin(mixed, 0.5, 1)?.file)
    }

    @Test
    fun `budget choices in the host report's form`() {
        val choices = DepthSelection.budgetChoices(results, 0.6, listOf(1, 2))
        assertEquals(
            listOf(BudgetChoice(0.6, 1, Depth.of(20), "d20_int8"), BudgetChoice(0.6, 2, Depth.of(32), "d32_int8")),
            choices,
        )
        assertEquals("Budget 0.6 ms, 2 thread(s): deepest depth 32 (d32_int8, median 0.450 ms)", DepthSelection.describe(choices[1], results))
        assertEquals("Budget 0.1 ms, 1 thread(s): no depth fits",
            DepthSelection.describe(DepthSelection.budgetChoices(results, 0.1, listOf(1))[0], results))
    }
}
