// `worldgpt-pg`: the PostgreSQL backend of the episode store as a process of its own (the only binary that links
// postgres-nio). `worldgpt --db postgresql://…` starts `worldgpt-pg store` and talks to it over two pipes;
// `listen` follows the "step offloaded" notifications; `bench` times offload against SQLite. docs/scale.md.
import ArgumentParser
import Foundation
import Logging
import Memory
import MemoryPostgres

@main
struct WorldGPTPostgres: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worldgpt-pg",
        abstract: "The PostgreSQL backend of the WorldGPT episode store (started by `worldgpt --db postgresql://…`).",
        subcommands: [Store.self, Listen.self, Bench.self])

    /// `worldgpt-pg store`: serves one store on stdin/stdout (StoreWire.swift); the URL comes in the first frame.
    struct Store: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve one episode store to the parent process over stdin/stdout (the pipe protocol of docs/scale.md).")

        func run() throws {
            // End with the parent: a killed `worldgpt` must not leave this process finishing a batch behind its back
            // (the server rolls back the open transaction when the connection drops).
            let parent = getppid()
            Thread.detachNewThread {
                while getppid() == parent { usleep(50_000) }
                _exit(0)
            }
            // The protocol owns the original stdout; anything printed by accident goes to stderr instead.
            let protocolOut = dup(1)
            guard protocolOut >= 0, dup2(2, 1) >= 0 else { throw ValidationError("cannot set up the pipes: \(String(cString: strerror(errno)))") }
            do {
                try StoreServer.serve(input: 0, output: protocolOut) { url, dim, readOnly in
                    try PostgresEpisodeStore(url: url, dim: dim, readOnly: readOnly)
                }
            } catch let error as StoreError {
                // The parent is gone (its pipe broke): nothing to answer; an open transaction was rolled back.
                FileHandle.standardError.write(Data("worldgpt-pg: \(error)\n".utf8))
                throw ExitCode(3)
            }
        }
    }

    /// `worldgpt-pg listen URL`: one line per committed offload batch (`FIRST_ID LAST_ID COUNT`), from LISTEN.
    struct Listen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one line `FIRST_ID LAST_ID COUNT` per offload batch committed to the store (LISTEN worldgpt_steps).")
        @Argument(help: "postgresql://USER@HOST:PORT/DATABASE (the password from PGPASSWORD when not in the URL).")
        var url: String
        @Option(name: .long, help: "Stop after this many notifications (0 = never).")
        var count = 0
        @Option(name: .long, help: "Stop after this many seconds (0 = never).")
        var timeout: Double = 0

        func run() throws {
            let n = try PostgresEpisodeStore.listen(url: url, count: count, timeout: timeout) { payload in
                FileHandle.standardOutput.write(Data((payload + "\n").utf8))
            }
            FileHandle.standardError.write(Data("worldgpt-pg listen: \(n) notification(s)\n".utf8))
        }
    }

    /// `worldgpt-pg bench`: offload throughput, PostgreSQL beside SQLite, the same steps and batches in one run.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Offload synthetic steps to a PostgreSQL database and to an SQLite file; print steps/s and the ratio.")
        @Argument(help: "postgresql://… of an empty database (the bench creates the store).")
        var url: String
        @Option(name: .long, help: "The SQLite file to compare with (created; must not exist).")
        var sqlite: String
        @Option(name: .long, help: "Steps to offload to each store.")
        var steps = 20_000
        @Option(name: .long, help: "Steps per transaction (the runtime's working memory offloads 256).")
        var batch = 256
        @Option(name: .long, help: "Embedding dimension.")
        var dim = 64
        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() throws {
            guard !FileManager.default.fileExists(atPath: sqlite) else { throw ValidationError("\(sqlite) exists; give a new file") }
            let pg: any EpisodeRepository = try PostgresEpisodeStore(url: url, dim: dim, readOnly: false)
            let lite: any EpisodeRepository = try EpisodeStore(url: URL(fileURLWithPath: sqlite), dim: dim)
            func time(_ store: any EpisodeRepository, episode: String) throws -> Double {
                let start = Date()
                var next = 0
                while next < steps {
                    let n = min(batch, steps - next)
                    try store.append((next..<(next + n)).map { SyntheticSteps.step(episode: episode, index: $0, dim: dim) })
                    next += n
                }
                return Date().timeIntervalSince(start)
            }
            // Interleaved halves, so a change in the machine's load falls on both stores alike.
            var tPG = 0.0, tLite = 0.0
            for half in 0..<2 {
                tLite += try time(lite, episode: "bench-\(half)")
                tPG += try time(pg, episode: "bench-\(half)")
            }
            let total = Double(2 * steps)
            let report = BenchReport(steps: 2 * steps, batch: batch, dim: dim, sqliteStepsPerSecond: total / tLite,
                                     postgresStepsPerSecond: total / tPG, ratio: (total / tPG) / (total / tLite))
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(String(format: "offload %d steps (dim %d, %d per transaction): SQLite %.0f steps/s, PostgreSQL %.0f steps/s, ratio pg/sqlite %.2f",
                             report.steps, dim, batch, report.sqliteStepsPerSecond, report.postgresStepsPerSecond, report.ratio))
            }
        }
    }
}

struct BenchReport: Codable {
    var steps: Int, batch: Int, dim: Int
    var sqliteStepsPerSecond: Double, postgresStepsPerSecond: Double, ratio: Double
}
