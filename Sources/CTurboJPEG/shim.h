// libjpeg-turbo's TurboJPEG API (Debian: libturbojpeg0-dev): errors come back as return codes, no longjmp.
#include <turbojpeg.h>
