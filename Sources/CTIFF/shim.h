#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <tiffio.h>

/// Non-variadic wrappers: C variadic functions do not import into Swift.
static inline int karyo_tiff_get_u16(TIFF *tif, uint32_t tag, uint16_t *value) {
    return TIFFGetField(tif, tag, value);
}
static inline int karyo_tiff_get_u16_defaulted(TIFF *tif, uint32_t tag, uint16_t *value) {
    return TIFFGetFieldDefaulted(tif, tag, value);
}
static inline int karyo_tiff_get_u32(TIFF *tif, uint32_t tag, uint32_t *value) {
    return TIFFGetField(tif, tag, value);
}
static inline int karyo_tiff_get_u32_defaulted(TIFF *tif, uint32_t tag, uint32_t *value) {
    return TIFFGetFieldDefaulted(tif, tag, value);
}
static inline int karyo_tiff_get_colormap(TIFF *tif, uint16_t **r, uint16_t **g, uint16_t **b) {
    return TIFFGetField(tif, TIFFTAG_COLORMAP, r, g, b);
}
static inline int karyo_tiff_set_u16(TIFF *tif, uint32_t tag, uint16_t value) {
    return TIFFSetField(tif, tag, (int)value);
}
static inline int karyo_tiff_set_u32(TIFF *tif, uint32_t tag, uint32_t value) {
    return TIFFSetField(tif, tag, value);
}
static inline int karyo_tiff_set_colormap(TIFF *tif, uint16_t *r, uint16_t *g, uint16_t *b) {
    return TIFFSetField(tif, TIFFTAG_COLORMAP, r, g, b);
}
static inline int karyo_tiff_set_extrasamples(TIFF *tif, uint16_t count, uint16_t *kinds) {
    return TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, count, kinds);
}

/// libtiff's messages for one handle: the first error and the first few warnings, joined by "; ".
typedef struct {
    char error[512];
    char warnings[1024];
    int error_count;
    int warning_count;
} karyo_tiff_messages;

static inline void karyo_tiff_append(char *buffer, size_t capacity, const char *module, const char *fmt, va_list ap) {
    char line[512];
    int n = 0;
    if (module != NULL && module[0] != 0) n = snprintf(line, sizeof(line), "%s: ", module);
    if (n < 0 || (size_t)n >= sizeof(line)) n = 0;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t used = strlen(buffer);
    if (used > 0 && used + 2 < capacity) {
        strncat(buffer, "; ", capacity - used - 1);
        used += 2;
    }
    if (used + 1 < capacity) strncat(buffer, line, capacity - used - 1);
}

static int karyo_tiff_on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    karyo_tiff_messages *messages = (karyo_tiff_messages *)user;
    if (messages->error_count++ < 3) karyo_tiff_append(messages->error, sizeof(messages->error), module, fmt, ap);
    return 1;  // Handled: nothing goes to stderr.
}

static int karyo_tiff_on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    karyo_tiff_messages *messages = (karyo_tiff_messages *)user;
    // Private tags (microscope vendors write many) are no news to the user.
    if (strstr(fmt, "Unknown field with tag") != NULL) return 1;
    if (messages->warning_count++ < 3) {
        karyo_tiff_append(messages->warnings, sizeof(messages->warnings), module, fmt, ap);
    }
    return 1;
}

/// A read-only TIFF byte stream in memory.
typedef struct {
    const uint8_t *data;
    uint64_t size;
    uint64_t position;
} karyo_tiff_memory;

static tmsize_t karyo_tiff_memory_read(thandle_t handle, void *into, tmsize_t count) {
    karyo_tiff_memory *m = (karyo_tiff_memory *)handle;
    if (count <= 0 || m->position >= m->size) return 0;
    uint64_t available = m->size - m->position;
    uint64_t n = (uint64_t)count < available ? (uint64_t)count : available;
    memcpy(into, m->data + m->position, (size_t)n);
    m->position += n;
    return (tmsize_t)n;
}

static tmsize_t karyo_tiff_memory_write(thandle_t handle, void *from, tmsize_t count) {
    (void)handle;
    (void)from;
    (void)count;
    return -1;
}

static toff_t karyo_tiff_memory_seek(thandle_t handle, toff_t offset, int whence) {
    karyo_tiff_memory *m = (karyo_tiff_memory *)handle;
    uint64_t base = whence == SEEK_SET ? 0 : (whence == SEEK_CUR ? m->position : m->size);
    m->position = base + offset;  // Past the end is allowed, as for files; reads there return 0 bytes.
    return m->position;
}

static int karyo_tiff_memory_close(thandle_t handle) {
    (void)handle;
    return 0;
}

static toff_t karyo_tiff_memory_size(thandle_t handle) { return ((karyo_tiff_memory *)handle)->size; }

static int karyo_tiff_memory_map(thandle_t handle, void **base, toff_t *size) {
    karyo_tiff_memory *m = (karyo_tiff_memory *)handle;
    *base = (void *)m->data;
    *size = m->size;
    return 1;
}

static void karyo_tiff_memory_unmap(thandle_t handle, void *base, toff_t size) {
    (void)handle;
    (void)base;
    (void)size;
}

/// Opens a TIFF held in memory for reading, with libtiff's errors and warnings collected into `messages`
/// instead of printed. `memory` and `messages` must outlive the handle. Returns NULL on failure.
static inline TIFF *karyo_tiff_open_memory(const char *name, karyo_tiff_memory *memory,
                                           karyo_tiff_messages *messages) {
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (options == NULL) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(options, karyo_tiff_on_error, messages);
    TIFFOpenOptionsSetWarningHandlerExtR(options, karyo_tiff_on_warning, messages);
    TIFF *tif = TIFFClientOpenExt(name, "r", (thandle_t)memory, karyo_tiff_memory_read, karyo_tiff_memory_write,
                                  karyo_tiff_memory_seek, karyo_tiff_memory_close, karyo_tiff_memory_size,
                                  karyo_tiff_memory_map, karyo_tiff_memory_unmap, options);
    TIFFOpenOptionsFree(options);
    return tif;
}
