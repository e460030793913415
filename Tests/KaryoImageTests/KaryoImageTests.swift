import Testing

@testable import KaryoImage

@Test func placeholder() { #expect(Bool(true)) }
