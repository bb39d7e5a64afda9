// `worldgpt system`: the machine and the kernel paths this binary uses, so that figures can say where they were taken.
import ArgumentParser
import Foundation
import Retrieval
import Tensor

struct SystemCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system",
        abstract: "Print the CPU, core count, OpenBLAS build and core, and the SIMD level of the vector kernels.",
        discussion: """
            Float results (cosines, ablation tables) can differ in the last digits between CPUs because the \
            kernels differ; benchmark and demo figures quote these lines.
            """)

    func run() throws {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown"
        print("cpu          \(cpu)")
        print("cores        \(ProcessInfo.processInfo.activeProcessorCount)")
        print("openblas     \(BLAS.configuration), \(BLAS.threadCount) thread(s)")
        print("vector simd  \(DotKernel.level) (supported: \(DotKernel.supportedLevel))")
    }
}
