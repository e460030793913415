import Testing

@testable import KaryoPipeline

@Test func placeholder() { #expect(Bool(true)) }
