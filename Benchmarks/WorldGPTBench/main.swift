// `make bench` entry point: runs each benchmark and prints ours / peer / ratio. Never gates CI.
// Arguments select benchmarks by name (e.g. `WorldGPTBench tensor`); none runs them all.
let selectedBenchmarks = Set(CommandLine.arguments.dropFirst())
func benchmarkSelected(_ name: String) -> Bool { selectedBenchmarks.isEmpty || selectedBenchmarks.contains(name) }

if benchmarkSelected("tensor") { runTensorBench() }
