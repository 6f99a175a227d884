package ddnntf.core

import java.security.MessageDigest

/**
 * How one tensor stores its values: `int8` with a scale and zero point,
 * `float32` as is, or `uint8` pixels (every file's input, unquantized).
 */
data class TensorQuantization(val dtype: String, val scale: Double, val zeroPoint: Int) {
    val isInt8: Boolean get() = dtype == "int8"

    companion object {
        val DTYPES = setOf("int8", "float32", "uint8")

        fun fromJson(fields: JsonFields): TensorQuantization {
            val dtype = fields.string("dtype")
            if (dtype !in DTYPES) {
                throw JsonException("tensor dtype \"$dtype\" is not supported; expected ${DTYPES.sorted().joinToString(" or ")}")
            }
            val quantization = TensorQuantization(dtype, fields.double("scale"), fields.int("zero_point"))
            if (quantization.isInt8 && !(quantization.scale > 0)) {
                throw JsonException("an int8 tensor needs a positive scale, got ${quantization.scale}")
            }
            return quantization
        }
    }
}

/**
 * The `<name>.json` that `ddnn_tf.export_tflite` writes beside a single-depth
 * `.tflite` (function `metadata` in ddnn_tf/export/writer.py), or one signature's
 * entry in a bundle's `signatures`.
 */
data class ExportMetadata(
    val arch: String?,
    val depth: Depth?,
    /** `[1, height, width, channels]`. */
    val inputShape: List<Int>,
    val labelNames: List<String>,
    val quantize: String?,
    val input: TensorQuantization,
    val output: TensorQuantization,
    val multiplyAccumulates: Long?,
    val tfliteAccuracy: Double?,
    val kerasAccuracy: Double?,
    val fileBytes: Long?,
    val sha256: String?,
) {
    val height: Int get() = inputShape[1]
    val width: Int get() = inputShape[2]
    val channels: Int get() = inputShape[3]
    val pixelsPerImage: Int get() = height * width * channels

    companion object {
        fun fromJson(fields: JsonFields): ExportMetadata {
            val shape = fields.longs("input_shape").map { it.toInt() }
            if (shape.size != 4 || shape[0] != 1 || shape.drop(1).any { it < 1 }) {
                throw JsonException("input_shape must be [1, height, width, channels], got $shape")
            }
            val input = TensorQuantization.fromJson(fields.obj("input"))
            if (input.dtype != "uint8") {
                throw JsonException(
                    "input is ${input.dtype}, not uint8 pixels: the file was exported before ddnn_tf 0.2, whose files " +
                        "take pixels and normalise them inside; export it again",
                )
            }
            val output = TensorQuantization.fromJson(fields.obj("output"))
            if (output.dtype == "uint8") throw JsonException("output is uint8; expected int8 or float32 logits")
            return ExportMetadata(
                arch = fields.stringOrNull("arch"),
                depth = Depth.fromJson(fields.map["depth"], "depth"),
                inputShape = shape,
                labelNames = fields.strings("label_names"),
                quantize = fields.stringOrNull("quantize"),
                input = input,
                output = output,
                multiplyAccumulates = fields.longOrNull("multiply_accumulates"),
                tfliteAccuracy = fields.doubleOrNull("tflite_accuracy"),
                kerasAccuracy = fields.doubleOrNull("keras_accuracy"),
                fileBytes = fields.longOrNull("file_bytes"),
                sha256 = fields.stringOrNull("sha256"),
            )
        }
    }
}

/**
 * The metadata file beside one `.tflite`: a single depth, or a bundle whose
 * `signatures` map `depth_N` to each depth's metadata.
 */
class ExportFileMetadata private constructor(
    private val single: ExportMetadata?,
    val signatures: Map<String, ExportMetadata>,
) {
    val isBundle: Boolean get() = single == null

    /** The metadata of [signature], as `ddnn_tf.runtime.timing` looks it up; null for an unknown bundle signature. */
    fun forSignature(signature: String): ExportMetadata? = single ?: signatures[signature]

    /**
     * Whether this metadata was written for [model], the `.tflite`'s bytes: every sha256 it names is
     * theirs (`ddnn_tf.runtime.read_metadata`). An export renames its files into place one at a time, so a
     * killed one can leave a new `.tflite` beside an old `.json`, whose output scale and zero point would
     * decode the wrong logits. Metadata that names no sha256 is taken as it is.
     */
    fun describes(model: ByteArray): Boolean {
        val named = (listOfNotNull(single) + signatures.values).mapNotNull { it.sha256 }
        if (named.isEmpty()) return true
        val digest = MessageDigest.getInstance("SHA-256").digest(model).joinToString("") { "%02x".format(it) }
        return named.all { it == digest }
    }

    companion object {
        fun parse(text: String): ExportFileMetadata = fromJson(Json.parse(text))

        fun fromJson(value: Any?): ExportFileMetadata {
            val fields = JsonFields.of(value, "metadata")
            if (fields.has("signatures")) {
                val signatures = fields.obj("signatures")
                val parsed = LinkedHashMap<String, ExportMetadata>()
                for ((name, entry) in signatures.map) {
                    parsed[name] = read(entry, "signatures.$name")
                }
                if (parsed.isEmpty()) throw JsonException("metadata.signatures is empty")
                return ExportFileMetadata(null, parsed)
            }
            return ExportFileMetadata(read(value, "metadata"), emptyMap())
        }

        /** Errors read "<where>: <field> is missing", naming the field from the metadata's own top. */
        private fun read(value: Any?, where: String): ExportMetadata {
            val fields = JsonFields(JsonFields.of(value, where).map, "")
            try {
                return ExportMetadata.fromJson(fields)
            } catch (error: JsonException) {
                throw JsonException("$where: ${error.message}")
            }
        }
    }
}
