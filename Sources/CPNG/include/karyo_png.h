#ifndef KARYO_PNG_H
#define KARYO_PNG_H

#include <stddef.h>
#include <stdint.h>

/// Outcome of a decode or encode call.
typedef enum {
    KARYO_PNG_OK = 0,
    /// libpng reported an error (bad CRC, bad zlib stream, bad header); the message says which.
    KARYO_PNG_ERROR = 1,
    /// The data ended before the PNG stream did.
    KARYO_PNG_TRUNCATED = 2,
    /// The header's width or height exceeds the caller's limits; nothing was allocated for pixels.
    KARYO_PNG_TOO_LARGE = 3,
    /// Memory for the pixels could not be allocated.
    KARYO_PNG_NO_MEMORY = 4,
} karyo_png_status;

/// PNG colour types (the IHDR values of PNG_COLOR_TYPE_*), so that Swift needs no png.h.
typedef enum {
    KARYO_PNG_GREY = 0,
    KARYO_PNG_RGB = 2,
    KARYO_PNG_PALETTE = 3,
    KARYO_PNG_GREY_ALPHA = 4,
    KARYO_PNG_RGBA = 6,
} karyo_png_color_type;

/// A decoded PNG: samples are 8-bit or 16-bit (native byte order), `channels` per pixel, rows packed.
/// Palette images are expanded to RGB, 1/2/4-bit grey is scaled to 8 bits; alpha, when present, is kept.
typedef struct {
    uint32_t width;
    uint32_t height;
    /// Bits per output sample: 8 or 16.
    int bit_depth;
    /// Samples per output pixel: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    int channels;
    /// The file's IHDR colour type (a karyo_png_color_type value) and bit depth.
    int file_color_type;
    int file_bit_depth;
    /// `width * height * channels * bit_depth / 8` bytes, malloc'd; release with karyo_png_release.
    uint8_t *pixels;
    size_t pixels_size;
    /// libpng's error (on failure) or its warnings joined by "; " (on success); NUL-terminated.
    char message[512];
} karyo_png_image;

/// Decodes a complete PNG held in memory. Width and height are checked against the limits
/// (`max_side` per side, `max_pixels` in total) before any pixel memory is allocated.
/// On any status but KARYO_PNG_OK, `out->pixels` is NULL. On KARYO_PNG_TOO_LARGE, width and height are set.
karyo_png_status karyo_png_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels,
                                  karyo_png_image *out);

/// Frees the pixels of a decoded image (safe on a zeroed or failed one).
void karyo_png_release(karyo_png_image *image);

/// A growable output buffer, malloc'd; release with karyo_png_buffer_release.
typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    char message[512];
} karyo_png_buffer;

/// Encodes packed rows as PNG. `color_type` is a karyo_png_color_type; `bit_depth` 8 or 16 (16-bit samples in native byte order). For palette images
/// `palette_rgb` holds `palette_count` RGB triples. `compression_level` is zlib's 0-9 (-1: libpng's default).
karyo_png_status karyo_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int bit_depth,
                                  karyo_png_color_type color_type, const uint8_t *palette_rgb, int palette_count,
                                  int compression_level, karyo_png_buffer *out);

/// Frees an encode buffer (safe on a zeroed one).
void karyo_png_buffer_release(karyo_png_buffer *buffer);

#endif
