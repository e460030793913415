import Testing

@testable import KaryoWatch

@Test func placeholder() { #expect(Bool(true)) }
