import Ember
import EmberDistributed
import XCTest

/// A world of one (no mpirun): no MPI is initialised and collectives return their input.
final class ProcessGroupTests: XCTestCase {
    /// Ember's ring from 2 MiB per rank, from 8 MiB with more ranks on this machine than
    /// cores (Open MPI's or MPICH's variable), or what EMBER_RING_ALLREDUCE_MIN_BYTES says.
    func testRingThresholdDefault() {
        XCTAssertEqual(ProcessGroup.defaultRingMinBytesPerRank([:], cores: 2), 2 << 20)
        XCTAssertEqual(ProcessGroup.defaultRingMinBytesPerRank(["OMPI_COMM_WORLD_LOCAL_SIZE": "2"], cores: 2), 2 << 20)
        XCTAssertEqual(ProcessGroup.defaultRingMinBytesPerRank(["OMPI_COMM_WORLD_LOCAL_SIZE": "4"], cores: 2), 8 << 20)
        XCTAssertEqual(ProcessGroup.defaultRingMinBytesPerRank(["MPI_LOCALNRANKS": "3"], cores: 2), 8 << 20)
        XCTAssertEqual(ProcessGroup.defaultRingMinBytesPerRank(["MPI_LOCALNRANKS": "4", "EMBER_RING_ALLREDUCE_MIN_BYTES": "0"], cores: 2), 0)
    }

    /// EMBER_SHM_STORES: unset is automatic; a value that is none of the three is an error
    /// naming the variable and the values it takes.
    func testSharedMemoryStoresSetting() throws {
        XCTAssertEqual(try ProcessGroup.sharedMemoryStores(fromEnvironment: [:]), .automatic)
        XCTAssertEqual(try ProcessGroup.sharedMemoryStores(fromEnvironment: ["EMBER_SHM_STORES": "automatic"]), .automatic)
        XCTAssertEqual(try ProcessGroup.sharedMemoryStores(fromEnvironment: ["EMBER_SHM_STORES": "cached"]), .cached)
        XCTAssertEqual(try ProcessGroup.sharedMemoryStores(fromEnvironment: ["EMBER_SHM_STORES": "streaming"]), .streaming)
        XCTAssertThrowsError(try ProcessGroup.sharedMemoryStores(fromEnvironment: ["EMBER_SHM_STORES": "stream"])) {
            XCTAssertEqual("\($0)", "EMBER_SHM_STORES: \"stream\" is not one of automatic, cached, streaming")
        }
    }

    func testWorldOfOneWithoutMPI() throws {
        XCTAssertFalse(ProcessGroup.launchedByMPI(["PATH": "/usr/bin"]))
        XCTAssertTrue(ProcessGroup.launchedByMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        XCTAssertTrue(ProcessGroup.launchedByMPI(["PMI_SIZE": "4"]))
        let g = try ProcessGroup.fromEnvironment()
        XCTAssertEqual([g.rank, g.worldSize, g.localRank], [0, 1, 0])
        XCTAssertFalse(g.usesMPI)
        XCTAssertNil(g.mpiLibraryVersion)
        XCTAssertTrue(try ProcessGroup.fromEnvironment() === g, "one group per process")

        let t = Tensor([1.5, -2, 3])
        for op in [ReduceOp.sum, .mean, .max] {
            try g.allReduce(t, op: op)
            try g.allReduce(t, op: op, order: .fixedTree)
        }
        XCTAssertEqual(t.toArray(), [1.5, -2, 3])
        try g.broadcast(t, from: 0)
        XCTAssertEqual(t.toArray(), [1.5, -2, 3])
        XCTAssertEqual(try g.allGather(t).map { $0.toArray() }, [[1.5, -2, 3]])
        XCTAssertEqual(try g.reduceScatter(Tensor([[1, 2], [3, 4]])).toArray(), [1, 2, 3, 4])
        try g.barrier()
        let w = try g.allReduceAsync(t)
        XCTAssertTrue(w.isCompleted)
        try w.wait()
    }

    func testCollectiveErrors() throws {
        let g = try ProcessGroup.fromEnvironment()
        XCTAssertThrowsError(try g.allReduce(Tensor([1, 2]))) {
            XCTAssertEqual("\($0)", "allReduce: expected a contiguous float32 tensor, got int64 of shape [2]")
        }
        XCTAssertThrowsError(try g.allReduce(Tensor([[1, 2], [3, 4]] as [[Float]]).transposed())) {
            XCTAssertEqual("\($0)", "allReduce: expected a contiguous float32 tensor, got float32 of shape [2, 2] (not contiguous)")
        }
        XCTAssertThrowsError(try g.broadcast(Tensor([1.0]), from: 1)) {
            XCTAssertEqual("\($0)", "broadcast: root rank 1 is not in 0..<1")
        }
        XCTAssertThrowsError(try ProcessGroup.fixedTreeSum([Tensor([1.0]), Tensor([1.0, 2.0])])) {
            XCTAssertEqual("\($0)", "fixedTreeSum: expected float32 tensors of shape [1], got float32 of shape [2]")
        }
    }

    /// The fixed tree: parts 0, 2, … then 1, 3, …, recursively; values chosen so that other
    /// orders round differently.
    func testFixedTreeSumOrder() throws {
        let v: [Float] = [1e8, 1, -1e8, 1, 3, 0.5, 7]
        func tree(_ xs: [Float]) -> Float {
            if xs.count == 1 { return xs[0] }
            let evens = stride(from: 0, to: xs.count, by: 2).map { xs[$0] }
            let odds = stride(from: 1, to: xs.count, by: 2).map { xs[$0] }
            return tree(evens) + tree(odds)
        }
        for n in 1...7 {
            let parts = v.prefix(n).map { Tensor([$0, $0 * 0.1]) }
            let got = try ProcessGroup.fixedTreeSum(parts).toArray()
            XCTAssertEqual(got[0].bitPattern, tree(Array(v.prefix(n))).bitPattern, "\(n) parts")
            XCTAssertEqual(got[1].bitPattern, tree(v.prefix(n).map { $0 * 0.1 }).bitPattern, "\(n) parts")
        }
        // (1e8 + -1e8) + (1 + 1) = 2, where left to right gives 1e8 + 1 = 1e8, … = 1.
        XCTAssertEqual(try ProcessGroup.fixedTreeSum([1e8, 1, -1e8, 1].map { Tensor([$0]) }).item(), 2)
        // Rank-dealt shards: rank r holds shards r, r + N, …; summing per rank then over ranks
        // gives the same bits for N = 1, 2, 4.
        var shards: [Tensor] = []
        for k in 0..<8 {
            let big: Float = k % 3 == 0 ? 1e4 : 0
            let values: [Float] = (0..<5).map { i in Float(k * 5 + i) * 1.37e-3 + big }
            shards.append(Tensor(values))
        }
        let all: [UInt32] = try ProcessGroup.fixedTreeSum(shards).toArray().map { $0.bitPattern }
        for n in [2, 4, 8] {
            var perRank: [Tensor] = []
            for r in 0..<n { perRank.append(try ProcessGroup.fixedTreeSum(stride(from: r, to: 8, by: n).map { shards[$0] })) }
            let bits: [UInt32] = try ProcessGroup.fixedTreeSum(perRank).toArray().map { $0.bitPattern }
            XCTAssertEqual(bits, all, "N = \(n)")
        }
        var chain = shards[0]
        for s in shards.dropFirst() { chain = chain + s }
        let chainBits: [UInt32] = chain.toArray().map { $0.bitPattern }
        XCTAssertNotEqual(chainBits, all, "left-to-right differs, so the test can tell")
    }
}
