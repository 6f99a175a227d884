package ddnntf.core

/**
 * An image's pixels as a model's input, and the bytes of its output tensor as logits.
 *
 * Every file `ddnn_tf.export_tflite` writes takes uint8 pixels in [0, 255] and
 * normalises them inside itself, so an image's bytes in height-width-channel
 * order are its input as they are: no mean, no std, no quantization here.
 * Only the output is dequantised, as `ddnn_tf.runtime.Runner` does:
 * `(q - zero_point) * scale` in float32 (tests/mobile/test_kotlin_core.py checks both agree).
 */
class InputEncoder(private val metadata: ExportMetadata) {
    /** Bytes of the input tensor: one per pixel value. */
    val inputBytes: Int get() = metadata.pixelsPerImage

    /** The input tensor's bytes for uint8 pixels in height-width-channel order: the pixels themselves. */
    fun encode(pixels: ByteArray): ByteArray {
        require(pixels.size == inputBytes) {
            "an image of ${metadata.height}x${metadata.width}x${metadata.channels} has $inputBytes values, got ${pixels.size}"
        }
        return pixels
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
        return if (metadata.output.isInt8) dequantize(output) else bytesToFloats(output)
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

        /** Little-endian float32 values, as the interpreter writes a float output. */
        fun bytesToFloats(bytes: ByteArray): FloatArray {
            require(bytes.size % 4 == 0) { "float32 data needs a multiple of 4 bytes, got ${bytes.size}" }
            val buffer = java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN)
            return FloatArray(bytes.size / 4) { buffer.getFloat() }
        }
    }
}
