package ddnntf.core

import com.google.gson.GsonBuilder
import com.google.gson.ToNumberPolicy
import com.google.gson.stream.JsonReader
import java.io.IOException

/** Malformed JSON text, or a JSON value of the wrong shape for what reads it. */
class JsonException(message: String) : Exception(message)

/**
 * JSON text to Kotlin values and back, with Gson.
 *
 * Values map to Kotlin as: object -> Map<String, Any?> (key order kept),
 * array -> List<Any?>, string -> String, true/false -> Boolean, null -> null,
 * a number without fraction or exponent that fits -> Long, any other number ->
 * Double (Gson's ToNumberPolicy.LONG_OR_DOUBLE). Keeping integers and reals apart
 * lets a file written by Python's json module be written back with the same text
 * types (`50` stays `50`, `2.0` stays `2.0`).
 */
object Json {
    private val gson = GsonBuilder()
        .setObjectToNumberStrategy(ToNumberPolicy.LONG_OR_DOUBLE)
        .serializeNulls()
        .disableHtmlEscaping()
        .setPrettyPrinting()
        .create()

    /** The value of [text], which must be strict JSON (no NaN, comments or trailing commas) and nothing after it. */
    fun parse(text: String): Any? {
        // A JsonReader is strict unless made lenient; Gson's own fromJson and JsonParser make it lenient.
        val reader = JsonReader(text.reader())
        try {
            val value = gson.getAdapter(Any::class.java).read(reader)
            reader.peek() // a strict reader throws here if any text follows the value
            return value
        } catch (error: IOException) {
            // MalformedJsonException or EOFException; the message gives the line, column and path.
            throw JsonException("invalid JSON: ${error.message}")
        }
    }

    /**
     * JSON text of [value] (maps, lists, strings, numbers, booleans, null), indented
     * by two spaces like Python's `json.dumps(indent=2)`. Doubles print as the shortest
     * text that reads back as the same value ("0.52", "1.0E-5"), as Python's do.
     */
    fun write(value: Any?): String = gson.toJson(value)
}

/**
 * Typed access to one decoded JSON object, with errors that say where the
 * bad value is ("results[2].median_ms must be a number, got "fast"").
 */
class JsonFields(val map: Map<String, Any?>, private val where: String) {
    companion object {
        fun of(value: Any?, where: String): JsonFields {
            @Suppress("UNCHECKED_CAST")
            if (value is Map<*, *>) return JsonFields(value as Map<String, Any?>, where)
            throw JsonException("$where must be a JSON object, got ${describe(value)}")
        }

        fun describe(value: Any?): String = when (value) {
            null -> "null"
            is String -> "the string \"${value.take(40)}\""
            is Map<*, *> -> "an object"
            is List<*> -> "an array"
            else -> value.toString()
        }
    }

    private fun path(key: String) = if (where.isEmpty()) key else "$where.$key"

    fun has(key: String) = map.containsKey(key)

    private fun present(key: String): Any? {
        if (!map.containsKey(key)) throw JsonException("${path(key)} is missing")
        return map[key]
    }

    private fun wrong(key: String, what: String, value: Any?): Nothing =
        throw JsonException("${path(key)} must be $what, got ${describe(value)}")

    fun string(key: String): String = present(key) as? String ?: wrong(key, "a string", map[key])

    fun stringOrNull(key: String): String? = when (val v = map[key]) {
        null -> null
        is String -> v
        else -> wrong(key, "a string or null", v)
    }

    fun double(key: String): Double = when (val v = present(key)) {
        is Long -> v.toDouble()
        is Double -> v
        else -> wrong(key, "a number", v)
    }

    fun doubleOrNull(key: String): Double? = when (val v = map[key]) {
        null -> null
        is Long -> v.toDouble()
        is Double -> v
        else -> wrong(key, "a number or null", v)
    }

    fun long(key: String): Long = present(key) as? Long ?: wrong(key, "a whole number", map[key])

    fun longOrNull(key: String): Long? = when (val v = map[key]) {
        null -> null
        is Long -> v
        else -> wrong(key, "a whole number or null", v)
    }

    fun int(key: String): Int {
        val v = long(key)
        if (v < Int.MIN_VALUE || v > Int.MAX_VALUE) wrong(key, "a whole number of int range", v)
        return v.toInt()
    }

    fun obj(key: String): JsonFields = of(present(key), path(key))

    fun list(key: String): List<Any?> = present(key) as? List<Any?> ?: wrong(key, "an array", map[key])

    fun listOrNull(key: String): List<Any?>? = when (val v = map[key]) {
        null -> null
        is List<*> -> v
        else -> wrong(key, "an array or null", v)
    }

    fun doubles(key: String): List<Double> = list(key).mapIndexed { i, v ->
        when (v) {
            is Long -> v.toDouble()
            is Double -> v
            else -> throw JsonException("${path(key)}[$i] must be a number, got ${describe(v)}")
        }
    }

    fun doublesOrNull(key: String): List<Double>? = if (map[key] == null) null else doubles(key)

    fun longs(key: String): List<Long> = list(key).mapIndexed { i, v ->
        v as? Long ?: throw JsonException("${path(key)}[$i] must be a whole number, got ${describe(v)}")
    }

    fun strings(key: String): List<String> = list(key).mapIndexed { i, v ->
        v as? String ?: throw JsonException("${path(key)}[$i] must be a string, got ${describe(v)}")
    }

    /** The entries whose keys are not in [known], to carry fields a newer writer added. */
    fun extras(known: Collection<String>): Map<String, Any?> = map.filterKeys { it !in known }
}
