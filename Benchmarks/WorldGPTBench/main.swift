// `make bench` entry point: runs each benchmark and prints ours / peer / ratio. Never gates CI.
// `WorldGPTBench [name ...]` runs only the named benchmarks.
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
