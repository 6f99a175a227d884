package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class MetadataTests {
    @Test
    fun `a single-depth export's json`() {
        val file = ExportFileMetadata.parse(testdata("resnet32_depth20_int8.json").readText())
        assertFalse("a single file is not a bundle", file.isBundle)
        val meta = file.forSignature("serving_default")!!
        assertEquals(Depth.of(20), meta.depth)
        assertEquals(listOf(1, 32, 32, 3), meta.inputShape)
        assertEquals((0..9).map { it.toString() }, meta.labelNames)
        assertEquals("pixels in", TensorQuantization("uint8", 0.0, 0), meta.input)
        assertEquals(TensorQuantization("int8", 0.14984071254730225, 13), meta.output)
        assertEquals(40551040L, meta.multiplyAccumulates)
        assertEquals(0.09, meta.tfliteAccuracy)
    }

    @Test
    fun `a bundle's signatures each carry their depth's metadata`() {
        val file = ExportFileMetadata.parse(testdata("resnet32_bundle_int8.json").readText())
        assertTrue("a bundle", file.isBundle)
        assertEquals(listOf("depth_20", "depth_32"), file.signatures.keys.toList())
        assertEquals(Depth.of(32), file.forSignature("depth_32")!!.depth)
        assertTrue(
            "the deeper signature costs more",
            file.forSignature("depth_20")!!.multiplyAccumulates!! < file.forSignature("depth_32")!!.multiplyAccumulates!!,
        )
        assertEquals("unknown signature", null, file.forSignature("serving_default"))
    }

    @Test
    fun `metadata describes only the file whose sha256 it names`() {
        val model = "a .tflite's bytes".toByteArray()
        val ownDigest = java.security.MessageDigest.getInstance("SHA-256").digest(model)
            .joinToString("") { "%02x".format(it) }
        val single = testdata("resnet32_depth20_int8.json").readText()
        val bundle = testdata("resnet32_bundle_int8.json").readText()
        for (text in listOf(single, bundle)) {
            val named = Regex("\"sha256\": \"[0-9a-f]{64}\"")
            assertTrue("the sample names a sha256", named.containsMatchIn(text))
            assertFalse("an old .json beside a new .tflite", ExportFileMetadata.parse(text).describes(model))
            assertTrue(ExportFileMetadata.parse(text.replace(named, "\"sha256\": \"$ownDigest\"")).describes(model))
        }
        val unnamed = single.replace(Regex("\"sha256\": \"[0-9a-f]{64}\",?"), "")
        assertTrue("no sha256: taken as it is", ExportFileMetadata.parse(unnamed).describes(model))
    }

    @Test
    fun `float output needs no scale`() {
        val text = testdata("resnet32_depth20_int8.json").readText()
            .replace(Regex("\"output\": \\{[^}]*\\}"), "\"output\": {\"dtype\": \"float32\", \"scale\": 0.0, \"zero_point\": 0}")
        val meta = ExportFileMetadata.parse(text).forSignature("serving_default")!!
        assertEquals(TensorQuantization("float32", 0.0, 0), meta.output)
    }

    @Test
    fun `bad files are refused with the field named`() {
        val good = Json.parse(testdata("resnet32_depth20_int8.json").readText()) as Map<*, *>
        fun with(key: String, value: Any?): String =
            Json.write(LinkedHashMap(good.mapKeys { it.key as String }).apply { put(key, value) })
        assertFailsWith<JsonException>("input_shape must be [1, height, width, channels]") {
            ExportFileMetadata.parse(with("input_shape", listOf(32L, 32L, 3L)))
        }
        assertFailsWith<JsonException>("tensor dtype \"int16\" is not supported") {
            ExportFileMetadata.parse(with("output", mapOf("dtype" to "int16", "scale" to 1.0, "zero_point" to 0L)))
        }
        assertFailsWith<JsonException>("input is int8, not uint8 pixels: the file was exported before ddnn_tf 0.2") {
            ExportFileMetadata.parse(with("input", mapOf("dtype" to "int8", "scale" to 0.01, "zero_point" to 0L)))
        }
        assertFailsWith<JsonException>("output is uint8; expected int8 or float32 logits") {
            ExportFileMetadata.parse(with("output", mapOf("dtype" to "uint8", "scale" to 0.0, "zero_point" to 0L)))
        }
        assertFailsWith<JsonException>("positive scale") {
            ExportFileMetadata.parse(with("output", mapOf("dtype" to "int8", "scale" to 0.0, "zero_point" to 0L)))
        }
        assertFailsWith<JsonException>("metadata: label_names is missing") {
            ExportFileMetadata.parse(Json.write(good.filterKeys { it != "label_names" }))
        }
        assertFailsWith<JsonException>("signatures.depth_20: input_shape is missing") {
            ExportFileMetadata.parse("""{"signatures": {"depth_20": {}}}""")
        }
    }
}
