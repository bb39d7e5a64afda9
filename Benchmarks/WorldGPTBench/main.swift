// `make bench` entry point: runs each benchmark and prints ours / peer / ratio. Never gates CI.
print("worldgpt-bench: no benchmarks registered yet")
do { try runReflectorBench() } catch { print("reflector bench failed: \(error)") }
