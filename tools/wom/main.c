/* main.c - the wom program: the tool is wom_cli_main (cli.c), in a library
 * that the CLI fuzzer links too. */
#include "cli.h"

int main(int argc, char **argv)
{
    return wom_cli_main(argc, argv);
}
