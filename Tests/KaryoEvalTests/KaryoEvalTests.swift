import Testing

@testable import KaryoEval

@Test func placeholder() { #expect(Bool(true)) }
