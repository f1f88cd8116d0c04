import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why fetching a file failed.
public enum DownloadError: Error, CustomStringConvertible, Equatable {
    /// The server answered with a status other than 200.
    case httpStatus(url: String, status: Int)
    /// The body ended before `Content-Length` bytes arrived.
    case incomplete(url: String, expected: Int, got: Int)
    /// The bytes arrived but their MD5 is not the published one.
    case checksumMismatch(url: String, expected: String, got: String)
    /// The connection failed (DNS, refused, reset, timeout): the system's message.
    case transport(url: String, message: String)
    /// No mirror produced the file; one error per mirror tried, in order.
    case allMirrorsFailed(file: String, attempts: [DownloadError])

    /// The URL and what went wrong.
    public var description: String {
        switch self {
        case .httpStatus(let url, let status): return "\(url): HTTP status \(status)"
        case .incomplete(let url, let expected, let got): return "\(url): body cut short (\(got) of \(expected) bytes)"
        case .checksumMismatch(let url, let expected, let got): return "\(url): MD5 \(got) does not match the published \(expected)"
        case .transport(let url, let message): return "\(url): \(message)"
        case .allMirrorsFailed(let file, let attempts):
            return "Error downloading \(file): every mirror failed:\n" + attempts.map { "  - \($0)" }.joined(separator: "\n")
        }
    }
}

/// Hex MD5 of bytes.
func md5Hex(_ bytes: [UInt8]) -> String {
    bytes.withUnsafeBytes { Kernels.md5($0) }.map { String(format: "%02x", $0) }.joined()
}

/// Fetches files over HTTP(S) with URLSession, checks them and writes them atomically.
enum Downloader {
    /// Tries `mirrors` in order for `file`: prints torchvision's lines, shows a progress bar,
    /// checks the MD5 and writes `directory/file` through a temporary file that is renamed
    /// only when complete and correct (and removed otherwise).
    static func fetch(file: String, md5: String, mirrors: [String], into directory: String,
                      timeout: TimeInterval = 60, progress: Bool = true) throws {
        var attempts: [DownloadError] = []
        for mirror in mirrors {
            let url = mirror + file
            print("Downloading \(url)")
            fflush(Kernels.standardOutput)   // the bar goes to stderr: keep the two in order when piped
            do {
                let bytes = try get(url, timeout: timeout, progress: progress)
                let got = md5Hex(bytes)
                guard got == md5 else { throw DownloadError.checksumMismatch(url: url, expected: md5, got: got) }
                try writeAtomically(bytes, to: directory + "/" + file)
                return
            } catch let e as DownloadError {
                print("Failed to download (trying next):\n\(e)\n")
                fflush(Kernels.standardOutput)
                attempts.append(e)
            }
        }
        throw DownloadError.allMirrorsFailed(file: file, attempts: attempts)
    }

    /// Writes to `path.tmp-<pid>` in the same directory, then renames (atomic on POSIX).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: tmp))
            guard rename(tmp, path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path,
                    NSLocalizedDescriptionKey: String(cString: strerror(errno))])
            }
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// The body of `url` (status 200 only, complete), with a progress bar on stderr.
    static func get(_ url: String, timeout: TimeInterval, progress: Bool) throws -> [UInt8] {
        guard let u = URL(string: url) else { throw DownloadError.transport(url: url, message: "invalid URL") }
        let delegate = FetchDelegate(progress: progress)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout * 10
        let session = URLSession(configuration: config, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: u).resume()
        delegate.done.wait()
        delegate.bar?.finish()
        if delegate.status != 200 && delegate.status != 0 {
            throw DownloadError.httpStatus(url: url, status: delegate.status)
        }
        if let error = delegate.error {
            throw DownloadError.transport(url: url, message: error.localizedDescription)
        }
        if delegate.expected >= 0 && delegate.data.count != delegate.expected {
            throw DownloadError.incomplete(url: url, expected: delegate.expected, got: delegate.data.count)
        }
        return delegate.data
    }
}

/// Collects one response. URLSession calls it on its own serial queue; `done` hands the
/// result to the waiting thread.
private final class FetchDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    var data: [UInt8] = []
    var status = 0
    var expected = -1
    var error: Error?
    var bar: ProgressBar?
    let progress: Bool
    let done = DispatchSemaphore(value: 0)

    init(progress: Bool) { self.progress = progress }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        expected = Int(response.expectedContentLength)
        if status == 200 {
            if expected > 0 { data.reserveCapacity(expected) }
            if progress { bar = ProgressBar(total: expected > 0 ? expected : nil, unit: "B", unitScale: true) }
            completionHandler(.allow)
        } else {
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive chunk: Data) {
        data.append(contentsOf: chunk)
        bar?.update(chunk.count)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        self.error = error
        done.signal()
    }
}
