import Foundation
import KaryoTestSupport
import Logging
import Testing

@testable import KaryoWatch

/// A datagram socket bound by the test, standing in for systemd's notify socket.
private final class NotifySocket {
    let fd: Int32
    let address: String

    /// Binds a filesystem socket in `folder`, or an abstract one (`@name`) when `folder` is nil.
    init(in folder: String?) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let name = folder.map { "\($0)/notify.sock" } ?? "@karyo-notify-\(getpid())-\(UUID().uuidString.prefix(8))"
        address = name
        var bytes = Array(name.utf8)
        if folder == nil { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(
            MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (folder == nil ? 0 : 1))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EINVAL) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// The next datagram, or nil after the 5 s timeout.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count < 0 ? nil : String(decoding: buffer[..<count], as: UTF8.self)
    }

    deinit { close(fd) }
}

@Suite("systemd notification")
struct ServiceNotifierTests {
    let logger = Logger(label: "test.notify")

    @Test("a notify socket nobody reads fills up and later notifications are dropped, not waited on (the daemon stops)")
    func unreadSocketNeverBlocks() throws {
        let folder = try TempFolder("notify")
        defer { folder.cleanup() }
        let socket = try NotifySocket(in: folder.path)
        let capture = LogCapture(level: .warning)
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": socket.address], logger: capture.logger)
        // The kernel queues net.unix.max_dgram_qlen datagrams (10, or 512 under systemd) for a reader that does not read.
        let delivered = (0..<5000).map { notifier.send(["STATUS=queue \($0)"]) }
        #expect(delivered.prefix(5).allSatisfy { $0 })
        #expect(delivered.contains(false))
        notifier.stopping()
        #expect(capture.all.contains { $0.contains("queue is full") })
        #expect(socket.receive() == "STATUS=queue 0")
    }

    @Test("READY, STATUS and STOPPING reach a filesystem notify socket as sd_notify datagrams")
    func filesystemSocket() throws {
        let folder = try TempFolder("notify")
        defer { folder.cleanup() }
        let socket = try NotifySocket(in: folder.path)
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": socket.address], logger: logger)
        #expect(notifier.isEnabled)
        notifier.ready(status: "watching 2 roots; queue 0")
        #expect(socket.receive() == "READY=1\nSTATUS=watching 2 roots; queue 0")
        notifier.status("queue 12\nline two")
        #expect(socket.receive() == "STATUS=queue 12 line two")
        notifier.stopping()
        #expect(socket.receive() == "STOPPING=1")
    }

    @Test("an abstract notify socket (an address starting with @) is reached too")
    func abstractSocket() throws {
        let socket = try NotifySocket(in: nil)
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": socket.address], logger: logger)
        notifier.watchdogPing()
        #expect(socket.receive() == "WATCHDOG=1")
    }

    @Test("without NOTIFY_SOCKET every call is a silent no-op")
    func disabled() {
        let notifier = ServiceNotifier(environment: [:], logger: logger)
        #expect(!notifier.isEnabled)
        #expect(notifier.watchdogInterval == nil)
        notifier.ready()
        notifier.status("x")
        notifier.startWatchdog { true }
        notifier.stopping()
    }

    @Test("the watchdog pings at half of WATCHDOG_USEC and only for our own pid")
    func watchdog() async throws {
        let folder = try TempFolder("notify")
        defer { folder.cleanup() }
        let socket = try NotifySocket(in: folder.path)
        let other = ServiceNotifier(
            environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"],
            logger: logger)
        #expect(other.watchdogInterval == nil)
        let notifier = ServiceNotifier(
            environment: [
                "NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "\(getpid())",
            ], logger: logger)
        #expect(notifier.watchdogInterval == .milliseconds(100))
        notifier.startWatchdog { true }
        #expect(socket.receive() == "WATCHDOG=1")
        #expect(socket.receive() == "WATCHDOG=1")
        notifier.stopping()
        // Drain pings sent before the stop, then the STOPPING message must arrive and nothing after it.
        var last = socket.receive()
        while last == "WATCHDOG=1" { last = socket.receive() }
        #expect(last == "STOPPING=1")
    }
}
