import Foundation

/// An error reading an archive (zip, tar, tar.gz), naming the file and the problem.
public struct ArchiveError: Error, CustomStringConvertible, Equatable {
    /// The archive.
    public let file: String
    /// What is wrong with it.
    public let message: String
    /// `file: message`.
    public var description: String { "\(file): \(message)" }
}

/// Sequential reader of an archive through libarchive: entries in archive order, each read
/// at most to a cap the caller gives, so a lying header or a zip bomb cannot make it allocate
/// without bound.
final class ArchiveReader {
    struct Entry {
        let name: String
        /// The size the header declares, nil when it declares none.
        let declaredSize: Int?
        let isFile: Bool
    }

    private let handle: OpaquePointer
    private let file: String
    private let memory: [UInt8]?  // kept alive while libarchive reads from it

    /// `options`: libarchive read options, e.g. "zip:ignorecrc32".
    init(contentsOf url: URL, options: String? = nil) throws {
        file = url.path
        memory = nil
        let (h, message) = Kernels.archiveOpen(path: url.path, options: options)
        guard let h else { throw ArchiveError(file: url.path, message: message) }
        handle = h
    }

    /// Reads from bytes in memory; `name` is what errors call it.
    init(bytes: [UInt8], name: String, options: String? = nil) throws {
        file = name
        let copy = bytes
        memory = copy
        let (h, message) = copy.withUnsafeBytes { Kernels.archiveOpen(memory: $0, options: options) }
        guard let h else { throw ArchiveError(file: name, message: message) }
        handle = h
    }

    deinit { Kernels.archiveClose(handle) }

    /// The next entry's header, or nil at the end of the archive.
    func next() throws -> Entry? {
        switch Kernels.archiveNext(handle) {
        case .success(nil): return nil
        case .success(let (name, size, isFile)?):
            return Entry(name: name, declaredSize: size >= 0 ? size : nil, isFile: isFile)
        case .failure(let f): throw ArchiveError(file: file, message: f.message)
        }
    }

    /// Reads into `buffer` from the current entry: the bytes read, fewer at its end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        switch Kernels.archiveRead(handle, into: buffer) {
        case .success(let n): return n
        case .failure(let f): throw ArchiveError(file: file, message: f.message)
        }
    }

    /// The whole current entry, refused (without reading past the cap) when it holds more
    /// than `maxBytes`.
    func readEntry(_ entry: Entry, maxBytes: Int) throws -> [UInt8] {
        if let size = entry.declaredSize, size > maxBytes {
            throw ArchiveError(file: file, message: "entry \(entry.name) declares \(size) bytes, more than the \(maxBytes) allowed")
        }
        var out = [UInt8](repeating: 0, count: min(entry.declaredSize ?? 65536, maxBytes) + 1)
        var used = 0
        while true {
            if used == out.count {
                if out.count > maxBytes {
                    throw ArchiveError(file: file, message: "entry \(entry.name) holds more than the \(maxBytes) bytes allowed")
                }
                out.append(contentsOf: repeatElement(0, count: min(out.count, maxBytes + 1 - out.count)))
            }
            let n = try out.withUnsafeMutableBytes { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0[used...])) }
            if n == 0 { break }
            used += n
        }
        if used > maxBytes {
            throw ArchiveError(file: file, message: "entry \(entry.name) holds more than the \(maxBytes) bytes allowed")
        }
        if let size = entry.declaredSize, size != used {
            throw ArchiveError(file: file, message: "entry \(entry.name) declares \(size) bytes but holds \(used)")
        }
        out.removeSubrange(used...)
        return out
    }
}
