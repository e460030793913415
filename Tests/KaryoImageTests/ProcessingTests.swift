import KaryoImage
import Testing

/// Expected values produced by PyTorch 2.13 (`F.interpolate(..., mode="bilinear", align_corners=False,
/// antialias=False)`) on the 5x4 input below.
private enum TorchGolden {
    static let input = GrayImage(
        width: 5, height: 4,
        pixels: [
            0.0, 0.7, 0.3, 1.0, 0.6, 0.2, 0.9, 0.5, 0.1, 0.8, 0.4, 0.0, 0.7, 0.3, 1.0, 0.6, 0.2, 0.9, 0.5, 0.1,
        ])

    /// `size=(height, width)` results.
    static let sized: [(width: Int, height: Int, pixels: [Float])] = [
        (
            7, 3,
            [
                0.0333333, 0.4333334, 0.6190476, 0.3333333, 0.702381, 0.7571428, 0.6333333, 0.3, 0.3857143,
                0.4928571, 0.6, 0.3142857, 0.5, 0.9, 0.5666667, 0.3380953, 0.3666668, 0.8666667, 0.5809523,
                0.3738095, 0.2499999,
            ]
        ),
        (2, 2, [0.625, 0.5875, 0.2, 0.4375]),
        (
            4, 9,
            [
                0.0875, 0.55, 0.7375, 0.65, 0.1208333, 0.5833333, 0.65625, 0.6604167, 0.2097222, 0.6722222,
                0.4395833, 0.6881945, 0.2909722, 0.7229167, 0.2611111, 0.7236111, 0.31875, 0.50625, 0.35, 0.8125,
                0.3465278, 0.2895834, 0.4388889, 0.9013889, 0.4277778, 0.3402778, 0.5277778, 0.6159722, 0.5166667,
                0.4291666, 0.6166666, 0.2770834, 0.5500001, 0.4625, 0.65, 0.15,
            ]
        ),
        (1, 1, [0.6]),
    ]

    /// `scale_factor=` results.
    static let scaled: [(factor: Double, width: Int, height: Int, pixels: [Float])] = [
        (0.5, 2, 2, [0.45, 0.475, 0.3, 0.6]),
        (0.7, 3, 2, [0.1928572, 0.4857143, 0.7954081, 0.3270408, 0.5188776, 0.2785716]),
        (
            1.5, 7, 6,
            [
                0.0, 0.35, 0.6333333, 0.3666667, 0.65, 0.9333333, 0.6666666, 0.1, 0.45, 0.7333333, 0.4666667,
                0.475, 0.575, 0.675, 0.2333333, 0.4916666, 0.7138888, 0.5694444, 0.3333333, 0.2500001, 0.7166668,
                0.3666667, 0.2583333, 0.2361111, 0.5805556, 0.4666667, 0.3833334, 0.8500001, 0.5, 0.3, 0.2166667,
                0.6833333, 0.6, 0.425, 0.525, 0.6, 0.4, 0.3166667, 0.7833334, 0.7, 0.4333333, 0.1666666,
            ]
        ),
    ]
}

@Suite("Resize and normalization")
struct ProcessingTests {
    @Test("bilinear resize to a size matches PyTorch's F.interpolate(align_corners=False)")
    func resizeToSize() {
        for golden in TorchGolden.sized {
            let out = TorchGolden.input.resized(width: golden.width, height: golden.height)
            #expect(out.width == golden.width && out.height == golden.height)
            for (a, b) in zip(out.pixels, golden.pixels) { #expect(abs(a - b) < 2e-6) }
        }
    }

    @Test("bilinear resize by a factor matches PyTorch's scale_factor semantics")
    func resizeByFactor() {
        for golden in TorchGolden.scaled {
            let out = TorchGolden.input.resized(scale: golden.factor)
            #expect(out.width == golden.width && out.height == golden.height)
            for (a, b) in zip(out.pixels, golden.pixels) { #expect(abs(a - b) < 2e-6) }
        }
    }

    @Test("resizing to the same size returns the same pixels")
    func identity() {
        #expect(
            ReferencePicture.image.resized(width: ReferencePicture.width, height: ReferencePicture.height)
                == ReferencePicture.image)
    }

    @Test("normalization subtracts the mean and divides by the std")
    func normalization() {
        let image = GrayImage(width: 2, height: 2, pixels: [0, 0.5, 1, 0.25])
        #expect(image.normalizedPixels(mean: 0.5, std: 0.25) == [-2, 0, 2, -1])
        #expect(image.normalized(mean: 0.5, std: 0.25).pixels == [-2, 0, 2, -1])
        let stats = GrayImage(width: 2, height: 1, pixels: [0.25, 0.75]).meanAndStandardDeviation
        #expect(stats.mean == 0.5 && stats.std == 0.25)
    }
}
