package ddnntf.core

import org.hamcrest.CoreMatchers.containsString
import org.hamcrest.MatcherAssert.assertThat
import org.junit.Assert.assertThrows
import java.io.File

/** The checked-in sample files: `mobile/testdata`, found from the working directory or `DDNN_TESTDATA`. */
fun testdata(name: String): File {
    val candidates = listOfNotNull(
        System.getenv("DDNN_TESTDATA")?.let { File(it) },
        File("mobile/testdata"), File("../testdata"), File("testdata"),
    )
    val dir = candidates.firstOrNull { File(it, name).isFile }
        ?: throw AssertionError("testdata file $name not found; run from the repository root or set DDNN_TESTDATA")
    return File(dir, name)
}

/** Runs [block], which must throw a [T] whose message contains [messagePart]. */
inline fun <reified T : Throwable> assertFailsWith(messagePart: String, noinline block: () -> Unit) {
    assertThat(assertThrows(T::class.java, block).message, containsString(messagePart))
}
