// The plain-Kotlin core (no Android): statistics, the benchmark JSON schema,
// export metadata, depth selection and input preprocessing. Included in the
// Android build as :core; mobile/core/test.sh compiles and tests it without Gradle.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("org.jetbrains.kotlin.jvm")
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    // What mobile/core/test.sh compiles with, there from Debian's packages (see the Makefile): the same versions.
    implementation("com.google.code.gson:gson:2.10")
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    useJUnit()
    environment("DDNN_TESTDATA", file("../testdata").absolutePath)
}
