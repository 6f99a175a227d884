package ddnntf.core

/**
 * Turns RGB pixels into the bytes of a model's input tensor, and the bytes of
 * its output tensor into logits, with the float32 arithmetic of the host:
 *
 *  - normalise as `ddnn_tf.data.pipeline`: `(pixel / 255 - mean) / std`, in float32;
 *  - quantise as `ddnn_tf.runtime.Runner`: `clip(round(x / scale + zero_point), -128, 127)`,
 *    in float32, rounding half to even as `np.round`;
 *  - dequantise as `Runner`: `(q - zero_point) * scale`, in float32.
 *
 * The same image gives the same int8 values here and in Python
 * (tests/test_mobile.py checks it).
 */
class InputEncoder(private val metadata: ExportMetadata) {
    private val mean = FloatArray(metadata.channels) { metadata.mean[it].toFloat() }
    private val std = FloatArray(metadata.channels) { metadata.std[it].toFloat() }
    private val scale = metadata.input.scale.toFloat()
    private val zeroPoint = metadata.input.zeroPoint.toFloat()

    /** Bytes of the input tensor: one per value for int8, four (little-endian float32) for float32. */
    val inputBytes: Int get() = metadata.pixelsPerImage * if (metadata.input.isInt8) 1 else 4

    /** `(pixel / 255 - mean) / std` per channel, for uint8 pixels in height-width-channel order. */
    fun normalize(pixels: ByteArray): FloatArray {
        require(pixels.size == metadata.pixelsPerImage) {
            "an image of ${metadata.height}x${metadata.width}x${metadata.channels} has ${metadata.pixelsPerImage} values, got ${pixels.size}"
        }
        val channels = metadata.channels
        return FloatArray(pixels.size) { i ->
            val pixel = (pixels[i].toInt() and 0xFF).toFloat()
            val channel = i % channels
            (pixel / 255f - mean[channel]) / std[channel]
        }
    }

    /** int8 values of normalised floats: `clip(round(x / scale + zero_point), -128, 127)`. */
    fun quantize(normalized: FloatArray): ByteArray {
        check(metadata.input.isInt8) { "the model's input is ${metadata.input.dtype}, not int8" }
        return ByteArray(normalized.size) { i ->
            // kotlin.math.round rounds half to even, as np.round does.
            kotlin.math.round(normalized[i] / scale + zeroPoint).coerceIn(-128f, 127f).toInt().toByte()
        }
    }

    /** The input tensor's bytes for uint8 pixels, in the order the interpreter takes them. */
    fun encode(pixels: ByteArray): ByteArray = encodeNormalized(normalize(pixels))

    /** The input tensor's bytes for an already normalised image (the host benchmark times a zero image). */
    fun encodeNormalized(normalized: FloatArray): ByteArray =
        if (metadata.input.isInt8) quantize(normalized) else floatsToBytes(normalized)

    companion object {
        fun floatsToBytes(values: FloatArray): ByteArray {
            val buffer = java.nio.ByteBuffer.allocate(values.size * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            for (v in values) buffer.putFloat(v)
            return buffer.array()
        }

        fun bytesToFloats(bytes: ByteArray): FloatArray {
            require(bytes.size % 4 == 0) { "float32 data needs a multiple of 4 bytes, got ${bytes.size}" }
            val buffer = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            return FloatArray(bytes.size / 4) { buffer.getFloat() }
        }
    }
}

/** Logits and the top-1 class from the bytes of a model's output tensor. */
class OutputDecoder(private val metadata: ExportMetadata) {
    private val scale = metadata.output.scale.toFloat()
    private val zeroPoint = metadata.output.zeroPoint.toFloat()

    val classes: Int get() = metadata.labelNames.size

    /** Bytes of the output tensor of one image. */
    val outputBytes: Int get() = classes * if (metadata.output.isInt8) 1 else 4

    fun logits(output: ByteArray): FloatArray {
        require(output.size == outputBytes) { "expected $outputBytes output bytes for $classes classes, got ${output.size}" }
        return if (metadata.output.isInt8) dequantize(output) else InputEncoder.bytesToFloats(output)
    }

    /** `(q - zero_point) * scale` in float32. */
    fun dequantize(quantized: ByteArray): FloatArray =
        FloatArray(quantized.size) { i -> (quantized[i].toFloat() - zeroPoint) * scale }

    fun top1(output: ByteArray): Int = argmax(logits(output))

    companion object {
        /** Index of the largest value, the first one on ties, as `np.argmax`. */
        fun argmax(values: FloatArray): Int {
            require(values.isNotEmpty()) { "argmax of no values" }
            var best = 0
            for (i in 1 until values.size) if (values[i] > values[best]) best = i
            return best
        }
    }
}
