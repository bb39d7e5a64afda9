// `make bench` entry point: runs each benchmark and prints ours / peer / ratio. Never gates CI.
// `WorldGPTBench [name ...]` runs only the named benchmarks.
import Tensor

// As `worldgpt` does: idle OpenBLAS workers sleep after ≈ 0.4 ms instead of spinning ≈ 0.1 s (BLAS.limitIdleSpin).
let spin = BLAS.limitIdleSpin()
print("OpenBLAS idle spin: " + (spin.map { "2^\($0) cycles" } ?? "as OPENBLAS_THREAD_TIMEOUT or OpenBLAS's default"))
let benchArguments = Array(CommandLine.arguments.dropFirst())
worldModelBench(arguments: benchArguments)
retrievalBench(arguments: benchArguments)
memoryBench(arguments: benchArguments)
if benchArguments.isEmpty || benchArguments.contains("reflector") {
    do { try runReflectorBench() } catch { print("reflector bench failed: \(error)") }
}
mediaBench(arguments: benchArguments)
if benchArguments.isEmpty || benchArguments.contains("tensor") { runTensorBench() }
formatsBench(arguments: benchArguments)
simWorldBench(arguments: benchArguments)
agentBench(arguments: benchArguments)
