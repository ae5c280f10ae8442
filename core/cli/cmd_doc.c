/* cmd_doc.c - `reconciler __doc keys`: what the manual pages are generated from. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

/*
 * The pipeline file's keys in scdoc, from the table that checks the file and
 * prints `validate --help`, so that reconciler.yaml(5) cannot drift from it.
 */
int cmd_doc(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "keys") == 0) {
        config_doc(stdout);
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
    }
    fprintf(stderr, "usage: reconciler %s keys\n", DOC_COMMAND);
    return EXIT_USAGE;
}
