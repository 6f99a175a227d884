package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Test

class CascadeTests {
    private val fixture = JsonFields.of(Json.parse(testdata("cascade_cases.json").readText()), "fixture")
    private val cascade = Cascade.parse(Json.write(fixture.map["cascade"]))

    private fun logitsOf(case: JsonFields): List<FloatArray> = case.list("logits").map { stage ->
        (stage as List<*>).map { (it as Number).toFloat() }.toFloatArray()
    }

    @Test
    fun `the calibrated cascade stops where Python's does, with Python's label`() {
        val cases = fixture.list("cases")
        for ((i, item) in cases.withIndex()) {
            val case = JsonFields.of(item, "cases[$i]")
            val logits = logitsOf(case)
            val asked = mutableListOf<Int>()
            val decision = cascade.decide { stage -> asked.add(stage); logits[stage] }
            assertEquals(case.string("name"), case.long("expected_stage").toInt(), decision.stage)
            assertEquals(case.string("name"), case.long("expected_label").toInt(), decision.label)
            assertEquals("only the stages it reached ran", (0..decision.stage).toList(), asked)
            assertEquals(cascade.stages[decision.stage].depth, decision.depth)
        }
    }

    @Test
    fun `each rule's exit score is Python's to the last bits`() {
        for ((i, item) in fixture.list("cases").withIndex()) {
            val case = JsonFields.of(item, "cases[$i]")
            val expected = case.obj("expected_scores")
            for (rule in ExitRule.entries) {
                val scores = logitsOf(case).map { rule.score(it) }
                expected.doubles(rule.json).zip(scores).forEach { (python, kotlin) ->
                    assertEquals("${case.string("name")} ${rule.json}", python, kotlin, 1e-13 * maxOf(1.0, Math.abs(python)))
                }
            }
        }
    }

    @Test
    fun `a score equal to the threshold exits`() {
        val even = Cascade(ExitRule.MAX_PROBABILITY, listOf(cascade.stages[0].copy(threshold = 0.5), cascade.stages[1]))
        val decision = even.decide { stage -> if (stage == 0) floatArrayOf(1f, 1f) else floatArrayOf(0f, 9f) }
        assertEquals("two equal logits score exactly 0.5", 0, decision.stage)
    }

    @Test
    fun `a file other than the one calibrated on is refused`() {
        val stage = cascade.stages[0]
        assertFailsWith<JsonException>("cascade.json was calibrated for another ${stage.file} (its sha256 differs)") {
            cascade.checkFile(stage.file, "other bytes".toByteArray())
        }
        assertFailsWith<JsonException>("the cascade has no stage other.tflite") {
            cascade.checkFile("other.tflite", ByteArray(0))
        }
    }

    @Test
    fun `a bad cascade json is refused with the field named`() {
        val text = Json.write(fixture.map["cascade"])
        assertFailsWith<JsonException>("unknown rule \"margin\"; valid choices: max_probability, entropy") {
            Cascade.parse(text.replace("\"max_probability\"", "\"margin\""))
        }
        assertFailsWith<JsonException>("not a ddnn_tf.cascade/1 file") {
            Cascade.parse(text.replace("ddnn_tf.cascade/1", "ddnn_tf.cascade/2"))
        }
        val stages = cascade.stages
        assertFailsWith<JsonException>("cascade.stages[1].threshold must be null (the last stage always answers)") {
            Cascade(cascade.rule, listOf(stages[0], stages[1].copy(threshold = 0.5)))
        }
        assertFailsWith<JsonException>("cascade.stages[0].threshold must be a number") {
            Cascade(cascade.rule, listOf(stages[0].copy(threshold = null), stages[1]))
        }
    }
}
