/* version.h - the one version string: `--version`, the API's build info, the package. */
#ifndef RC_VERSION_H
#define RC_VERSION_H

#define RC_VERSION "0.1.0"

#endif
