import Foundation
import Testing

@testable import Ember

/// A ustar archive in memory: 512-byte header blocks, octal fields, then the data padded.
func makeTar(_ files: [(String, [UInt8])]) -> [UInt8] {
    var out: [UInt8] = []
    for (name, data) in files {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, at offset: Int) { for (i, b) in s.utf8.enumerated() { header[offset + i] = b } }
        func octal(_ v: Int, width: Int) -> String {
            let digits = String(v, radix: 8)
            return String(repeating: "0", count: width - digits.count) + digits
        }
        put(name, at: 0)
        put("0000644\0", at: 100)
        put("0000000\0", at: 108)
        put("0000000\0", at: 116)
        put(octal(data.count, width: 11) + "\0", at: 124)
        put("00000000000\0", at: 136)
        put("0", at: 156)
        put("ustar\000", at: 257)
        put("        ", at: 148)
        let sum = header.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 6) + "\0 ", at: 148)
        out += header + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }
    return out + [UInt8](repeating: 0, count: 1024)
}

@Suite struct ArchiveTests {
    @Test func readsEntriesInOrder() throws {
        let tar = makeTar([("a/one.bin", [1, 2, 3]), ("a/two.bin", Array(0..<200).map { UInt8($0) })])
        let reader = try ArchiveReader(bytes: tar, name: "mem.tar")
        let first = try #require(try reader.next())
        #expect(first.name == "a/one.bin" && first.declaredSize == 3 && first.isFile)
        #expect(try reader.readEntry(first, maxBytes: 10) == [1, 2, 3])
        let second = try #require(try reader.next())
        #expect(try reader.readEntry(second, maxBytes: 200) == Array(0..<200).map { UInt8($0) })
        #expect(try reader.next() == nil)
    }

    @Test func refusesEntriesOverTheCap() throws {
        let reader = try ArchiveReader(bytes: makeTar([("big", [UInt8](repeating: 7, count: 100))]), name: "mem.tar")
        let entry = try #require(try reader.next())
        #expect(throws: ArchiveError(file: "mem.tar", message: "entry big declares 100 bytes, more than the 99 allowed")) {
            try reader.readEntry(entry, maxBytes: 99)
        }
    }

    @Test func truncatedArchiveNamesTheFile() throws {
        let tar = makeTar([("x", [UInt8](repeating: 1, count: 4000))])
        let reader = try ArchiveReader(bytes: Array(tar.prefix(1500)), name: "cut.tar")
        let entry = try #require(try reader.next())
        let error = #expect(throws: ArchiveError.self) { try reader.readEntry(entry, maxBytes: 1 << 20) }
        #expect(error?.file == "cut.tar")
        #expect(throws: ArchiveError.self) { try ArchiveReader(contentsOf: URL(fileURLWithPath: "/nonexistent/x.tar")) }
    }
}
