package ddnntf.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder

class TestImagesTests {
    private fun labelBytes(vararg labels: Int): ByteArray {
        val buffer = ByteBuffer.allocate(labels.size * 4).order(ByteOrder.LITTLE_ENDIAN)
        labels.forEach { buffer.putInt(it) }
        return buffer.array()
    }

    private fun description(count: Int, labelNames: List<String> = listOf("a", "b", "c")) = Json.write(
        linkedMapOf(
            "format" to TestImages.FORMAT, "count" to count, "height" to 1, "width" to 2, "channels" to 3,
            "images" to "test_images.bin", "labels" to "test_labels.bin", "label_names" to labelNames,
        ),
    )

    // Two 1x2 RGB images; 6 bytes each.
    private val pixels = ByteArray(12) { (it * 20).toByte() }

    private fun files(labels: ByteArray, images: ByteArray = pixels) = { name: String ->
        when (name) {
            "test_images.bin" -> images
            "test_labels.bin" -> labels
            else -> throw AssertionError("unexpected file $name")
        }
    }

    @Test
    fun `reads pixels and int32 little-endian labels`() {
        val images = TestImages.read(description(2), files(labelBytes(2, 0)))
        assertEquals(2, images.count)
        assertEquals("labels", listOf(2, 0), images.labels.toList())
        assertArrayEquals("second image", pixels.copyOfRange(6, 12), images.image(1))
    }

    @Test
    fun `sizes that do not add up are refused`() {
        assertFailsWith<JsonException>("test_images.bin holds 12 bytes; 3 images of 1x2x3 need 18") {
            TestImages.read(description(3), files(labelBytes(0, 1, 2), pixels))
        }
        assertFailsWith<JsonException>("3 int32 labels need 12") {
            TestImages.read(description(3), files(labelBytes(0, 1), ByteArray(18)))
        }
        assertFailsWith<JsonException>("label 7 is outside the 3 label names") { TestImages.read(description(2), files(labelBytes(7, 0))) }
        assertFailsWith<JsonException>("is not ddnn_tf.test_images/1") { TestImages.read("{\"format\": \"x\"}", files(labelBytes())) }
    }

    @Test
    fun `accuracy and agreement with the host over a fake model`() {
        val meta = testMetadata(1, 2, TensorQuantization("int8", 1.0, 0), 3)
        val images = TestImages.read(description(2), files(labelBytes(2, 0)))
        assertTrue("1x2x3 images fit a 1x2x3 model", images.fits(meta))
        val seen = mutableListOf<ByteArray>()
        // The fake model answers class 2 for every image: right on the first, wrong on the second.
        val result = AccuracyResult.evaluate(images, InputEncoder(meta), OutputDecoder(meta), intArrayOf(2, 1)) { input ->
            seen.add(input)
            byteArrayOf(0, 1, 5)
        }
        assertEquals(1, result.correct)
        assertEquals(0.5, result.accuracy, 0.0)
        assertEquals("agrees with the host on the first image only", 0.5, result.agreement)
        assertEquals(listOf(2, 2), result.predictions.toList())
        assertEquals("the model gets the pixels", pixels.take(6), seen[0].toList())
        assertFailsWith<IllegalArgumentException>("host predicted 1 images") {
            AccuracyResult.evaluate(images, InputEncoder(meta), OutputDecoder(meta), intArrayOf(2)) { byteArrayOf(0, 0, 1) }
        }
    }

    @Test
    fun `host predictions are read per file and signature`() {
        val text = """{"format": "ddnn_tf.test_predictions/1", "files": {"a.tflite": {"serving_default": [1, 2]}}}"""
        val predictions = HostPredictions.parse(text)
        assertEquals(listOf(1, 2), predictions.of("a.tflite", "serving_default")?.toList())
        assertEquals(null, predictions.of("a.tflite", "depth_20"))
        assertFailsWith<JsonException>("files.a.tflite.serving_default[0] must be a whole number") {
            HostPredictions.parse(text.replace("[1, 2]", "[\"x\"]"))
        }
    }
}
