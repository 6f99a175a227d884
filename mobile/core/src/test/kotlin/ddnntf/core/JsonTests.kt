package ddnntf.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class JsonTests {
    @Test
    fun `numbers keep integers apart from reals`() {
        assertEquals(listOf(true, false, null, 0L, -12L, 2.0, 0.52, -1.5e-3, 1.0e10), Json.parse("[true,false,null,0,-12,2.0,0.52,-1.5e-3,1E10]"))
        assertEquals("a Long beyond double precision", 9007199254740993L, Json.parse("9007199254740993"))
    }

    @Test
    fun `objects keep key order and nest`() {
        val value = Json.parse("""{"b": 1, "a": {"c": [1, {"d": "e"}]}, "empty": {}, "none": []}""")
        assertEquals("key order", listOf("b", "a", "empty", "none"), (value as Map<*, *>).keys.toList())
        assertEquals(mapOf("c" to listOf(1L, mapOf("d" to "e"))), value["a"])
    }

    @Test
    fun `the writer escapes what it must, keeps nulls and reads back the same`() {
        val value = linkedMapOf(
            "text" to "quote\" backslash\\ newline\n tab\t bell\u0007 <html> & é 😀",
            "numbers" to listOf(0L, -3L, 0.1, 1.0e-5, 123456.789, 2.0),
            "nested" to mapOf("empty" to emptyList<Any>(), "obj" to emptyMap<String, Any>()),
            "null" to null,
        )
        val text = Json.write(value)
        assertTrue("control characters are \\u-escaped: $text", "\\u0007" in text)
        assertTrue("HTML characters are written as they are, as Python does: $text", "<html> & é 😀" in text)
        assertEquals("round trip", value, Json.parse(text))
    }

    @Test
    fun `doubles print as the shortest text that reads back the same`() {
        for (x in listOf(0.1, 0.52, 1.0 / 3, 5e-324, 1.7976931348623157e308, 0.30000000000000004)) {
            assertEquals("round trip of $x", x, Json.parse(Json.write(x)))
        }
        assertEquals("0.52", Json.write(0.52))
        assertEquals("2.0", Json.write(2.0))
    }

    @Test
    fun `pretty printing matches Python's json dumps with indent=2`() {
        val text = Json.write(linkedMapOf("a" to listOf(1L, 2L), "b" to emptyList<Any>(), "c" to mapOf("d" to null)))
        assertEquals("{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": [],\n  \"c\": {\n    \"d\": null\n  }\n}", text)
    }

    @Test
    fun `malformed or lenient-only text is refused with its position`() {
        // Gson's own fromJson and JsonParser would take most of these (they read leniently).
        val bad = mapOf(
            "[1, 2,]" to "line 1 column 8",
            "{\"a\": 1,}" to "Expected name at line 1 column 10",
            "{'a': 1}" to "line 1 column 3",
            "{a: 1}" to "line 1 column 3",
            "[1] // note" to "line 1 column 6",
            "NaN" to "line 1 column 1",
            "{} {}" to "line 1 column 5",
            "" to "End of input",
            "\"abc" to "Unterminated string",
            "1e999" to "forbids NaN and infinities",
            "{\n\"a\": 1,\n\"b\": }" to "line 3 column 6",
        )
        for ((text, message) in bad) {
            assertFailsWith<JsonException>("invalid JSON: ") { Json.parse(text) }
            assertFailsWith<JsonException>(message) { Json.parse(text) }
        }
    }

    @Test
    fun `the writer refuses values JSON cannot hold`() {
        assertFailsWith<IllegalArgumentException>("NaN") { Json.write(Double.NaN) }
        assertFailsWith<IllegalArgumentException>("Infinity") { Json.write(listOf(Double.POSITIVE_INFINITY)) }
    }

    @Test
    fun `typed field access names the bad value's path`() {
        val fields = JsonFields.of(Json.parse("""{"a": "x", "n": 3, "r": 2.5, "z": null, "o": {"k": true}}"""), "report")
        assertEquals(3L, fields.long("n"))
        assertEquals("a whole number read as a number", 3.0, fields.double("n"), 0.0)
        assertEquals(null, fields.doubleOrNull("z"))
        assertFailsWith<JsonException>("report.a must be a number, got the string \"x\"") { fields.double("a") }
        assertFailsWith<JsonException>("report.r must be a whole number") { fields.long("r") }
        assertFailsWith<JsonException>("report.missing is missing") { fields.string("missing") }
        assertFailsWith<JsonException>("report.o.k must be a string") { fields.obj("o").string("k") }
    }
}
