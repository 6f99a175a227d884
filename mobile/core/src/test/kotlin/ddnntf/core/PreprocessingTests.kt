package ddnntf.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test

/** Metadata of a small made-up export, for tests that need only shapes and the output's quantization. */
fun testMetadata(height: Int, width: Int, output: TensorQuantization, classes: Int) = ExportMetadata(
    arch = "resnet20", depth = Depth.of(20), inputShape = listOf(1, height, width, 3),
    labelNames = (0 until classes).map { it.toString() }, quantize = "int8",
    input = TensorQuantization("uint8", 0.0, 0), output = output,
    multiplyAccumulates = 1, tfliteAccuracy = 0.9, kerasAccuracy = 0.9, fileBytes = 1, sha256 = null,
)

class PreprocessingTests {

    private fun bytes(values: List<Long>) = ByteArray(values.size) { values[it].toByte() }

    /** The cases Python computed with ddnn_tf's own Runner (tests/mobile/test_kotlin_core.py writes them). */
    private fun pythonCases(): List<JsonFields> {
        val file = JsonFields.of(Json.parse(testdata("dequantization_cases.json").readText()), "dequantization_cases")
        return file.list("cases").mapIndexed { i, case -> JsonFields.of(case, "cases[$i]") }
    }

    private fun metadataOf(case: JsonFields) =
        testMetadata(1, 1, TensorQuantization.fromJson(case.obj("output")), case.list("raw_output").size)

    @Test
    fun `dequantised logits and top-1 equal Python's`() {
        val cases = pythonCases()
        assertTrue("the fixture holds several cases", cases.size >= 2)
        for (case in cases) {
            val decoder = OutputDecoder(metadataOf(case))
            val logits = decoder.logits(bytes(case.longs("raw_output")))
            assertEquals("logits of ${case.string("name")}", case.doubles("expected_logits"), logits.map { it.toDouble() })
            assertEquals("top-1", case.int("expected_top1"), decoder.top1(bytes(case.longs("raw_output"))))
        }
    }

    @Test
    fun `the input is the image's pixels as they are`() {
        val meta = testMetadata(1, 2, TensorQuantization("int8", 1.0, 0), 2)
        val pixels = byteArrayOf(0, 255.toByte(), 51, 255.toByte(), 0, 102)
        assertSame("no copy, no arithmetic", pixels, InputEncoder(meta).encode(pixels))
        assertEquals(6, InputEncoder(meta).inputBytes)
        assertFailsWith<IllegalArgumentException>("has 6 values, got 5") { InputEncoder(meta).encode(ByteArray(5)) }
    }

    @Test
    fun `float output is read as little-endian float32`() {
        val meta = testMetadata(1, 1, TensorQuantization("float32", 0.0, 0), 3)
        val buffer = java.nio.ByteBuffer.allocate(12).order(java.nio.ByteOrder.LITTLE_ENDIAN)
        floatArrayOf(0.1f, 2.5f, -3f).forEach { buffer.putFloat(it) }
        val decoder = OutputDecoder(meta)
        assertArrayEquals(floatArrayOf(0.1f, 2.5f, -3f), decoder.logits(buffer.array()), 0f)
        assertEquals(1, decoder.top1(buffer.array()))
        assertFailsWith<IllegalArgumentException>("expected 12 output bytes") { decoder.logits(ByteArray(3)) }
    }

    @Test
    fun `argmax takes the first of equal maxima, as np argmax does`() {
        assertEquals(1, OutputDecoder.argmax(floatArrayOf(0f, 3f, 3f, -1f)))
        assertEquals(0, OutputDecoder.argmax(floatArrayOf(-2f)))
    }
}
