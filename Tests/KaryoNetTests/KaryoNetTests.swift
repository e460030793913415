import Testing

@testable import KaryoNet

@Test func placeholder() { #expect(Bool(true)) }
