package ddnntf.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Metadata of a small made-up export, for tests that need only shapes, normalisation and quantization. */
fun testMetadata(
    height: Int, width: Int, mean: List<Double>, std: List<Double>,
    input: TensorQuantization, output: TensorQuantization, classes: Int,
) = ExportMetadata(
    arch = "resnet20", depth = Depth.of(20), inputShape = listOf(1, height, width, 3), mean = mean, std = std,
    labelNames = (0 until classes).map { it.toString() }, quantize = "int8", input = input, output = output,
    multiplyAccumulates = 1, tfliteAccuracy = 0.9, kerasAccuracy = 0.9, fileBytes = 1, sha256 = null,
)

class PreprocessingTests {

    private fun bytes(values: List<Long>) = ByteArray(values.size) { values[it].toByte() }

    /** The cases Python computed with ddnn_tf's own pipeline and Runner (tests/test_mobile.py writes them). */
    private fun pythonCases(): List<JsonFields> {
        val file = JsonFields.of(Json.parse(testdata("quantization_cases.json").readText()), "quantization_cases")
        return file.list("cases").mapIndexed { i, case -> JsonFields.of(case, "cases[$i]") }
    }

    private fun metadataOf(case: JsonFields): ExportMetadata {
        val normalization = case.obj("normalization")
        return testMetadata(
            case.int("height"), case.int("width"), normalization.doubles("mean"), normalization.doubles("std"),
            TensorQuantization.fromJson(case.obj("input")), TensorQuantization.fromJson(case.obj("output")),
            case.list("raw_output").size,
        )
    }

    @Test
    fun `int8 input equals Python's pipeline + Runner on the same images`() {
        val cases = pythonCases()
        assertTrue("the fixture holds several cases", cases.size >= 2)
        for (case in cases) {
            val encoder = InputEncoder(metadataOf(case))
            val pixels = bytes(case.longs("pixels"))
            assertArrayEquals("int8 input of ${case.string("name")}", bytes(case.longs("expected_input")), encoder.encode(pixels))
        }
    }

    @Test
    fun `dequantised logits and top-1 equal Python's`() {
        for (case in pythonCases()) {
            val decoder = OutputDecoder(metadataOf(case))
            val logits = decoder.logits(bytes(case.longs("raw_output")))
            assertEquals("logits of ${case.string("name")}", case.doubles("expected_logits"), logits.map { it.toDouble() })
            assertEquals("top-1", case.int("expected_top1"), decoder.top1(bytes(case.longs("raw_output"))))
        }
    }

    @Test
    fun `normalisation is (pixel over 255 - mean) over std per channel, in float32`() {
        val meta = testMetadata(1, 2, listOf(0.5, 0.25, 0.0), listOf(0.5, 0.25, 1.0),
            TensorQuantization("float32", 0.0, 0), TensorQuantization("float32", 0.0, 0), 2)
        val pixels = byteArrayOf(0, 255.toByte(), 51, 255.toByte(), 0, 102)
        val normalized = InputEncoder(meta).normalize(pixels)
        val expected = floatArrayOf(-1f, 3f, 0.2f, 1f, -1f, 0.4f)
        assertEquals("normalised", expected.toList(), normalized.toList())
        assertFailsWith<IllegalArgumentException>("has 6 values, got 5") { InputEncoder(meta).normalize(ByteArray(5)) }
    }

    @Test
    fun `float input is passed as little-endian float32, float output read back`() {
        val meta = testMetadata(1, 1, listOf(0.0, 0.0, 0.0), listOf(1.0, 1.0, 1.0),
            TensorQuantization("float32", 0.0, 0), TensorQuantization("float32", 0.0, 0), 3)
        val encoded = InputEncoder(meta).encode(byteArrayOf(0, 255.toByte(), 0))
        assertEquals("4 bytes per value", 12, encoded.size)
        assertEquals(listOf(0f, 1f, 0f), InputEncoder.bytesToFloats(encoded).toList())
        val decoder = OutputDecoder(meta)
        assertEquals(1, decoder.top1(InputEncoder.floatsToBytes(floatArrayOf(0.1f, 2.5f, -3f))))
        assertFailsWith<IllegalStateException>("not int8") { InputEncoder(meta).quantize(FloatArray(3)) }
    }

    @Test
    fun `quantisation clips to -128 to 127 and rounds half to even`() {
        val meta = testMetadata(1, 1, listOf(0.0, 0.0, 0.0), listOf(1.0, 1.0, 1.0),
            TensorQuantization("int8", 0.5, 0), TensorQuantization("int8", 1.0, 0), 2)
        val quantized = InputEncoder(meta).quantize(floatArrayOf(1000f, -1000f, 1.25f, 0.75f, -0.25f))
        assertEquals("2.5 -> 2, 1.5 -> 2, -0.5 -> -0", listOf<Byte>(127, -128, 2, 2, 0), quantized.toList())
    }

    @Test
    fun `argmax takes the first of equal maxima, as np argmax does`() {
        assertEquals(1, OutputDecoder.argmax(floatArrayOf(0f, 3f, 3f, -1f)))
        assertEquals(0, OutputDecoder.argmax(floatArrayOf(-2f)))
    }
}
