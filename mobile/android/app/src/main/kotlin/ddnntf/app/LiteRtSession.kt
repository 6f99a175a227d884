package ddnntf.app

import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * One signature of a `.tflite` in a LiteRT interpreter: on the CPU with
 * XNNPACK and [threads] threads, or on the GPU delegate. Input and output go
 * through direct buffers allocated once, so a timed run is the interpreter
 * call alone.
 */
class LiteRtSession(
    model: ByteBuffer,
    signature: String?,
    threads: Int,
    useGpu: Boolean,
    firstInput: ByteArray?,
) : AutoCloseable {
    private val gpuDelegate: GpuDelegate?
    private val interpreter: Interpreter
    /** The signature run: [signature], or the model's first when none was named; null for a model without any. */
    val signatureKey: String?
    private val inputName: String?
    private val outputName: String?
    private val inputBuffer: ByteBuffer
    private val outputBuffer: ByteBuffer

    init {
        val options = Interpreter.Options().setNumThreads(threads)
        gpuDelegate = if (useGpu) gpuDelegate() else null
        var opened: Interpreter? = null
        try {
            if (gpuDelegate != null) options.addDelegate(gpuDelegate) else options.setUseXNNPACK(true)
            interpreter = Interpreter(model, options)
            opened = interpreter
            val keys = interpreter.signatureKeys
            signatureKey = signature ?: keys.firstOrNull()
            require(signatureKey == null || signatureKey in keys) {
                "the model has no signature $signatureKey; it has ${keys.joinToString()}"
            }
            val input: Tensor
            val output: Tensor
            if (signatureKey != null) {
                inputName = interpreter.getSignatureInputs(signatureKey).first()
                outputName = interpreter.getSignatureOutputs(signatureKey).first()
                input = interpreter.getInputTensorFromSignature(inputName, signatureKey)
                output = interpreter.getOutputTensorFromSignature(outputName, signatureKey)
            } else {
                inputName = null
                outputName = null
                input = interpreter.getInputTensor(0)
                output = interpreter.getOutputTensor(0)
            }
            interpreter.allocateTensors()
            inputBuffer = ByteBuffer.allocateDirect(input.numBytes()).order(ByteOrder.nativeOrder())
            outputBuffer = ByteBuffer.allocateDirect(output.numBytes()).order(ByteOrder.nativeOrder())
            // Without an input (a file without metadata), the zeros of a fresh direct buffer are the input.
            if (firstInput != null) setInput(firstInput)
        } catch (error: Throwable) {
            // A constructor that throws returns nothing to close: free the native interpreter and delegate here.
            opened?.close()
            gpuDelegate?.close()
            throw error
        }
    }

    val inputBytes: Int get() = inputBuffer.capacity()
    val outputBytes: Int get() = outputBuffer.capacity()

    fun setInput(bytes: ByteArray) {
        require(bytes.size == inputBuffer.capacity()) {
            "the model's input tensor holds ${inputBuffer.capacity()} bytes, got ${bytes.size}; does the .json match the .tflite?"
        }
        inputBuffer.clear()
        inputBuffer.put(bytes)
    }

    /** One inference on the current input. */
    fun run() {
        inputBuffer.rewind()
        outputBuffer.rewind()
        if (signatureKey != null) {
            interpreter.runSignature(mapOf(inputName!! to inputBuffer), mapOf(outputName!! to outputBuffer), signatureKey)
        } else {
            interpreter.run(inputBuffer, outputBuffer)
        }
    }

    /** The output tensor's bytes of the last run. */
    fun output(): ByteArray {
        outputBuffer.rewind()
        return ByteArray(outputBuffer.capacity()).also { outputBuffer.get(it) }
    }

    fun infer(input: ByteArray): ByteArray {
        setInput(input)
        run()
        return output()
    }

    override fun close() {
        interpreter.close()
        gpuDelegate?.close()
    }

    companion object {
        /** The signature names of a model, as ddnn_tf.runtime.timing lists them to benchmark each. */
        fun signatureKeys(model: ByteBuffer): List<String> {
            val interpreter = Interpreter(model)
            try {
                return interpreter.signatureKeys.toList()
            } finally {
                interpreter.close()
                model.rewind()
            }
        }

        private fun gpuDelegate(): GpuDelegate {
            val compatibility = CompatibilityList()
            try {
                if (!compatibility.isDelegateSupportedOnThisDevice) {
                    throw UnsupportedOperationException("the LiteRT GPU delegate does not support this device's GPU")
                }
                return GpuDelegate(compatibility.bestOptionsForThisDevice)
            } finally {
                compatibility.close()
            }
        }

        /** A model's bytes in the direct, native-order buffer the interpreter reads. */
        fun modelBuffer(bytes: ByteArray): ByteBuffer =
            ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).apply {
                put(bytes)
                rewind()
            }
    }
}
