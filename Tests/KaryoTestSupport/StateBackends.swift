import GRDB
import KaryoPipeline

extension JobQueue {
    /// The SQLite pool under a queue on the default backend, for tests that reach past the queue's rules.
    public var sqlitePool: DatabasePool { (database as! SQLiteStateDatabase).pool }
}
