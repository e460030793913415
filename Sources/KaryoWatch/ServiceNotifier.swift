import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Talks to systemd through `$NOTIFY_SOCKET` (the sd_notify protocol, by hand): readiness, status text,
/// watchdog pings and stopping. Every call is a no-op when the service does not run under systemd.
public final class ServiceNotifier: Sendable {
    /// The socket address (a path, or `@name` for the abstract namespace); nil when not under systemd.
    public let socketPath: String?
    /// How often systemd expects `WATCHDOG=1`: half of `$WATCHDOG_USEC`; nil when no watchdog is armed.
    public let watchdogInterval: Duration?
    private let logger: Logger
    private let watchdog = Mutex<WatchdogTimer?>(nil)
    /// Whether the last datagram was dropped on a full queue (warned once per episode).
    private let dropping = Atomic<Bool>(false)

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.logger = logger
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        if let usec = environment["WATCHDOG_USEC"].flatMap({ UInt64($0) }), usec > 0,
            environment["WATCHDOG_PID"].flatMap({ pid_t($0) }).map({ $0 == getpid() }) ?? true
        {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Whether messages go anywhere.
    public var isEnabled: Bool { socketPath != nil }

    /// `READY=1`: start-up is done.
    public func ready(status: String? = nil) {
        send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `STATUS=...`: one line shown by `systemctl status`.
    public func status(_ text: String) {
        send(["STATUS=\(text.replacingOccurrences(of: "\n", with: " "))"])
    }

    /// `WATCHDOG=1`: still alive.
    public func watchdogPing() {
        send(["WATCHDOG=1"])
    }

    /// `STOPPING=1`: shutting down; also ends the watchdog task.
    public func stopping(status: String? = nil) {
        stopWatchdog()
        send(["STOPPING=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// Pings the watchdog every `watchdogInterval` while `isHealthy()` holds; does nothing without a watchdog.
    ///
    /// The pings come from a dispatch timer on its own queue, not from a Swift task: a cooperative thread pool kept
    /// busy by blocking work must not starve the watchdog into a false "stuck" verdict.
    public func startWatchdog(isHealthy: @escaping @Sendable () -> Bool) {
        guard let interval = watchdogInterval, isEnabled else { return }
        let microseconds =
            Int(interval.components.seconds) * 1_000_000 + Int(interval.components.attoseconds / 1_000_000_000_000)
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "karyocount.watchdog"))
        timer.schedule(deadline: .now(), repeating: .microseconds(microseconds))
        timer.setEventHandler { [self] in
            if isHealthy() {
                watchdogPing()
            } else {
                logger.error("not pinging the systemd watchdog: the daemon looks stuck")
            }
        }
        watchdog.withLock { old in
            old?.source.cancel()
            old = WatchdogTimer(source: timer)
        }
        timer.resume()
    }

    /// Ends the watchdog timer.
    public func stopWatchdog() {
        watchdog.withLock { timer in
            timer?.source.cancel()
            timer = nil
        }
    }

    /// Sends newline-separated assignments in one datagram and returns whether it was delivered. Never blocks: a
    /// datagram the service manager's full queue cannot take (it is not reading) is dropped with a warning, so a
    /// stalled reader cannot stop the daemon. Failures are logged, never thrown (systemd may be gone).
    @discardableResult
    public func send(_ assignments: [String]) -> Bool {
        guard let socketPath else { return false }
        let message = assignments.joined(separator: "\n")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            logger.warning("sd_notify: socket() failed: \(String(cString: strerror(errno)))")
            return false
        }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketPath.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            logger.warning("sd_notify: NOTIFY_SOCKET is too long", metadata: ["socket": "\(socketPath)"])
            return false
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            if !abstract { raw[bytes.count] = 0 }
        }
        let length = socklen_t(
            MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                Array(message.utf8).withUnsafeBytes { body in
                    sendto(
                        fd, body.baseAddress, body.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sockaddrPointer, length)
                }
            }
        }
        let code = errno
        guard sent < 0 else {
            if dropping.exchange(false, ordering: .relaxed) { logger.notice("sd_notify: delivered again") }
            return true
        }
        guard code == EAGAIN || code == EWOULDBLOCK else {
            logger.warning(
                "sd_notify failed: \(String(cString: strerror(code)))", metadata: ["socket": "\(socketPath)"])
            return false
        }
        if !dropping.exchange(true, ordering: .relaxed) {
            logger.warning(
                "sd_notify: the service manager's queue is full (it is not reading); notifications are dropped until it reads again",
                metadata: ["socket": "\(socketPath)"])
        }
        return false
    }
}

/// A dispatch timer handed between threads; dispatch sources are thread-safe, Swift just cannot tell.
private struct WatchdogTimer: @unchecked Sendable {
    let source: any DispatchSourceTimer
}
