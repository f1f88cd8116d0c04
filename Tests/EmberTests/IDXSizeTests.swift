import XCTest
@testable import Ember

/// IDX sizes are checked arithmetic: a header whose sizes overflow (or exceed what a file can
/// hold) is an error quoting the sizes as written, not a wrapped product.
final class IDXSizeTests: XCTestCase {
    func testOverflowingDimensionsNameTheRealSizes() {
        let huge = IDX.encode(magic: IDX.imagesMagic, dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 4096], payload: [])
        XCTAssertThrowsError(try IDX.parseImages(huge, file: "h.idx")) { error in
            XCTAssertEqual("\(error)", "h.idx: invalid dimensions [4294967295, 4294967295, 4096]: 4294967295 × 4294967295 × 4096 bytes is more than the 1099511627776 an IDX file may hold")
        }
        // No overflow, but past 2^40 bytes.
        let big = IDX.encode(magic: IDX.imagesMagic, dims: [65536, 65536, 257], payload: [])
        XCTAssertThrowsError(try IDX.parseImages(big, file: "b.idx")) { error in
            XCTAssertEqual("\(error)", "b.idx: invalid dimensions [65536, 65536, 257]: 65536 × 65536 × 257 bytes is more than the 1099511627776 an IDX file may hold")
        }
        // Exactly 2^40 is allowed by the size check (and then fails on the payload length).
        let limit = IDX.encode(magic: IDX.imagesMagic, dims: [65536, 65536, 256], payload: [])
        XCTAssertThrowsError(try IDX.parseImages(limit, file: "l.idx")) { error in
            XCTAssertEqual("\(error)", "l.idx: payload is 0 bytes, header announces 1099511627776")
        }
        // Zero rows with images present: invalid, but nothing overflows.
        let zero = IDX.encode(magic: IDX.imagesMagic, dims: [2, 0, 3], payload: [])
        XCTAssertThrowsError(try IDX.parseImages(zero, file: "z.idx")) { error in
            XCTAssertEqual("\(error)", "z.idx: invalid dimensions [2, 0, 3]")
        }
    }
}
