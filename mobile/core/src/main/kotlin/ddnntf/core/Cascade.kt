package ddnntf.core

import java.security.MessageDigest
import kotlin.math.exp
import kotlin.math.ln

/**
 * How a cascade reads its confidence from one input's logits: the rules of
 * `ddnn_tf.runtime.cascade.exit_scores`, in the same float64 arithmetic (the
 * logits less their maximum, exponentials added in class order), so that the
 * thresholds calibrated in Python mean the same here. Higher is more confident.
 */
enum class ExitRule(val json: String) {
    /** The largest softmax probability. */
    MAX_PROBABILITY("max_probability"),

    /** Minus the softmax distribution's entropy, in nats. */
    ENTROPY("entropy");

    fun score(logits: FloatArray): Double {
        var max = Double.NEGATIVE_INFINITY
        for (value in logits) max = maxOf(max, value.toDouble())
        var total = 0.0
        var weighted = 0.0
        for (value in logits) {
            val z = value.toDouble() - max
            val e = exp(z)
            total += e
            weighted += e * z
        }
        return when (this) {
            MAX_PROBABILITY -> 1.0 / total
            ENTROPY -> weighted / total - ln(total)
        }
    }

    companion object {
        fun of(name: String): ExitRule = entries.firstOrNull { it.json == name }
            ?: throw JsonException("unknown rule \"$name\"; valid choices: ${entries.joinToString(", ") { it.json }}")
    }
}

/** One file of a cascade: what `cascade.json` says of it. The last stage's [threshold] is null: it always answers. */
data class CascadeStage(
    val file: String,
    val sha256: String,
    val depth: Depth?,
    val multiplyAccumulates: Long,
    val threshold: Double?,
)

/** Where an input stopped: the stage (index), its depth, the class, and that stage's logits. */
class CascadeDecision(val stage: Int, val depth: Depth?, val label: Int, val logits: FloatArray)

/**
 * A confidence cascade over a run's exported depths, read from the
 * `cascade.json` that `python -m ddnn_tf.cascade` writes: run the stages in
 * order and stop at the first whose exit score is at or above its threshold.
 *
 *     val cascade = Cascade.parse(File(dir, "cascade.json").readText())
 *     cascade.checkFile(stage.file, bytes)            // for each stage's file, before running it
 *     val decision = cascade.decide { stage -> interpreters[stage].logits(input) }
 *
 * [decide] asks for a stage's logits only when the input reaches it, so an
 * input that exits early runs only the files it needs.
 */
class Cascade(val rule: ExitRule, val stages: List<CascadeStage>) {
    init {
        if (stages.isEmpty()) throw JsonException("cascade.stages is empty")
        stages.forEachIndexed { i, stage ->
            val last = i == stages.size - 1
            if (last != (stage.threshold == null)) {
                throw JsonException(
                    "cascade.stages[$i].threshold must be " + if (last) "null (the last stage always answers)" else "a number",
                )
            }
        }
    }

    fun decide(logitsOf: (stage: Int) -> FloatArray): CascadeDecision {
        for ((i, stage) in stages.withIndex()) {
            val logits = logitsOf(i)
            val threshold = stage.threshold
            if (threshold == null || rule.score(logits) >= threshold) {
                return CascadeDecision(i, stage.depth, argmax(logits), logits)
            }
        }
        throw IllegalStateException("the last stage always answers")
    }

    /**
     * Throws unless [bytes] are the file [name] the cascade was calibrated on: thresholds fitted to one
     * file's scores mean nothing for another's.
     */
    fun checkFile(name: String, bytes: ByteArray) {
        val stage = stages.firstOrNull { it.file == name } ?: throw JsonException("the cascade has no stage $name")
        val digest = MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
        if (digest != stage.sha256) {
            throw JsonException("cascade.json was calibrated for another $name (its sha256 differs): calibrate again")
        }
    }

    companion object {
        const val SCHEMA = "ddnn_tf.cascade/1"

        fun parse(text: String): Cascade {
            val fields = JsonFields.of(Json.parse(text), "cascade")
            val schema = fields.stringOrNull("schema")
            if (schema != SCHEMA) throw JsonException("not a $SCHEMA file (its schema is ${JsonFields.describe(schema)})")
            val stages = fields.list("stages").mapIndexed { i, item ->
                val stage = JsonFields.of(item, "cascade.stages[$i]")
                CascadeStage(
                    file = stage.string("file"),
                    sha256 = stage.string("sha256"),
                    depth = Depth.fromJson(stage.map["depth"], "cascade.stages[$i].depth"),
                    multiplyAccumulates = stage.long("multiply_accumulates"),
                    threshold = stage.doubleOrNull("threshold"),
                )
            }
            return Cascade(ExitRule.of(fields.string("rule")), stages)
        }

        private fun argmax(logits: FloatArray): Int {
            var best = 0
            for (i in logits.indices) if (logits[i] > logits[best]) best = i
            return best
        }
    }
}
