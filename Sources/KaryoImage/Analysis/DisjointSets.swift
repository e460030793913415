/// Union-find over dense `Int32` ids (path halving), shared by component labelling and the watershed.
package struct DisjointSets {
    private var parent: [Int32] = []

    package init() {}

    /// How many ids have been made.
    package var count: Int { parent.count }

    /// A new singleton set; its id is the previous `count`.
    package mutating func makeSet() -> Int32 {
        let id = Int32(parent.count)
        parent.append(id)
        return id
    }

    /// The root of `id`'s set.
    package mutating func find(_ id: Int32) -> Int32 {
        var i = id
        while parent[Int(i)] != i {
            parent[Int(i)] = parent[Int(parent[Int(i)])]
            i = parent[Int(i)]
        }
        return i
    }

    /// Makes `root` the parent of the root `child`.
    package mutating func attach(_ child: Int32, to root: Int32) {
        parent[Int(child)] = root
    }
}
