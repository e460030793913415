// libpng's classic API reports errors by longjmp, which Swift frames cannot survive; every setjmp lives here.
#include "karyo_png.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(KARYO_PNG_RGBA == PNG_COLOR_TYPE_RGB_ALPHA && KARYO_PNG_GREY_ALPHA == PNG_COLOR_TYPE_GRAY_ALPHA &&
                   KARYO_PNG_PALETTE == PNG_COLOR_TYPE_PALETTE && KARYO_PNG_RGB == PNG_COLOR_TYPE_RGB,
               "colour type values must match png.h");

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
    int truncated;
    char *message;
    size_t message_capacity;
} read_state;

static void append_message(char *message, size_t capacity, const char *text) {
    size_t used = strlen(message);
    if (used > 0 && used + 2 < capacity) {
        strncat(message, "; ", capacity - used - 1);
        used += 2;
    }
    if (used + 1 < capacity) strncat(message, text, capacity - used - 1);
}

static void on_error(png_structp png, png_const_charp text) {
    read_state *state = (read_state *)png_get_error_ptr(png);
    if (state != NULL) {
        state->message[0] = 0;
        append_message(state->message, state->message_capacity, text);
    }
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp text) {
    read_state *state = (read_state *)png_get_error_ptr(png);
    if (state != NULL) append_message(state->message, state->message_capacity, text);
}

static void read_bytes(png_structp png, png_bytep into, png_size_t count) {
    read_state *state = (read_state *)png_get_io_ptr(png);
    if (count > state->size - state->position) {
        state->truncated = 1;
        png_error(png, "the data ends before the PNG stream does");
    }
    memcpy(into, state->data + state->position, count);
    state->position += count;
}

karyo_png_status karyo_png_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels,
                                  karyo_png_image *out) {
    memset(out, 0, sizeof(*out));
    read_state state = {data, size, 0, 0, out->message, sizeof(out->message)};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
    if (png == NULL) return KARYO_PNG_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        return KARYO_PNG_NO_MEMORY;
    }
    // Locals changed after setjmp and read after a longjmp must be volatile.
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        out->pixels = NULL;
        return state.truncated ? KARYO_PNG_TRUNCATED : KARYO_PNG_ERROR;
    }
    png_set_read_fn(png, &state, read_bytes);
    // Our own limits are checked below; lift libpng's so that its message does not pre-empt ours.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    out->width = width;
    out->height = height;
    out->file_color_type = color_type;
    out->file_bit_depth = bit_depth;
    if (width > max_side || height > max_side || (uint64_t)width * (uint64_t)height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        return KARYO_PNG_TOO_LARGE;
    }

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (bit_depth == 16) png_set_swap(png);  // PNG is big-endian; hand out native (little-endian) samples.
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int out_depth = png_get_bit_depth(png, info);
    int channels = png_get_channels(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    size_t total = row_bytes * (size_t)height;
    pixels = (uint8_t *)malloc(total > 0 ? total : 1);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (height > 0 ? height : 1));
    if (pixels == NULL || rows == NULL) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return KARYO_PNG_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);  // Checks the chunks after the image data: a missing IEND is a truncation.

    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    out->bit_depth = out_depth;
    out->channels = channels;
    out->pixels = pixels;
    out->pixels_size = total;
    return KARYO_PNG_OK;
}

void karyo_png_release(karyo_png_image *image) {
    free(image->pixels);
    image->pixels = NULL;
    image->pixels_size = 0;
}

typedef struct {
    karyo_png_buffer *buffer;
    int out_of_memory;
} write_state;

static void on_write_error(png_structp png, png_const_charp text) {
    write_state *state = (write_state *)png_get_error_ptr(png);
    state->buffer->message[0] = 0;
    append_message(state->buffer->message, sizeof(state->buffer->message), text);
    png_longjmp(png, 1);
}

static void on_write_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void write_bytes(png_structp png, png_bytep bytes, png_size_t count) {
    write_state *state = (write_state *)png_get_io_ptr(png);
    karyo_png_buffer *buffer = state->buffer;
    if (buffer->size + count > buffer->capacity) {
        size_t capacity = buffer->capacity > 0 ? buffer->capacity : 65536;
        while (capacity < buffer->size + count) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(buffer->data, capacity);
        if (grown == NULL) {
            state->out_of_memory = 1;
            png_error(png, "out of memory while encoding");
        }
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->size, bytes, count);
    buffer->size += count;
}

static void flush_bytes(png_structp png) { (void)png; }

karyo_png_status karyo_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int bit_depth,
                                  karyo_png_color_type color_type, const uint8_t *palette_rgb, int palette_count,
                                  int compression_level, karyo_png_buffer *out) {
    memset(out, 0, sizeof(*out));
    write_state state = {out, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, on_write_error, on_write_warning);
    if (png == NULL) return KARYO_PNG_NO_MEMORY;
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        return KARYO_PNG_NO_MEMORY;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_write_struct(&png, &info);
        karyo_png_buffer_release(out);
        return state.out_of_memory ? KARYO_PNG_NO_MEMORY : KARYO_PNG_ERROR;
    }
    png_set_write_fn(png, &state, write_bytes, flush_bytes);
    if (compression_level >= 0) png_set_compression_level(png, compression_level);
    png_set_IHDR(png, info, width, height, bit_depth, (int)color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color palette[256];
        int count = palette_count < 256 ? palette_count : 256;
        for (int i = 0; i < count; i++) {
            palette[i].red = palette_rgb[3 * i];
            palette[i].green = palette_rgb[3 * i + 1];
            palette[i].blue = palette_rgb[3 * i + 2];
        }
        png_set_PLTE(png, info, palette, count);
    }
    png_write_info(png, info);
    if (bit_depth == 16) png_set_swap(png);

    int channels = 1;
    if (color_type == PNG_COLOR_TYPE_RGB) channels = 3;
    if (color_type == PNG_COLOR_TYPE_GRAY_ALPHA) channels = 2;
    if (color_type == PNG_COLOR_TYPE_RGB_ALPHA) channels = 4;
    size_t row_bytes = ((size_t)width * (size_t)channels * (size_t)bit_depth + 7) / 8;
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (height > 0 ? height : 1));
    if (rows == NULL) {
        state.out_of_memory = 1;
        png_error(png, "out of memory while encoding");
    }
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * row_bytes);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return KARYO_PNG_OK;
}

void karyo_png_buffer_release(karyo_png_buffer *buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->size = 0;
    buffer->capacity = 0;
}
