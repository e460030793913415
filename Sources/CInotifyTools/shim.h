#include <sys/inotify.h>
#include <inotifytools/inotifytools.h>

/// The name carried by an inotify event (a flexible array member Swift cannot read); "" when the event has none.
static inline const char *karyo_inotify_event_name(const struct inotify_event *event) {
    return event->len > 0 ? event->name : "";
}
