import Testing

@testable import KaryoDetect

@Test func placeholder() { #expect(Bool(true)) }
