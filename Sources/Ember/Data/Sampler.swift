/// The order in which a `DataLoader` visits dataset indices, in place of its own shuffling
/// (PyTorch's `Sampler`): `DataLoader(data, batchSize: 64, sampler: mySampler)`. The loader
/// asks for `indices()` at the start of every epoch.
public protocol Sampler: AnyObject {
    /// Number of indices one pass yields (the loader's batches come from this many samples).
    var count: Int { get }
    /// The indices of the next pass, in order; each is in `0 ..< dataset.count`.
    func indices() -> [Int]
}
