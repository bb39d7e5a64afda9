// A small, bounds-checked DEFLATE decoder (RFC 1951) for .npz members: every read is checked, output is capped,
// and damaged streams throw instead of reading past their input (ZIPFoundation's decoder does not guard this).

/// Decodes raw DEFLATE data (no zlib/gzip wrapper).
struct Inflater {
    enum Failure: Error, CustomStringConvertible {
        case truncated, invalidBlockType, storedLengthMismatch, invalidCodeLengths, invalidSymbol, distanceTooFar, outputLimit
        var description: String {
            switch self {
            case .truncated: return "deflate stream ends early"
            case .invalidBlockType: return "invalid deflate block type"
            case .storedLengthMismatch: return "stored block length check failed"
            case .invalidCodeLengths: return "invalid Huffman code lengths"
            case .invalidSymbol: return "invalid Huffman symbol"
            case .distanceTooFar: return "back-reference before the start of the output"
            case .outputLimit: return "inflates past its declared size"
            }
        }
    }

    /// A canonical Huffman decoding table (counts per length, symbols sorted by code).
    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []

        init(lengths: ArraySlice<Int>) throws {
            for l in lengths { counts[l] += 1 }
            counts[0] = 0
            var left = 1
            for len in 1..<16 {
                left <<= 1
                left -= counts[len]
                if left < 0 { throw Failure.invalidCodeLengths }  // over-subscribed
            }
            var offsets = [Int](repeating: 0, count: 16)
            for len in 1..<15 { offsets[len + 1] = offsets[len] + counts[len] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (symbol, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[l]] = symbol
                offsets[l] += 1
            }
        }
    }

    private let input: [UInt8]
    private var position = 0
    private var bitBuffer = 0
    private var bitCount = 0
    private(set) var output: [UInt8] = []
    private let limit: Int

    init(_ input: [UInt8], limit: Int) {
        self.input = input
        self.limit = limit
        output.reserveCapacity(min(limit, 1 << 26))
    }

    private mutating func bits(_ n: Int) throws -> Int {
        while bitCount < n {
            guard position < input.count else { throw Failure.truncated }
            bitBuffer |= Int(input[position]) << bitCount
            position += 1
            bitCount += 8
        }
        let v = bitBuffer & ((1 << n) - 1)
        bitBuffer >>= n
        bitCount -= n
        return v
    }

    private mutating func decode(_ h: Huffman) throws -> Int {
        var code = 0, first = 0, index = 0
        for len in 1..<16 {
            code |= try bits(1)
            let count = h.counts[len]
            if code - count < first { return h.symbols[index + (code - first)] }
            index += count
            first += count
            first <<= 1
            code <<= 1
        }
        throw Failure.invalidSymbol
    }

    private mutating func emit(_ byte: UInt8) throws {
        guard output.count < limit else { throw Failure.outputLimit }
        output.append(byte)
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                               4097, 6145, 8193, 12289, 16385, 24577]
    static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    private mutating func codes(_ lengthCode: Huffman, _ distanceCode: Huffman) throws {
        while true {
            let symbol = try decode(lengthCode)
            if symbol < 256 { try emit(UInt8(symbol)); continue }
            if symbol == 256 { return }
            let s = symbol - 257
            guard s < 29 else { throw Failure.invalidSymbol }
            let length = Self.lengthBase[s] + (try bits(Self.lengthExtra[s]))
            let d = try decode(distanceCode)
            guard d < 30 else { throw Failure.invalidSymbol }
            let distance = Self.distanceBase[d] + (try bits(Self.distanceExtra[d]))
            guard distance <= output.count else { throw Failure.distanceTooFar }
            guard output.count + length <= limit else { throw Failure.outputLimit }
            let start = output.count - distance
            for i in 0..<length { output.append(output[start + i]) }
        }
    }

    /// Decodes the whole stream.
    mutating func run() throws {
        var last = 0
        repeat {
            last = try bits(1)
            switch try bits(2) {
            case 0:
                bitBuffer = 0; bitCount = 0  // stored blocks start on a byte boundary
                guard position + 4 <= input.count else { throw Failure.truncated }
                let len = Int(input[position]) | Int(input[position + 1]) << 8
                let nlen = Int(input[position + 2]) | Int(input[position + 3]) << 8
                position += 4
                guard len == (~nlen & 0xFFFF) else { throw Failure.storedLengthMismatch }
                guard position + len <= input.count else { throw Failure.truncated }
                guard output.count + len <= limit else { throw Failure.outputLimit }
                output.append(contentsOf: input[position..<(position + len)])
                position += len
            case 1:
                var lengths = [Int](repeating: 8, count: 288)
                for i in 144..<256 { lengths[i] = 9 }
                for i in 256..<280 { lengths[i] = 7 }
                try codes(try Huffman(lengths: lengths[...]), try Huffman(lengths: [Int](repeating: 5, count: 30)[...]))
            case 2:
                let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
                guard nlen <= 286, ndist <= 30 else { throw Failure.invalidCodeLengths }
                let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                var lengths = [Int](repeating: 0, count: 320)
                for i in 0..<ncode { lengths[order[i]] = try bits(3) }
                let lencode = try Huffman(lengths: lengths[0..<19])
                var index = 0
                while index < nlen + ndist {
                    var symbol = try decode(lencode)
                    if symbol < 16 { lengths[index] = symbol; index += 1; continue }
                    var repeatLength = 0
                    if symbol == 16 {
                        guard index > 0 else { throw Failure.invalidCodeLengths }
                        repeatLength = lengths[index - 1]
                        symbol = 3 + (try bits(2))
                    } else if symbol == 17 {
                        symbol = 3 + (try bits(3))
                    } else {
                        symbol = 11 + (try bits(7))
                    }
                    guard index + symbol <= nlen + ndist else { throw Failure.invalidCodeLengths }
                    for _ in 0..<symbol { lengths[index] = repeatLength; index += 1 }
                }
                guard lengths[256] != 0 else { throw Failure.invalidCodeLengths }
                try codes(try Huffman(lengths: lengths[0..<nlen]), try Huffman(lengths: lengths[nlen..<(nlen + ndist)]))
            default:
                throw Failure.invalidBlockType
            }
        } while last == 0
    }
}
