package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Test

class SettingsTests {
    @Test
    fun `the app's fields as the host CLI's flags`() {
        assertEquals(
            BenchmarkSettings(listOf(1, 2, 4), 50, 5, useGpu = false, budgetMs = 2.5),
            BenchmarkSettings.parse(" 1, 2,4,2 ", "50", "5", "2.5", useGpu = false),
        )
        val noBudget = BenchmarkSettings.parse("1", "10", "0", "  ", useGpu = true)
        assertEquals(null, noBudget.budgetMs)
        assertEquals("gpu", noBudget.accelerator)
    }

    @Test
    fun `bad fields are named`() {
        assertFailsWith<IllegalArgumentException>("threads: '0' is not a whole number of 1 or more") {
            BenchmarkSettings.parse("1,0", "50", "5", "", false)
        }
        assertFailsWith<IllegalArgumentException>("threads: give one or more") { BenchmarkSettings.parse(" , ", "50", "5", "", false) }
        assertFailsWith<IllegalArgumentException>("runs: 'many'") { BenchmarkSettings.parse("1", "many", "5", "", false) }
        assertFailsWith<IllegalArgumentException>("warm-up: '-1'") { BenchmarkSettings.parse("1", "5", "-1", "", false) }
        for (budget in listOf("0", "-2", "fast", "Infinity", "NaN")) {
            assertFailsWith<IllegalArgumentException>("budget: '$budget'") { BenchmarkSettings.parse("1", "5", "1", budget, false) }
        }
    }
}
